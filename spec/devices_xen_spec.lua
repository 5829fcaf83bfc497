-- hosts: xen
-- Real devices on real Xen: a PVH guest reads a marker from a disk backed by a
-- file through dom0's blkback; a vif appears in dom0 and the guest has eth0;
-- detach removes them with nothing left in xenstore.
local xs = require("xenstore")
local proc = require("proc")
local task = require("task")
local time = require("time")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")
local helpers = require("helpers")

local console = helpers.console

local function wait_for(pred, what, timeout)
  local deadline = time.monotonic() + (timeout or 180)
  while time.monotonic() < deadline do
    if pred() then return true end
    task.sleep(0.5)
  end
  error("timed out waiting for " .. what, 2)
end

describe("a PVH guest with a file-backed disk and a vif", function()
  it("reads the disk's marker through blkback, has eth0, and detach leaves nothing", function()
    assert.ok(lifecycle.create({ name = "warmd", memory = 16 }, { paused = true }))
    assert.ok(lifecycle.destroy("warmd"))
    local img = helpers.file("disk.img", "LUXEN-MARKER-4711-ABCDEF" .. string.rep("\0", 4096 - 24))
    local id = assert.ok(lifecycle.create({ name = "gdev", type = "pvh", kernel = "/guest/vmlinuz",
      ramdisk = "/guest/initrd.gz", extra = "console=hvc0 luxen_action=devices", memory = 128, vcpus = 1, cpus = helpers.LAB_CPUS,
      disk = { img .. ",raw,xvda,r" }, vif = { "mac=00:16:3e:77:00:01" } }))
    wait_for(function() return console("gdev"):find("LUXEN%-NET:") end, "the guest's device report")
    assert.matches("LUXEN%-DISK: LUXEN%-MARKER%-4711%-ABCDEF", console("gdev"))
    assert.matches("LUXEN%-NET:[^\n]*eth0", console("gdev"))
    local links = assert.ok(proc.run({ "ip", "link" })).stdout
    assert.matches("vif" .. id .. "%.0", links, "the vif in dom0")
    local bk = "/local/domain/0/backend/vbd/" .. id .. "/51712"
    assert.matches("^7:", xs.read(bk .. "/physical-device"), "a loop device behind the file")
    -- detach both; their nodes and the loop device go
    local before_loops = assert.ok(proc.run({ "losetup", "-a" })).stdout
    assert.ok(devices.detach(id, "vif", 0, { force = true, timeout = 20 }))
    assert.ok(devices.detach(id, "vbd", 51712, { force = true, timeout = 20 }))
    assert.falsy(xs.exists(bk))
    assert.falsy(xs.exists("/local/domain/0/backend/vif/" .. id .. "/0"))
    assert.falsy(xs.exists(domain.path(id) .. "/device/vbd/51712"))
    assert.falsy(xs.exists(domain.path(id) .. "/device/vif/0"))
    local after_loops = assert.ok(proc.run({ "losetup", "-a" })).stdout
    assert.falsy(after_loops:find(img, 1, true), "loop device released: " .. after_loops)
    assert.truthy(before_loops:find(img, 1, true), "the loop device existed before: " .. before_loops)
    assert.ok(lifecycle.destroy("gdev"))
  end, { timeout = 400 })

  it("a destroy releases the loop device dom0's hotplug made for a file-backed disk", function()
    local img = helpers.file("disk2.img", string.rep("\0", 65536))
    local id = assert.ok(lifecycle.create({ name = "gloop", memory = 32, disk = { img .. ",raw,xvda,w" } }, { paused = true }))
    local bk = "/local/domain/0/backend/vbd/" .. id .. "/51712"
    local loop = xs.read(bk .. "/physical-device-path")
    assert.matches("^/dev/loop", tostring(loop))
    assert.truthy(assert.ok(proc.run({ "losetup", "-a" })).stdout:find(img, 1, true), "the loop device is there")
    assert.ok(lifecycle.destroy("gloop"))
    -- blkback lets go as its backend closes; the kernel then detaches it
    wait_for(function() return not assert.ok(proc.run({ "losetup", "-a" })).stdout:find(img, 1, true) end,
      "the loop device released after the destroy", 30)
  end, { timeout = 120 })
end)
