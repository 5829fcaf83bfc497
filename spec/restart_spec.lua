-- hosts: sim
-- Restart policies: every action for every shutdown reason the guest can
-- produce, and reboot-loop suppression. The supervisor runs in the background
-- as `luxen supervise` would.
local xen = require("xen")
local sim = require("sim")
local task = require("task")
local log = require("log")
local domain = require("domain")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local policy = require("policies.restart")
local helpers = require("helpers")

local sup = assert(supervisor.start())

local function boot(cfg)
  cfg.memory = cfg.memory or 32
  local id = assert.ok(lifecycle.create(cfg))
  helpers.wait_booted(id)
  return id
end

local function read_log(name)
  local f = io.open(log.path(name))
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

describe("the supervisor", function()
  it("marks itself in xenstore while it runs, naming its process", function()
    local m = assert.ok(supervisor.running())
    assert.equal(require("luxen").pid, m.pid)
    assert.equal(require("luxen").pid_start, m.start)
  end)

  it("is one per host: a second is refused and names the first, and leaves its marker", function()
    local t, err = supervisor.start()
    assert.is_nil(t)
    assert.contains("a supervisor already runs on this host: pid " .. require("luxen").pid, err)
    assert.ok(supervisor.running())
  end)
end)

for _, reason in ipairs({ "poweroff", "reboot", "crash", "watchdog" }) do
  local key = "on_" .. reason
  describe(key, function()
    it("destroy removes the domain and its record", function()
      local name = "d-" .. reason
      local id = boot({ name = name, [key] = "destroy" })
      assert.ok(sim.guest(id, reason))
      assert.ok(domain.wait_gone(id, 5))
      assert.is_nil(domain.find(name))
      -- the record goes last, after the domain and its nodes: wait for it
      -- rather than race the policy's destroy (it failed one run in five)
      helpers.wait_until(function() return #helpers.records() == 0 end, 5, "the record removed")
      assert.equal(0, #helpers.records())
    end)

    it("restart brings it back with the same name and uuid and a new domid", function()
      local name = "r-" .. reason
      local id = boot({ name = name, [key] = "restart" })
      local uuid = xen.info(id).uuid
      assert.ok(sim.guest(id, reason))
      local newid = assert.ok(domain.wait_name(name, 5, id))
      assert.truthy(newid ~= id, "new domid")
      assert.equal(uuid, xen.info(newid).uuid)
      assert.is_nil(xen.info(id), "the old domain is gone")
      helpers.wait_booted(newid)
      local rec = lifecycle.record(uuid)
      assert.equal(1, #rec.restarts)
      assert.ok(lifecycle.destroy(name))
    end)

    it("rename-restart keeps the old domain under a new name and starts a new one", function()
      local name = "n-" .. reason
      local id = boot({ name = name, [key] = "rename-restart" })
      assert.ok(sim.guest(id, reason))
      local newid = assert.ok(domain.wait_name(name, 5, id))
      assert.matches("^" .. name:gsub("%-", "%%-") .. "%-%-%d+T%d+Z$", domain.name(id))
      assert.truthy(xen.info(id).shutdown, "the kept domain stays shut down")
      assert.truthy(xen.info(newid).uuid ~= xen.info(id).uuid)
      assert.ok(lifecycle.destroy(id))
      assert.ok(lifecycle.destroy(newid))
    end)

    it("preserve leaves the domain shut down with its reason", function()
      local name = "p-" .. reason
      local id = boot({ name = name, [key] = "preserve" })
      assert.ok(sim.guest(id, reason))
      local info = assert.ok(domain.wait_shutdown(id, 5))
      task.sleep(0.1) -- give the policy time to (not) act
      info = xen.info(id)
      assert.truthy(info.shutdown)
      assert.equal(reason, info.shutdown_reason)
      assert.equal(name, domain.name(id))
      assert.ok(lifecycle.destroy(name))
    end)
  end)
end

describe("reboot-loop suppression", function()
  it("stops restarting after restart_limit restarts within restart_window and says so", function()
    local name = "looper"
    local id = boot({ name = name, on_reboot = "restart", restart_limit = 3, restart_window = 60 })
    local restarts = 0
    for _ = 1, 3 do
      assert.ok(sim.guest(id, "reboot"))
      id = assert.ok(domain.wait_name(name, 5, id))
      helpers.wait_booted(id)
      restarts = restarts + 1
    end
    assert.equal(3, restarts)
    -- the fourth reboot within the window is a loop: destroyed, not restarted
    assert.ok(sim.guest(id, "reboot"))
    assert.ok(domain.wait_gone(id, 5))
    task.sleep(0.2)
    assert.is_nil(domain.find(name), "not restarted")
    assert.matches("reboot loop: 3 restarts within 60s; not restarting", read_log(name))
  end)

  it("decide() counts only restarts inside the window", function()
    local now = require("time").now()
    local rec = { config = { on_reboot = "restart", restart_limit = 2, restart_window = 10 },
                  restarts = { now - 100, now - 50, now - 1 } }
    assert.equal("restart", (policy.decide(rec, "reboot")))
    rec.restarts[#rec.restarts + 1] = now - 2
    assert.equal("destroy", (policy.decide(rec, "reboot")))
  end)
end)

describe("a shut-down domain luxen has no record of", function()
  it("is left alone", function()
    local id = boot({ name = "stray", on_poweroff = "destroy" })
    local uuid = xen.info(id).uuid
    lifecycle.remove_record(uuid)
    assert.ok(sim.guest(id, "poweroff"))
    assert.ok(domain.wait_shutdown(id, 5))
    task.sleep(0.1)
    assert.truthy(xen.info(id), "not destroyed without a record")
    assert.ok(lifecycle.destroy(id))
  end)
end)

describe("stopping", function()
  it("cancelling the supervisor's task leaves restarts to commands again", function()
    task.cancel(sup)
    assert.ok(supervisor.release()) -- what `luxen supervise` does on exit
    assert.falsy(supervisor.running())
  end)

  it("only the owner removes the marker, and a dead owner's marker is taken over", function()
    local xs, json = require("xenstore"), require("json")
    local dead = assert.ok(require("proc").run("echo $$")).stdout:match("%d+")
    local other = { pid = tonumber(dead), start = "1", uid = 0, since = "2026-01-01T00:00:00Z", socket = "/nowhere" }
    assert.ok(xs.write(supervisor.MARKER, json.encode(other)))
    assert.ok(supervisor.release())
    assert.truthy(xs.exists(supervisor.MARKER), "released a marker it does not own")
    assert.falsy(supervisor.running(), "a dead supervisor is not running")
    local me, prev = supervisor.claim("")
    assert.truthy(me)
    assert.equal(require("luxen").pid, me.pid)
    assert.equal(tonumber(dead), prev and prev.pid, "the dead owner it took over from")
    assert.ok(supervisor.release())
    assert.falsy(xs.exists(supervisor.MARKER))
  end)
end)
