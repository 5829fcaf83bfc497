-- hosts: sim
-- luxen save on the simulated host: what it refuses before anything is
-- done, and a save that fails (its file cannot be written) resumes the
-- guest, which then runs on and answers control/shutdown again. A save that
-- works is restore_spec's.
local xen = require("xen")
local xs = require("xenstore")
local sim = require("sim")
local lifecycle = require("lifecycle")
local domain = require("domain")
local helpers = require("helpers")

local function up(name)
  local id = assert.ok(lifecycle.create({ name = name, memory = 32 }))
  helpers.wait_until(function() return sim.booted(id) end, 5, name .. " booted")
  return id
end

describe("luxen save", function()
  it("refuses Domain-0 and domains it did not make, before anything is asked", function()
    local none, err = lifecycle.save("Domain-0", "/tmp/x.save")
    assert.is_nil(none)
    assert.matches("refusing to save Domain%-0", err)
    local id = assert.ok(xen.create({ hvm = true, hap = true }))
    assert.ok(xs.write("/local/domain/" .. id .. "/name", "foreign1"))
    none, err = lifecycle.save("foreign1", "/tmp/x.save")
    assert.matches("domain foreign1 was not made by luxen", err)
    xen.destroy(id)
    xs.rm("/local/domain/" .. id)
  end)

  it("that fails resumes the guest, removes nothing it did not make, and the guest runs on", function()
    local id = up("sv1")
    local path = helpers.file("sv1.save", "") .. ".d/in/no/directory"
    local none, err = lifecycle.save("sv1", path, { timeout = 5 })
    assert.is_nil(none)
    assert.matches("domain sv1: save to .*sv1%.save.d/in/no/directory: ENOENT.*; it was resumed and runs on", err)
    assert.is_nil(io.open(path), "no file is left")
    local info = xen.info(id)
    assert.falsy(info.shutdown, "running again")
    assert.equal(id, domain.find("sv1"))
    -- resumed as Linux resumes: it answers control/shutdown again, and its
    -- next shutdown is handled like any other
    helpers.wait_until(function() return sim.booted(id) end, 5, "sv1 up again")
    assert.ok(lifecycle.shutdown("sv1", { wait = true, timeout = 5 }))
    assert.equal("poweroff", xen.info(id).shutdown_reason)
    assert.ok(lifecycle.destroy("sv1"))
  end)

  it("of a guest that does not suspend withdraws the request, and it runs on", function()
    local id = up("sv2")
    assert.ok(sim.guest(id, "hang"))
    local none, err = lifecycle.save("sv2", "/tmp/sv2.save", { timeout = 0.5 })
    assert.is_nil(none)
    assert.matches("domain sv2 did not suspend within 0%.5s", err)
    assert.equal("", xs.read(domain.path(id) .. "/control/shutdown"), "the request is withdrawn")
    assert.falsy(xen.info(id).shutdown)
    assert.ok(lifecycle.destroy("sv2"))
  end)

  it("runs a site's pre_save hook first, whose error stops it with nothing asked", function()
    local id = up("sv3")
    lifecycle.pre_save = function(domid, rec)
      assert.equal(id, domid)
      return nil, "backups are running"
    end
    local none, err = lifecycle.save("sv3", "/tmp/sv3.save")
    lifecycle.pre_save = nil
    assert.matches("domain sv3: pre_save: backups are running", err)
    assert.equal("", xs.read(domain.path(id) .. "/control/shutdown"))
    assert.ok(lifecycle.destroy("sv3"))
  end)

  it("that fails leaves a guest whose next shutdown the supervisor handles, however soon it comes", function()
    -- the suspend was handled (preserved); the guest runs again and powers
    -- off before any rescan saw it running: a new reason is a new shutdown
    local sup = assert(require("supervisor").start())
    local id = up("sv4")
    assert.is_nil(lifecycle.save("sv4", "/tmp/sv4.d/in/no/directory", { timeout = 5 }))
    require("task").sleep(0.1) -- the supervisor's handler of the suspend has run
    helpers.wait_until(function() return sim.booted(id) end, 5, "sv4 up again")
    assert.ok(lifecycle.shutdown("sv4"))
    assert.truthy(domain.wait_gone(id, 10), "on_poweroff=destroy, by the supervisor")
    require("task").cancel(sup)
  end)
end)
