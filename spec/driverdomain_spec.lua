-- hosts: sim
-- Driver domains: a device's backend may be any domain, named by name. When
-- the backend domain dies its frontends' devices are disconnected; when it is
-- restarted they are plugged back in, without restarting the frontends; with a
-- fallback, devices move there and (FAILBACK) back. All held by the supervisor.
local xs = require("xenstore")
local sim = require("sim")
local task = require("task")
local time = require("time")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local failover = require("policies.failover")
local helpers = require("helpers")

supervisor.RESCAN = 0.2
failover.PROGRESS_TIMEOUT = 0.5
local sup = supervisor.start()

local function disk(name)
  local id = assert(domain.find(name))
  local l = devices.list(id, "vbd")
  return l[1], id
end

local function rec_entry(name)
  local id = assert(domain.find(name))
  local vm = xs.read(domain.path(id) .. "/vm")
  local rec = lifecycle.record(vm:match("^/vm/(.*)$"))
  for _, e in pairs(rec.devices or {}) do return e end
end

-- wait until pred() is true. A replug that times out (a loaded machine) is
-- retried by the next reconcile, so allow for one failed attempt.
local function eventually(pred, what, timeout)
  local deadline = time.monotonic() + (timeout or 30)
  while time.monotonic() < deadline do
    if pred() then return true end
    task.sleep(0.05)
  end
  error("timed out waiting for " .. what, 2)
end

local function connected_via(name, be_name)
  return function()
    local d = disk(name)
    if not d or d.state ~= devices.STATE.Connected or d.backend_state ~= devices.STATE.Connected then return false end
    return d.backend_id == domain.find(be_name)
  end
end

describe("a driver domain", function()
  it("serves a frontend's disk by name; its death disconnects, its restart reconnects", function()
    local drv = assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1, on_reboot = "restart" }))
    helpers.wait_booted(drv)
    local fe = assert.ok(lifecycle.create({ name = "fe", memory = 16, disk = { "/img/a,raw,xvda,rw,backend=drv" } }))
    helpers.wait_booted(fe)
    eventually(connected_via("fe", "drv"), "fe's disk connected through drv")
    assert.matches("^/local/domain/" .. drv .. "/backend/vbd/" .. fe .. "/51712$", disk("fe").backend)

    -- the driver domain reboots: a new domid; fe stays as it is
    assert.ok(sim.guest(drv, "reboot"))
    local drv2 = assert.ok(domain.wait_name("drv", 10, drv))
    eventually(connected_via("fe", "drv"), "fe's disk reconnected through the restarted drv")
    assert.equal(fe, domain.find("fe"), "the frontend domain was not restarted")
    assert.matches("^/local/domain/" .. drv2 .. "/backend/", disk("fe").backend)

    -- the driver domain goes for good: the device is disconnected, still recorded
    assert.ok(lifecycle.destroy("drv"))
    eventually(function() return disk("fe") == nil end, "fe's disk unplugged")
    assert.not_nil(rec_entry("fe").disconnected)
    -- and a new driver domain of that name gets it back
    local drv3 = assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(drv3)
    eventually(connected_via("fe", "drv"), "fe's disk back through the new drv")
    assert.is_nil(rec_entry("fe").disconnected)
    assert.ok(lifecycle.destroy("fe"))
    assert.ok(lifecycle.destroy("drv"))
  end, { timeout = 120 })

  it("with a fallback: fails over when the driver domain dies, and back when it returns", function()
    assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(domain.find("drv"))
    local fe = assert.ok(lifecycle.create({ name = "fe2", memory = 16,
      disk = { "/img/b,raw,xvda,rw,backend=drv,fallback=Domain-0" } }))
    helpers.wait_booted(fe)
    eventually(connected_via("fe2", "drv"), "connected through drv")
    assert.ok(lifecycle.destroy("drv"))
    eventually(connected_via("fe2", "Domain-0"), "failed over to Domain-0")
    assert.equal("Domain-0", rec_entry("fe2").active)
    local drv = assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(drv)
    eventually(connected_via("fe2", "drv"), "failed back to drv")
    assert.equal("drv", rec_entry("fe2").active)
    assert.ok(lifecycle.destroy("fe2"))
    assert.ok(lifecycle.destroy("drv"))
  end, { timeout = 120 })

  it("with a fallback: a backend that makes no progress is left for the fallback", function()
    local drv = assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(drv)
    local fe = assert.ok(lifecycle.create({ name = "fe3", memory = 16 }))
    helpers.wait_booted(fe)
    assert.ok(sim.backend("hang", drv))
    failover.FAILBACK = false -- the hung drv is still running: do not move back to it
    -- plug the disk without waiting: its backend never moves
    assert.ok(devices.attach(fe, "vbd", assert.ok(devices.parse("vbd", "/img/c,raw,xvda,rw,backend=drv,fallback=Domain-0")),
      { wait = false }))
    eventually(connected_via("fe3", "Domain-0"), "moved to the fallback after no progress")
    assert.equal("Domain-0", rec_entry("fe3").active)
    failover.FAILBACK = true
    assert.ok(sim.backend("unhang", drv))
    assert.ok(lifecycle.destroy("fe3"))
    assert.ok(lifecycle.destroy("drv"))
  end, { timeout = 120 })
end)

describe("stopping", function()
  it("the supervisor", function()
    task.cancel(sup)
    xs.rm(supervisor.MARKER)
    assert.equal(0, #helpers.records())
  end)
end)
