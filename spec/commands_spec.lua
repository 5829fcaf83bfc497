-- hosts: sim
-- What the CLI's commands report: `luxen create` names the devices a guest
-- did not connect instead of printing "created".
local xen = require("xen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local commands = require("commands")
local helpers = require("helpers")
local time = require("time")

describe("create", function()
  it("names each device that is not connected, with both ends' states", function()
    -- paused, the guest cannot connect its frontends
    local id = assert.ok(lifecycle.create({ name = "unconn", memory = 32,
      disk = { "/img/a.raw,raw,xvda,rw", "/img/b.raw,raw,xvdb,rw" }, vif = { "mac=00:16:3e:00:00:01" } }, { paused = true }))
    local left = commands.unconnected(id, 0.3)
    assert.equal(3, #left)
    assert.same({ "vbd 51712 (xvda): frontend 1, backend 2", "vbd 51728 (xvdb): frontend 1, backend 2" }, { left[1], left[2] })
    assert.matches("^vif 0: frontend 1, backend 2$", left[3])
    -- running, they connect
    assert.ok(xen.unpause(id))
    assert.same({}, commands.unconnected(id, 10))
    assert.ok(lifecycle.destroy(id))
  end)

  it("fails, saying the domain runs, when devices do not connect in time", function()
    local real = commands.unconnected
    commands.unconnected = function() return { "vbd 51712 (xvda): frontend 1, backend 2" } end
    local ok, err = commands.create({ name = "late", memory = 32, disk = { "/img/a.raw,raw,xvda,rw" } })
    commands.unconnected = real
    assert.is_nil(ok)
    assert.matches("^created late %(domid %d+%), but 1 device%(s%) did not connect within 30s", err)
    assert.contains("vbd 51712 (xvda): frontend 1, backend 2", err)
    assert.contains("The domain is running", err)
    assert.ok(lifecycle.destroy("late"))
  end)

  it("names the disks a guest gave up on (its xenstore quota spent) at once, with the reason", function()
    -- 100 disks need ~1011 nodes the guest owns; cxenstored's default quota
    -- is 1000: the last few fail in the guest, as with Linux's blkfront
    local disks = {}
    for i = 0, 99 do disks[#disks + 1] = string.format("/img/q%d.raw,raw,%s,rw", i, helpers.vdev(i)) end
    local t0 = time.monotonic()
    local ok, err = commands.create({ name = "many", memory = 64, disk = disks })
    assert.is_nil(ok)
    assert.truthy(time.monotonic() - t0 < commands.CONNECT_TIMEOUT, "waited for disks that had failed")
    assert.matches("^created many %(domid %d+%), but %d device%(s%) did not connect", err)
    -- the guest's quota is spent, so its error node could not be written either
    assert.matches("vbd %d+ %(xvdcv%): frontend 5, backend %d, failed: the guest closed it", err)
    assert.contains("xenstore quota", err)
    assert.ok(lifecycle.destroy("many"))
  end)
end)
