-- hosts: xen
-- Real Linux PVH guests on real Xen: the lab's kernel and a busybox initrd
-- whose /init prints a marker and then does what luxen_action= says.
local xen = require("xen")
local task = require("task")
local time = require("time")
local domain = require("domain")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local helpers = require("helpers")

local BOOT = 180 -- seconds: a guest boots in ~10 s under emulation; leave room

local proc = require("proc")
local sh, console, wait_console = helpers.sh, helpers.console, helpers.wait_console
local xl_names, wait_name_gone = helpers.xl_names, helpers.wait_name_gone

local function guest(name, action, extra)
  local cfg = { name = name, type = "pvh", kernel = "/guest/vmlinuz", ramdisk = "/guest/initrd.gz",
    extra = "console=hvc0 luxen_action=" .. action, memory = 128, vcpus = 1, cpus = helpers.LAB_CPUS }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

local sup_task = assert(supervisor.start())
-- the first create on a host makes long-lived parents (/vm, /libxl, mtwatch):
-- make them before any tree is compared
assert(lifecycle.create({ name = "warmup", memory = 16 }, { paused = true }))
assert(lifecycle.destroy("warmup"))
local before_tree, before_xl

describe("a PVH guest", function()
  before_each(function()
    task.sleep(0.2)
    before_tree = helpers.snapshot()
    before_xl = xl_names()
  end)
  after_each(function()
    helpers.assert_tree_unchanged(before_tree, "xenstore after the spec")
    assert.equal(before_xl, xl_names(), "xl list after the spec")
  end)

  it("boots to its marker and powers off through control/shutdown", function()
    local id = assert.ok(lifecycle.create(guest("g-stay", "stay")))
    wait_console("g-stay", "LUXEN%-GUEST%-UP action=stay")
    -- luxen console attaches through xenconsoled's pty; Ctrl-] detaches
    local att = assert.ok(proc.run("(sleep 6; printf '\\035') | luxen console g-stay", { timeout = 60 }))
    assert.equal(0, att.code, att.stderr)
    assert.matches("LUXEN%-GUEST%-TICK %d+", att.stdout, "the console showed the guest's output")
    assert.ok(lifecycle.shutdown("g-stay", { wait = true, timeout = 120 }))
    wait_console("g-stay", "LUXEN%-GUEST%-POWEROFF", 30)
    wait_name_gone("g-stay")
    assert.is_nil(xen.info(id))
    -- what the guest printed is in its luxen log too
    local f = assert(io.open(require("log").path("g-stay")))
    local text = f:read("*a")
    f:close()
    assert.matches("console: LUXEN%-GUEST%-UP action=stay", text)
  end, { timeout = 400 })

  it("that reboots itself is restarted by on_reboot=restart: same name, new domid", function()
    -- it reboots at every boot: the second reboot is a loop (restart_limit=1) and ends it
    local id = assert.ok(lifecycle.create(guest("g-reboot", "reboot", { on_reboot = "restart", restart_limit = 1 })))
    wait_console("g-reboot", "LUXEN%-GUEST%-UP action=reboot")
    local newid = assert.ok(domain.wait_name("g-reboot", BOOT, id))
    assert.truthy(newid ~= id)
    -- the restarted guest boots and reboots itself again; that second reboot
    -- within the window is a loop, and the domain's log tells both stories
    wait_name_gone("g-reboot", BOOT)
    local f = assert(io.open(require("log").path("g-reboot")))
    local text = f:read("*a")
    f:close()
    assert.matches("shut down: reboot; action restart", text)
    assert.matches("domid " .. newid .. "%) shut down: reboot; action destroy %(reboot loop", text)
  end, { timeout = 600 })

  for _, action in ipairs({ "destroy", "restart", "preserve" }) do
    it("that crashes follows on_crash=" .. action, function()
      local name = "g-crash-" .. action
      -- Noticed in the lab: the guest's sysrq crash sometimes ends in a triple
      -- fault, which Xen reports as reason reboot ("Triple fault - invoking HVM
      -- shutdown action 1"); on_reboot is pinned to the same action so either
      -- way the spec checks that action
      local id = assert.ok(lifecycle.create(guest(name, "crash", { on_crash = action, on_reboot = action, restart_limit = 1 })))
      if action == "destroy" then
        wait_name_gone(name, BOOT)
      elseif action == "restart" then
        assert.ok(domain.wait_name(name, BOOT, id))
        wait_name_gone(name, BOOT) -- the second crash is a loop
      else
        local info = assert.ok(domain.wait_shutdown(id, BOOT))
        assert.truthy(info.shutdown_reason == "crash" or info.shutdown_reason == "reboot", info.shutdown_reason)
        task.sleep(1)
        assert.truthy(xen.info(id), "preserved")
        assert.ok(lifecycle.destroy(id))
        wait_name_gone(name)
      end
    end, { timeout = 600 })
  end

  it("that hangs is destroyed by luxen destroy", function()
    local id = assert.ok(lifecycle.create(guest("g-hang", "hang")))
    wait_console("g-hang", "LUXEN%-GUEST%-UP action=hang")
    local ok, err = lifecycle.shutdown("g-hang", { wait = true, timeout = 5 })
    assert.is_nil(ok)
    assert.contains("did not shut down", err)
    assert.ok(lifecycle.destroy("g-hang"))
    wait_name_gone("g-hang")
  end, { timeout = 400 })
end)

-- xz_decode_time(bzimage) -> seconds xz(1) takes to decode its payload | nil, why
local function xz_decode_time(path)
  local luxen = require("luxen")
  -- /usr/bin/xz is xz-utils' (liblzma); busybox's own decoder is /bin/xz
  if not luxen.stat("/usr/bin/xz") then return nil, "no xz-utils xz(1) in this dom0" end
  -- the boot protocol's setup_sects, payload_offset and payload_length; the
  -- payload's last four bytes are the size Linux appends, not xz's
  local payload = helpers.file("payload.xz", "")
  sh(string.format([[set -e
set -- $(od -An -tu1 -j 497 -N 1 %s); s=$1; [ "$s" = 0 ] && s=4
set -- $(od -An -tu4 -j 584 -N 8 %s)
tail -c +$(( (s + 1) * 512 + $1 + 1 )) %s | head -c $(( $2 - 4 )) > %s]], path, path, path, payload))
  local t0 = time.monotonic()
  local r = assert.ok(proc.run("/usr/bin/xz -dc " .. payload .. " > /dev/null", { timeout = 300 }))
  local took = time.monotonic() - t0
  os.remove(payload)
  if r.code ~= 0 then return nil, "xz -dc failed: " .. r.stderr end
  return took
end

describe("luxen next to xl", function()
  it("creates and destroys the same config; the times are printed side by side", function()
    local function cfgfile(name)
      return helpers.file(name .. ".cfg", string.format(
        'name = "%s"\ntype = "pvh"\nkernel = "/guest/vmlinuz"\nramdisk = "/guest/initrd.gz"\nextra = "console=hvc0 luxen_action=stay"\nmemory = 128\nvcpus = 1\ncpus = "1"\n', name))
    end
    local function timed(cmd)
      local t0 = time.monotonic()
      local out = sh(cmd)
      return time.monotonic() - t0, out
    end
    local results = {}
    -- the command line as a host runs it: with `luxen supervise` running
    -- (this spec's own supervisor takes no requests, and without one each
    -- command would build a Lua runtime of its own first)
    task.cancel(sup_task)
    supervisor.release()
    local stop = helpers.cli_supervisor("guest-supervise.log")
    -- the first luxen create is cold: the host's decompressed-kernel cache
    -- is emptied first (issue 16 asks a cold create of at most 0.5x xl's);
    -- the second finds the kernel the first decompressed
    local ok, err = pcall(function()
    helpers.sh("rm -rf " .. require("luxen").state_dir .. "/cache")
    for _, tool in ipairs({ "luxen", "xl", "luxen" }) do
      local name = "cmp-" .. tool .. "-" .. (#results + 1)
      local tc, out = timed(tool .. " create " .. cfgfile(name))
      assert.truthy(domain.find(name), tool .. " create: " .. out)
      wait_console(name, "LUXEN%-GUEST%-UP")
      local td = timed(tool .. " destroy " .. name)
      wait_name_gone(name)
      if tool == "luxen" then
        -- where the supervisor's part of the destroy went, from the domain's log
        local f = io.open(require("log").path(name))
        local line = f and f:read("*a"):match("destroyed domain [^\n]*")
        if f then f:close() end
        print("TIMING   " .. name .. ": " .. tostring(line))
      end
      local label = tool == "xl" and "xl" or (#results == 0 and "luxen (cold kernel cache)" or "luxen (warm)")
      results[#results + 1] = { tool = label, create = tc, destroy = td }
    end
    end)
    stop()
    sup_task = assert(supervisor.start())
    if not ok then error(err, 0) end
    local xl = results[2]
    for _, r in ipairs(results) do
      print(string.format("TIMING %-25s create %6.2fs (%.2fx xl)  destroy %6.2fs (%.2fx xl)",
        r.tool, r.create, r.create / xl.create, r.destroy, r.destroy / xl.destroy))
    end
    -- what a cold create costs any toolstack: the kernel's xz payload
    -- decoded by liblzma (xl's decoder, through xz(1)) alone, in this boot
    local took, err = xz_decode_time("/guest/vmlinuz")
    if took then
      print(string.format("TIMING the kernel's xz payload decoded by xz(1) (liblzma, as xl decodes it) %.2fs: %.2fx xl's whole create",
        took, took / xl.create))
    else
      print("NOTE no xz decode time: " .. err)
    end
  end, { timeout = 900 })
end)
