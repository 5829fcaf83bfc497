-- hosts: sim
-- What the CLI's commands report: `luxen create` names the devices a guest
-- did not connect instead of printing "created".
local xen = require("xen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local commands = require("commands")

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
end)
