-- hosts: sim
-- Driver domains: a device's backend may be any domain, named by name. When
-- the backend domain dies its frontends' devices are disconnected; when it is
-- restarted they are plugged back in, without restarting the frontends; with a
-- fallback, devices move there and (FAILBACK) back. All held by the supervisor.
local xs = require("xenstore")
local xen = require("xen")
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

-- wait until pred() is true. A replug is not waited on (the backend takes
-- it up when its driver runs), so one attempt suffices: none is undone and
-- retried by a later pass, which the failover policy's log would show.
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
    -- the frontend's event channel is a port of fe's held for drv, as Xen
    -- reports it (EVTCHNOP_status); an unplug waits for the guest to let go
    local port = assert(tonumber(xs.read(domain.path(fe) .. "/device/vbd/51712/event-channel")))
    local st = assert.ok(xen.evtchn_status(fe, port))
    assert.equal("unbound", st.state)
    assert.equal(drv, st.remote_dom)

    -- the driver domain reboots: a new domid; fe stays as it is
    assert.ok(sim.guest(drv, "reboot"))
    local drv2 = assert.ok(domain.wait_name("drv", 10, drv))
    eventually(connected_via("fe", "drv"), "fe's disk reconnected through the restarted drv")
    assert.equal(fe, domain.find("fe"), "the frontend domain was not restarted")
    assert.matches("^/local/domain/" .. drv2 .. "/backend/", disk("fe").backend)
    -- the old device's port was let go (a port is reused lowest first, so
    -- the new device may have the same number, now held for drv2)
    local old = assert.ok(xen.evtchn_status(fe, port))
    assert.truthy(old.state == "closed" or old.remote_dom == drv2, "the old device's port, let go")
    local port2 = assert(tonumber(xs.read(domain.path(fe) .. "/device/vbd/51712/event-channel")))
    assert.equal(drv2, assert.ok(xen.evtchn_status(fe, port2)).remote_dom, "the new device's port is for drv2")
    local none, errno = xen.evtchn_status(999, 1)
    assert.is_nil(none)
    assert.equal("ESRCH", errno, "no such domain")

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

  it("is moved to by block-move: the record names the new backend first, and it stays there", function()
    local d1 = assert.ok(lifecycle.create({ name = "drvA", memory = 16, driver_domain = 1 }))
    local d2 = assert.ok(lifecycle.create({ name = "drvB", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(d1)
    helpers.wait_booted(d2)
    local fe = assert.ok(lifecycle.create({ name = "fe5", memory = 16, disk = { "/img/m,raw,xvda,rw,backend=drvA" } }))
    helpers.wait_booted(fe)
    eventually(connected_via("fe5", "drvA"), "connected through drvA")
    local nok, nerr = devices.move(fe, "vbd", 51712, "nosuchdrv")
    assert.is_nil(nok)
    assert.matches("backend nosuchdrv", nerr)
    assert.equal("drvA", rec_entry("fe5").fields.backend, "a refused move changes nothing")
    assert.ok(devices.move(fe, "vbd", 51712, "drvB"))
    assert.truthy(connected_via("fe5", "drvB")(), "connected through drvB when the move returns")
    assert.equal("drvB", rec_entry("fe5").fields.backend)
    assert.falsy(xs.exists("/local/domain/" .. d1 .. "/backend/vbd/" .. fe), "nothing left at drvA")
    assert.equal("/local/domain/" .. d2 .. "/backend/vbd/" .. fe .. "/51712",
      xs.read("/libxl/" .. fe .. "/device/vbd/51712/backend"), "libxl's note names the new backend")
    -- the guest restarts: its disk comes back through drvB
    assert.ok(sim.guest(fe, "reboot"))
    local fe2 = assert.ok(domain.wait_name("fe5", 10, fe))
    helpers.wait_booted(fe2)
    eventually(connected_via("fe5", "drvB"), "through drvB after the guest's restart")
    assert.ok(lifecycle.destroy("fe5"))
    assert.ok(lifecycle.destroy("drvA"))
    assert.ok(lifecycle.destroy("drvB"))
  end, { timeout = 120 })

  it("restarted before a failover pass saw it gone: the device follows the new domid", function()
    local drv = assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(drv)
    local fe = assert.ok(lifecycle.create({ name = "fe6", memory = 16, disk = { "/img/r,raw,xvda,rw,backend=drv" } }))
    helpers.wait_booted(fe)
    eventually(connected_via("fe6", "drv"), "connected through drv")
    -- the supervisor is stopped meanwhile: nobody watches the restart
    task.cancel(sup)
    supervisor.release()
    assert.ok(lifecycle.destroy("drv"))
    local drv2 = assert.ok(lifecycle.create({ name = "drv", memory = 16, driver_domain = 1 }))
    helpers.wait_booted(drv2)
    assert.equal(drv, disk("fe6").backend_id, "still pointing at the dead drv")
    assert.equal(1, failover.reconcile(), "one pass moves it")
    eventually(connected_via("fe6", "drv"), "following drv to its new domid")
    assert.equal(drv2, disk("fe6").backend_id)
    sup = assert.ok(supervisor.start())
    assert.ok(lifecycle.destroy("fe6"))
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
