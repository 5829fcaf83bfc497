-- hosts: sim
-- A domain with 100 disks. The simulated guest's frontend is an unprivileged
-- xenstore client bound by cxenstored 4.17's quotas, as a real guest is, so it
-- must keep up with its watch events as Linux's xenbus does (one reader, one
-- xenwatch thread, devices found by enumerating device/) instead of losing the
-- devices whose events were dropped.
--
-- Nodes: the guest owns 10 nodes a disk (8 the toolstack writes, as libxl
-- does, and the frontend's ring-ref and event-channel) and about 11 more, so
-- 100 disks need some 1011, over cxenstored's default of 1000 a domain
-- (quota-nb-entry-per-domain). A host for such guests raises it (xenstored -E,
-- `xenstore-control quota nodes N`, `luxen sim serve --quota nodes=N`), and
-- many_disks_test.go runs this file on a simulated host so configured, saying
-- so in LUXEN_SPEC_XS_NODES: then all 100 must connect. On a host with the
-- default (TestSpecs runs every spec on one) the disks past the quota fail as
-- Linux's blkfront does (xenbus_dev_fatal: Closing) and every other connects;
-- none may be left waiting.
local xs = require("xenstore")
local task = require("task")
local time = require("time")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")
local helpers = require("helpers")

local N = 100
local CONNECTED, CLOSING = tostring(devices.STATE.Connected), tostring(devices.STATE.Closing)
local room = (tonumber(os.getenv("LUXEN_SPEC_XS_NODES") or "") or 1000) >= 11 + 10 * N + 50

local vdev = helpers.vdev

describe("a domain with 100 disks", function()
  it("gets every disk Connected that its xenstore quota allows, none left waiting, and leaves nothing behind", function()
    -- the first cycle on a fresh host makes the long-lived parents
    -- (/local/domain/0/backend/vbd among them)
    assert.ok(lifecycle.create({ name = "warm", memory = 16, disk = { "/img/warm.raw,raw,xvda,rw" } }))
    assert.ok(lifecycle.destroy("warm"))
    local before = helpers.snapshot()

    local disks, devids = {}, {}
    for i = 0, N - 1 do
      disks[#disks + 1] = string.format("/img/d%d.raw,raw,%s,rw", i, vdev(i))
      devids[#devids + 1] = assert.ok(devices.vdev_devid(vdev(i)))
    end
    assert.equal("xvdcv", vdev(N - 1))

    local t0 = time.monotonic()
    local id = assert.ok(lifecycle.create({ name = "disks100", memory = 64, disk = disks }))
    local created = time.monotonic() - t0
    helpers.wait_booted(id, 30)
    local booted = time.monotonic() - t0

    local fe_dir = domain.path(id) .. "/device/vbd/"
    local bk_dir = "/local/domain/0/backend/vbd/" .. id .. "/"
    -- states() -> connected, failed, and the others as "xvdN fe=F be=B"
    local function states()
      local connected, failed, other = 0, 0, {}
      for i, devid in ipairs(devids) do
        local fs = xs.read_or(fe_dir .. devid .. "/state", "-")
        local bs = xs.read_or(bk_dir .. devid .. "/state", "-")
        if fs == CONNECTED and bs == CONNECTED then
          connected = connected + 1
        elseif fs == CLOSING and not room then
          failed = failed + 1
        else
          other[#other + 1] = string.format("%s fe=%s be=%s", vdev(i - 1), fs, bs)
        end
      end
      return connected, failed, other
    end
    local deadline = time.monotonic() + 20
    local connected, failed, other = states()
    while #other > 0 and time.monotonic() < deadline do
      task.sleep(0.05)
      connected, failed, other = states()
    end
    local settled = time.monotonic() - t0
    assert.equal(0, #other, #other .. " of " .. N .. " disks neither Connected" .. (room and "" or " nor failed")
      .. " within 20 s: " .. table.concat(other, ", "))
    if room then
      assert.equal(N, connected)
    else
      assert.truthy(connected > 0, "no disk connected")
    end
    assert.equal(N, #devices.list(id, "vbd"))
    print(string.format("      TIMING %d disks (%s): create %.2fs, booted %.2fs, settled %.2fs: %d Connected, %d failed",
      N, room and "room for all" or "default node quota", created, booted, settled, connected, failed))

    assert.ok(lifecycle.destroy("disks100"))
    assert.ok(domain.wait_gone(id, 10))
    task.sleep(0.05)
    helpers.assert_tree_unchanged(before, "xenstore after destroying the 100-disk domain")
    assert.equal(0, #helpers.records())
  end, { timeout = 120 })
end)
