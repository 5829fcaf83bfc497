-- hosts: xen
-- A guest that powers itself off, reboots or crashes is acted on even when
-- nobody started `luxen supervise`: a plain `luxen create` starts the host's
-- supervisor, as xl forks its per-domain daemon (issue 12: a guest created
-- with `luxen create` that ran `poweroff -f` stayed in `xl list` for minutes).
local xs = require("xenstore")
local task = require("task")
local time = require("time")
local luxen = require("luxen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local helpers = require("helpers")

local BOOT = 180

local function cfgfile(name, action, extra)
  return helpers.file(name .. ".cfg", string.format(
    'name = "%s"\ntype = "pvh"\nkernel = "/guest/vmlinuz"\nramdisk = "/guest/initrd.gz"\n' ..
    'extra = "console=hvc0 luxen_action=%s"\nmemory = 128\nvcpus = 1\ncpus = "%s"\n%s', name, action, helpers.LAB_CPUS, extra or ""))
end

-- stop the host's supervisor (the one a create started), as an administrator
-- would, and wait until its marker is gone
local function stop_supervisor()
  local m = supervisor.running()
  if not m then return end
  helpers.sh("kill -INT " .. m.pid)
  helpers.wait_until(function() return not xs.exists(supervisor.MARKER) end, 60, "the supervisor's marker removed")
end

-- warm the host (long-lived parents, the kernel cache) before anything is compared
helpers.sh("luxen create --no-supervisor -p " .. cfgfile("as-warm", "stay") .. " && luxen destroy as-warm")
helpers.wait_name_gone("as-warm")
local before_tree, before_xl = helpers.snapshot(), helpers.xl_names()

describe("with no supervisor started by hand", function()
  it("a plain luxen create starts one, and the guest's own poweroff and reboot are acted on", function()
    assert.is_nil(supervisor.running(), "a supervisor was already running")
    local ok, err = pcall(function()
      local out = helpers.sh("luxen create " .. cfgfile("as-off", "poweroff", 'on_poweroff = "destroy"\n'))
      assert.contains("created as-off", out)
      assert.contains("started a supervisor for this host", out)
      local m = assert.ok(supervisor.running(), "no supervisor after luxen create")
      assert.equal("/run/luxen/supervisor.sock", m.socket)
      assert.truthy(luxen.stat(m.socket), "its request socket")

      -- it reboots at every boot: the second reboot within the window is a loop
      local rb = helpers.sh("luxen create " .. cfgfile("as-reboot", "reboot", 'on_reboot = "restart"\nrestart_limit = 1\n'))
      assert.contains("created as-reboot", rb)
      assert.falsy(rb:find("started a supervisor", 1, true), "a second supervisor was started")
      local first = assert.ok(domain.find("as-reboot"))

      -- as-off runs `poweroff -f` once booted: destroyed per on_poweroff
      helpers.wait_console("as-off", "LUXEN%-GUEST%-UP action=poweroff", BOOT)
      helpers.wait_name_gone("as-off", BOOT)
      helpers.wait_until(function() return #helpers.records() == 1 end, 30, "as-off's record removed")

      -- as-reboot comes back with a new domid, then loops and is destroyed
      local newid = assert.ok(domain.wait_name("as-reboot", BOOT, first))
      assert.truthy(newid ~= first)
      helpers.wait_name_gone("as-reboot", BOOT)
      local f = assert(io.open(require("log").path("as-reboot")))
      local text = f:read("*a")
      f:close()
      assert.matches("shut down: reboot; action restart", text)
      assert.matches("shut down: reboot; action destroy %(reboot loop", text)
      helpers.wait_until(function() return #helpers.records() == 0 end, 30, "records removed")

      -- one supervisor did all of it
      assert.equal(m.pid, assert.ok(supervisor.running()).pid)
    end)
    -- whatever happened, the supervisor this spec started and its guests are
    -- gone before the specs that follow
    stop_supervisor()
    for _, name in ipairs({ "as-off", "as-reboot" }) do
      if domain.find(name) then lifecycle.destroy(name) end
      helpers.wait_name_gone(name)
    end
    if not ok then error(err, 0) end
    task.sleep(0.5)
    helpers.assert_tree_unchanged(before_tree, "xenstore after the spec")
    assert.equal(before_xl, helpers.xl_names(), "xl list after the spec")
  end, { timeout = 900 })

  it("reconcile from another state directory is refused and destroys nothing", function()
    local ok, err = pcall(function()
      assert.ok(lifecycle.create({ name = "as-keep", memory = 16 }, { paused = true }))
      local out = helpers.sh("LUXEN_STATE=/tmp/elsewhere luxen reconcile 2>&1; echo rc=$?")
      assert.contains("this host keeps luxen's state in " .. luxen.state_dir, out)
      assert.contains("rc=1", out)
      assert.truthy(domain.find("as-keep"), "as-keep was destroyed")
      -- an xl-made domain is left alone by luxen's reconcile
      helpers.sh("xl create -p " .. cfgfile("as-xl", "stay"))
      local rec = helpers.sh("luxen reconcile")
      assert.matches("%(as%-xl%) was not made by luxen %(no record, no luxen marker%): left alone", rec)
      assert.truthy(domain.find("as-xl"), "xl's domain was destroyed")
    end)
    -- whatever happened, leave nothing for the specs that follow
    if domain.find("as-xl") then helpers.sh("xl destroy as-xl") end
    if domain.find("as-keep") then lifecycle.destroy("as-keep") end
    helpers.wait_name_gone("as-xl")
    helpers.wait_name_gone("as-keep")
    if not ok then error(err, 0) end
    assert.equal(0, #helpers.records())
  end, { timeout = 300 })
end)
