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
