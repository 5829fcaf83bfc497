-- hosts: sim
-- HVM configs on the simulated host: what it cannot imitate (Xen's device
-- model) it refuses with a clear error, and what no host could do is refused
-- before anything is made.
local lifecycle = require("lifecycle")
local helpers = require("helpers")

local refused = helpers.refused_create

describe("an HVM config on the simulated host", function()
  it("is refused without a device model override: only real Xen runs qemu-system-xen", function()
    refused({ name = "h1", type = "hvm", memory = 32 }, "simulated host cannot run Xen's device model")
  end)

  it("refuses emulated drives off the IDE bus, CD-ROMs without a device model, and what luxen lacks", function()
    local q = "/bin/true" -- never started: every case fails its checks first
    refused({ name = "h2", type = "hvm", memory = 32, device_model_override = q,
      disk = { "format=raw,vdev=xvdc,access=r,devtype=cdrom,target=" } }, "must be hda, hdb, hdc or hdd")
    refused({ name = "h3", type = "pvh", memory = 32, disk = { "format=raw,vdev=hdc,access=r,devtype=cdrom,target=" } },
      "a CD%-ROM needs a device model")
    refused({ name = "h4", type = "hvm", memory = 16, vga = "stdvga", device_model_override = q },
      "memory: 16 MiB leaves nothing beside 16 MiB of stdvga video memory")
    refused({ name = "h5", type = "hvm", memory = 32, viridian = true, device_model_override = q }, "viridian")
    local k = helpers.file("vmlinuz-h8", "not a kernel")
    refused({ name = "h8", type = "hvm", memory = 32, kernel = k, device_model_override = q },
      "direct kernel boot of an HVM guest is not supported by luxen yet")
    refused({ name = "h7", type = "hvm", memory = 32, dm_restrict = true, device_model_override = q },
      "dm_restrict: the simulated host cannot deprivilege a device model")
    local id, err = lifecycle.create({ name = "h6", type = "hvm", memory = 32, bios = "ovmf" })
    assert.is_nil(id)
    assert.matches("bios: \"ovmf\" is not supported by luxen yet", err)
  end)

  it("resolves a deprivileged QEMU's user as libxl does, and names the key when it cannot", function()
    local devicemodel = require("devicemodel")
    local config = require("config")
    local cfg = assert(config.from_table({ name = "u1", type = "hvm", memory = 32, dm_restrict = true, device_model_user = "root" }, "u1.cfg"))
    local ok, err = devicemodel.runas(cfg, 5)
    assert.is_nil(ok)
    assert.matches("device_model_user: a deprivileged QEMU cannot run as root", err)
    cfg.device_model_user = "no-such-user-luxen"
    ok, err = devicemodel.runas(cfg, 5)
    assert.is_nil(ok)
    assert.matches('device_model_user: no user "no%-such%-user%-luxen" on this host', err)
    local nobody = require("luxen").user("nobody")
    if nobody then
      cfg.device_model_user = "nobody"
      assert.equal(nobody.uid .. ":" .. nobody.gid, devicemodel.runas(cfg, 5))
    end
    -- without a user of its own and none of libxl's, the error says what to add
    cfg.device_model_user = nil
    if not require("luxen").user("xen-qemuuser-shared") and not require("luxen").user("xen-qemuuser-range-base") then
      ok, err = devicemodel.runas(cfg, 5)
      assert.is_nil(ok)
      assert.matches("dm_restrict: no user to run QEMU as: add xen%-qemuuser%-shared", err)
    end
  end)
end)

-- An HVM guest whose PV drivers never start (Linux booted xen_nopv, or an
-- OS without them) reads no control/shutdown. Made here as xl makes one, so
-- that luxen finds it HVM by libxl's /libxl/<domid>/type as it does its own.
describe("shutting down an HVM guest", function()
  local xen = require("xen")
  local xs = require("xenstore")
  local sim = require("sim")
  local domain = require("domain")

  local function xl_hvm(name, nopv)
    local id = assert.ok(xen.create({ hvm = true, hap = true }))
    assert.ok(xen.set_max_mem(id, 16384))
    assert.ok(xen.build(id, { type = "pvh", memory_kb = 16384 }))
    if nopv then assert.ok(sim.guest(id, "nopv")) end
    local dp = "/local/domain/" .. id
    assert.ok(xs.write(dp .. "/name", name))
    assert.ok(xs.write(dp .. "/control/shutdown", ""))
    assert.ok(xs.set_perms(dp .. "/control/shutdown", { "n" .. id }))
    assert.ok(xs.write("/libxl/" .. id .. "/type", "hvm"))
    assert.ok(xen.unpause(id))
    local deadline = require("time").monotonic() + 5
    while not sim.booted(id) do
      assert.truthy(require("time").monotonic() < deadline, "the guest did not boot")
      require("task").sleep(0.01)
    end
    return id
  end

  local function gone(id)
    xen.destroy(id)
    xs.rm("/local/domain/" .. id)
    xs.rm("/libxl/" .. id)
  end

  it("without PV drivers is refused what it could not read, and -F presses its ACPI power button", function()
    local id = xl_hvm("nopv1", true)
    assert.equal(0, assert.ok(xen.hvm_param(id, "callback_irq")), "no PV drivers, no callback")
    local none, err = lifecycle.shutdown("nopv1")
    assert.is_nil(none)
    assert.matches("domain nopv1 has no PV drivers %(an HVM guest whose HVM_PARAM_CALLBACK_IRQ is 0%)", err)
    assert.matches("use %-F to press its ACPI power button", err)
    none, err = lifecycle.reboot("nopv1")
    assert.matches("use %-F to reset it", err)
    assert.equal("", xs.read("/local/domain/" .. id .. "/control/shutdown"), "nothing was written")
    assert.falsy(xen.info(id).shutdown)
    assert.ok(lifecycle.shutdown("nopv1", { force = true, wait = true, timeout = 5 }))
    assert.equal("poweroff", xen.info(id).shutdown_reason)
    assert.equal("", xs.read("/local/domain/" .. id .. "/control/shutdown"), "the button, not xenstore")
    gone(id)
    -- reboot -F resets it: reason reboot at once, which a hung OS cannot stop
    id = xl_hvm("nopv2", true)
    assert.ok(sim.guest(id, "hang"))
    assert.ok(lifecycle.reboot("nopv2", { force = true, wait = true, timeout = 5 }))
    assert.equal("reboot", xen.info(id).shutdown_reason)
    gone(id)
  end)

  it("with PV drivers is asked through control/shutdown, -F or not, as xl does", function()
    local id = xl_hvm("pvhvm1", false)
    assert.truthy(assert.ok(xen.hvm_param(id, "callback_irq")) ~= 0, "its drivers set the callback")
    assert.ok(lifecycle.shutdown("pvhvm1", { force = true, wait = true, timeout = 5 }))
    assert.equal("poweroff", xen.info(id).shutdown_reason)
    gone(id)
  end)

  it("answers as Xen does: the buttons are an HVM container's, reset and init are ENOSYS", function()
    local id = xl_hvm("trig1", true)
    local ok, errno = xen.send_trigger(id, "reset")
    assert.is_nil(ok)
    assert.equal("ENOSYS", errno)
    assert.ok(xen.send_trigger(id, "nmi"))
    assert.ok(xen.send_trigger(id, "sleep"))
    assert.falsy(xen.info(id).shutdown, "sleep and NMI leave it running")
    local called, merr = pcall(xen.hvm_param, id, 39)
    assert.falsy(called, "an index past HVM_NR_PARAMS is misuse")
    assert.matches("xen.hvm_param: bad argument #2 %(HVM parameter index out of range", merr)
    gone(id)
    ok, errno = xen.send_trigger(id, "power")
    assert.is_nil(ok)
    assert.equal("ESRCH", errno)
    assert.is_nil(domain.find("trig1"))
  end)
end)
