-- hosts: xen
-- lab: load
-- Ten real PVH guests created at once and destroyed at once, by luxen and by
-- xl in the same boot. Each round checks that every guest really booted (its
-- marker on the console) and that xenstore and `xl list` are as before; the
-- times and luxen/xl ratios are printed as TIMING lines.
--
-- Under the lab's emulation a guest now and then triple-faults early in boot
-- (in Linux's PIT calibration, `in $0x42`; xl's guests too): Xen reports it as
-- a reboot. xl create's monitoring daemon restarts such a guest, so luxen's
-- rounds run with its supervisor, which does the same; each round's TIMING
-- line says how many guests had to be restarted.
local xen = require("xen")
local task = require("task")
local time = require("time")
local luxen = require("luxen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local helpers = require("helpers")

local N = 10
local BOOT = 400 -- ten guests boot together on the lab's two emulated cpus (about 100 s)

-- each guest pinned to one of the lab's two CPUs, half to each (a vCPU
-- that moves between them may triple-fault under the lab's emulation:
-- helpers.LAB_CPUS)
local function cfg_text(name)
  local n = tonumber(name:match("(%d+)$") or "0")
  return string.format('name = "%s"\ntype = "pvh"\nkernel = "/guest/vmlinuz"\nramdisk = "/guest/initrd.gz"\n' ..
    'extra = "console=hvc0 luxen_action=stay"\nmemory = 96\nvcpus = 1\ncpus = "%d"\n', name, n % 2)
end

-- parallel(cmds [, tolerate]) runs the shell commands at once and returns
-- the seconds until the last has exited; it raises with the output of any
-- that failed, unless tolerate(i, output) settles that one
local function parallel(cmds, tolerate)
  local script = {}
  for i, c in ipairs(cmds) do
    local out = luxen.state_dir .. "/tmp/par-" .. i
    script[#script + 1] = string.format("( %s > %s.out 2>&1; echo $? > %s.rc ) &", c, out, out)
  end
  script[#script + 1] = "wait"
  local t0 = time.monotonic()
  helpers.sh(table.concat(script, "\n"), BOOT)
  local took = time.monotonic() - t0
  for i, c in ipairs(cmds) do
    local out = luxen.state_dir .. "/tmp/par-" .. i
    local rc = helpers.sh("cat " .. out .. ".rc"):gsub("%s+", "")
    if rc ~= "0" then
      local text = helpers.sh("cat " .. out .. ".out")
      if not (tolerate and tolerate(i, text)) then error(string.format("%q exited %s:\n%s", c, rc, text), 2) end
    end
  end
  return took
end

local function names(prefix)
  local out = {}
  for i = 1, N do out[i] = string.format("%s%02d", prefix, i) end
  return out
end

local function wait_all_booted(list, t0)
  for _, name in ipairs(list) do
    -- no "it exists" check first: a guest being restarted after a triple
    -- fault (by xl's daemon or luxen's supervisor) has no domain for a moment;
    -- its marker on the console is what proves it booted
    local ok, err = pcall(helpers.wait_console, name, "LUXEN%-GUEST%-UP action=stay", BOOT)
    if not ok then
      -- what Xen says of every guest, for the guest that did not boot
      error(tostring(err) .. "\n" .. helpers.sh("xl list -v; xl dmesg | grep -v ' save: \\| restore: ' | tail -60"), 0)
    end
  end
  return time.monotonic() - t0
end

local function wait_all_gone(list, t0)
  for _, name in ipairs(list) do helpers.wait_name_gone(name, BOOT) end
  return time.monotonic() - t0
end

-- guests Xen saw triple-fault since the last call (the log is read and cleared)
local function triple_faults()
  local n = 0
  for _ in helpers.sh("xl dmesg -c"):gmatch("Triple fault") do n = n + 1 end
  return n
end

-- xl's own leftovers, seen in CI: a guest whose triple fault xl's daemon was
-- handling (a restart: destroy, then create again) while the round's `xl
-- destroy` ran came back as a new domain that the destroy cut short, and
-- xl's interrupted create went on writing that domain's nodes after it was
-- gone. They are xl's, not luxen's: each is printed as a NOTE and cleared
-- (the nodes of a dead domain removed, a live one destroyed with xl) so the
-- next round starts from the same tree. luxen's rounds get no such allowance,
-- and anything else the xl round leaves still fails it.
local function clear_xl_leftovers(before)
  local xs = require("xenstore")
  local doms = {}
  for p in pairs(helpers.snapshot()) do
    local d = before[p] == nil and (p:match("^/local/domain/(%d+)") or p:match("^/libxl/(%d+)"))
    if d then doms[tonumber(d)] = true end
  end
  for d in pairs(doms) do
    local name = xs.read("/local/domain/" .. d .. "/name") or "?"
    local vm = xs.read("/local/domain/" .. d .. "/vm")
    if name:match("^xl%-") then
      if xen.info(d) then
        print(string.format("NOTE xl left domain %d (%s) running after its destroy; destroyed with xl", d, name))
        helpers.sh("xl destroy " .. d)
        helpers.wait_until(function() return not xen.info(d) end, 60, "xl's leftover domain " .. d .. " gone")
      end
      if xs.exists("/local/domain/" .. d) or xs.exists("/libxl/" .. d) then
        print(string.format("NOTE xl left the xenstore nodes of dead domain %d (%s); removed", d, name))
        xs.rm("/local/domain/" .. d)
        xs.rm("/libxl/" .. d)
        if vm and vm:match("^/vm/") then xs.rm(vm) end
      end
    end
  end
end

-- one round with a command-line tool: N "TOOL create" at once, all booted,
-- N "TOOL destroy" at once, all gone
local function cli_round(tool, prefix)
  local list = names(prefix)
  local creates, destroys = {}, {}
  for i, name in ipairs(list) do
    creates[i] = tool .. " create " .. helpers.file(name .. ".cfg", cfg_text(name))
    destroys[i] = tool .. " destroy " .. name
  end
  local t0 = time.monotonic()
  local create = parallel(creates)
  local booted = wait_all_booted(list, t0)
  local t1 = time.monotonic()
  -- xl's own race, seen in CI: `xl destroy` of a guest its daemon is
  -- restarting (a triple fault) finds the old domain gone under it and
  -- fails, and the daemon brings the guest back. Printed as a NOTE; the
  -- guest is destroyed until it stays gone, outside the timing. luxen's
  -- destroy wins over its own restart (lifecycle_spec) and gets no such help.
  local function settle(i, text)
    if tool ~= "xl" then return false end
    print(string.format("NOTE xl destroy %s lost a race with xl's restart of it: %s", list[i], (text:gsub("\n", " "))))
    local gone_for = 0
    for _ = 1, 120 do
      if domain.find(list[i]) then
        gone_for = 0
        helpers.sh("xl destroy " .. list[i] .. " >/dev/null 2>&1 || true")
      else
        gone_for = gone_for + 1
        if gone_for >= 3 then return true end
      end
      task.sleep(1)
    end
    return false
  end
  local destroy = parallel(destroys, settle)
  local gone = wait_all_gone(list, t1)
  return { create = create, booted = booted, destroy = destroy, gone = gone }
end

-- one round inside this Lua state: N tasks call lifecycle.create, then N
-- tasks call lifecycle.destroy (luxen's own way of doing many at once)
local function task_round(prefix)
  local list = names(prefix)
  local function all(fn)
    local tasks = {}
    local t0 = time.monotonic()
    for i, name in ipairs(list) do tasks[i] = task.spawn(function() return fn(name) end) end
    for i, t in ipairs(tasks) do
      local ok, res, err = t:join()
      assert.truthy(ok, tostring(res))
      assert.truthy(res, list[i] .. ": " .. tostring(err))
    end
    return time.monotonic() - t0
  end
  local t0 = time.monotonic()
  local create = all(function(name)
    return lifecycle.create(assert(require("config").parse_xl(cfg_text(name), name .. ".cfg")))
  end)
  local booted = wait_all_booted(list, t0)
  local t1 = time.monotonic()
  local destroy = all(function(name) return lifecycle.destroy(name) end)
  local gone = wait_all_gone(list, t1)
  return { create = create, booted = booted, destroy = destroy, gone = gone }
end

-- the first create on a host makes long-lived parents (/vm, /libxl, mtwatch),
-- and luxen's decompressed-kernel cache (the host's, in its state directory)
-- is filled once (issue 5 reports the cold figure): all before anything is
-- timed or compared
assert(lifecycle.create({ name = "warmup", memory = 16 }, { paused = true }))
assert(lifecycle.destroy("warmup"))
assert.ok(xen.inspect_kernel("/guest/vmlinuz", luxen.state_dir .. "/cache"))
helpers.sh("luxen create --no-supervisor -p " .. helpers.file("warm-cli.cfg", cfg_text("warm-cli")) .. " && luxen destroy warm-cli")
helpers.wait_name_gone("warm-cli")

describe("ten guests at once", function()
  it("luxen and xl each create ten at once, see them boot, and destroy them at once", function()
    local rounds = {}
    for _, r in ipairs({ { "luxen", "lx" }, { "xl", "xl" }, { "luxen-tasks", "lt" } }) do
      local tool = r[1]
      -- luxen's restarts come from a supervisor: the command line's for the
      -- command-line round, this state's own for the in-process one
      local stop
      if tool == "luxen" then
        stop = helpers.cli_supervisor("supervise.log")
      elseif tool == "luxen-tasks" then
        local sup = assert(supervisor.start())
        stop = function() task.cancel(sup); supervisor.release() end
      end
      task.sleep(1)
      local before_tree, before_xl = helpers.snapshot(), helpers.xl_names()
      triple_faults()
      local ok, res = pcall(function()
        return tool == "luxen-tasks" and task_round(r[2] .. "-") or cli_round(tool, r[2] .. "-")
      end)
      local faults = triple_faults()
      if not ok then
        -- leave no guests behind for the specs that follow
        for _, name in ipairs(names(r[2] .. "-")) do
          if domain.find(name) then
            if tool == "xl" then helpers.sh("xl destroy " .. name) else lifecycle.destroy(name) end
          end
        end
        if stop then stop() end
        error(res, 0)
      end
      res.tool, res.faults = tool, faults
      rounds[#rounds + 1] = res
      task.sleep(1)
      if tool == "xl" then clear_xl_leftovers(before_tree) end
      -- compared while the round's supervisor still runs (its marker is in both)
      local tree_ok, tree_err = pcall(helpers.assert_tree_unchanged, before_tree, "xenstore after the " .. tool .. " round")
      local xl_now = helpers.xl_names()
      if stop then stop() end
      if not tree_ok then error(tree_err, 0) end
      assert.equal(before_xl, xl_now, "xl list after the " .. tool .. " round")
    end
    local xl = rounds[2]
    for _, r in ipairs(rounds) do
      print(string.format("TIMING %d-at-once %-11s create %6.2fs (%.2fx xl)  all booted %6.2fs  destroy %6.2fs (%.2fx xl)  all gone %6.2fs  restarted after a triple fault: %d",
        N, r.tool, r.create, r.create / xl.create, r.booted, r.destroy, r.destroy / xl.destroy, r.gone, r.faults))
    end
  end, { timeout = 3000 })
end)
