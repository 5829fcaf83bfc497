-- hosts: sim
-- Devices: classes declared as data, one engine; the xenstore layout and
-- permissions libxl uses; the XenbusState handshake with the simulated split
-- drivers; hotplug; records; restart; a hung backend.
local xs = require("xenstore")
local sim = require("sim")
local task = require("task")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local helpers = require("helpers")

-- XenbusState numbers come from the engine's one table of them
local CONNECTED = devices.STATE.Connected

local function rec_devices(name)
  local id = assert(domain.find(name))
  local vm = xs.read(domain.path(id) .. "/vm")
  return lifecycle.record(vm:match("^/vm/(.*)$")).devices or {}
end

describe("device specs", function()
  it("parse positional and key=value disk specs as xl does", function()
    local f = assert.ok(devices.parse("vbd", "/img/a.raw,raw,xvda,rw"))
    assert.equal("/img/a.raw", f.target)
    assert.equal("w", f.access)
    local g = assert.ok(devices.parse("vbd", "vdev=hdc,access=r,devtype=cdrom,target=/iso/x.iso"))
    assert.equal("cdrom", g.devtype)
    assert.equal("r", g.access)
    assert.equal("cdrom", assert.ok(devices.parse("vbd", "/x.iso,raw,hdc,r,cdrom")).devtype)
    -- xl's older forms: backend-prefixed targets, a vdev with its type, the format left out
    local c = assert.ok(devices.parse("vbd", ",hdc:cdrom,r"))
    assert.same({ "", "hdc", "cdrom", "r" }, { c.target, c.vdev, c.devtype, c.access })
    local p = assert.ok(devices.parse("vbd", "phy:/dev/vg/x,xvda,w"))
    assert.same({ "/dev/vg/x", "phy", "xvda", "w", "raw" }, { p.target, p.backendtype, p.vdev, p.access, p.format })
    local q = assert.ok(devices.parse("vbd", "tap:qcow2:/q.img,xvdc,w"))
    assert.same({ "/q.img", "qcow2", "xvdc" }, { q.target, q.format, q.vdev })
    assert.equal("hda", assert.ok(devices.parse("vbd", "file:/img/a.img,hda,w")).vdev)
    local _, err = devices.parse("vbd", "x,y,z")
    assert.matches("format: \"y\" is not one of", err)
    local v = assert.ok(devices.parse("vif", "mac=00:16:3e:00:00:01,bridge=br1"))
    assert.equal("br1", v.bridge)
    assert.matches("^00:16:3e:", assert.ok(devices.parse("vif", "")).mac)
  end)

  it("read every example of xl-disk-configuration(5) as xl does", function()
    -- each group: the man page's equivalent spellings, and the record xl's
    -- parser (libxlu_disk) makes of all of them
    local groups = {
      { { "/dev/vg/guest-volume,,hda", "/dev/vg/guest-volume,raw,hda,rw",
          "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume", "raw:/dev/vg/guest-volume,hda,w" },
        { target = "/dev/vg/guest-volume", format = "raw", vdev = "hda", access = "w", devtype = "disk" } },
      { { "/root/image.iso,,hdc,cdrom", "/root/image.iso,,hdc,,cdrom", "/root/image.iso,raw,hdc,devtype=cdrom",
          "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso", "raw:/root/image.iso,hdc:cdrom,ro" },
        { target = "/root/image.iso", format = "raw", vdev = "hdc", access = "r", devtype = "cdrom" } },
      -- the older forms configs in the wild (and xen-tools) still use
      { { "phy:/dev/vg/guest,xvda,w" },
        { target = "/dev/vg/guest", format = "raw", vdev = "xvda", access = "w", devtype = "disk", backendtype = "phy" } },
      { { "file:/images/g.img,xvda,w", "tap:aio:/images/g.img,xvda,w", "aio:/images/g.img,xvda,w", "/images/g.img,raw,xvda,rw" },
        { target = "/images/g.img", format = "raw", vdev = "xvda", access = "w", devtype = "disk" } },
      { { "/dev/loop0,raw,xvda,rw", "vdev=xvda,target=/dev/loop0" },
        { target = "/dev/loop0", format = "raw", vdev = "xvda", access = "w", devtype = "disk" } },
      -- target= takes the rest of the spec, commas and all: it comes last
      { { "vdev=xvdd, target=/srv/a,b.img", "raw,xvdd,rw,target=/srv/a,b.img" },
        { target = "/srv/a,b.img", format = "raw", vdev = "xvdd", access = "w", devtype = "disk" } },
      { { "tap:qcow2:/img/q.qcow2,xvdb,r", "qcow2:/img/q.qcow2,xvdb,ro", "/img/q.qcow2,qcow2,xvdb,r" },
        { target = "/img/q.qcow2", format = "qcow2", vdev = "xvdb", access = "r", devtype = "disk" } },
      { { "vhd:/img/v.vhd,xvdc,w" }, { target = "/img/v.vhd", format = "vhd", vdev = "xvdc", access = "w", devtype = "disk" } },
      { { ",,hdc:cdrom,r", "vdev=hdc,devtype=cdrom" },
        { target = "", format = "raw", vdev = "hdc", access = "r", devtype = "cdrom" } },
    }
    for _, g in ipairs(groups) do
      for _, spelling in ipairs(g[1]) do
        local d = assert.ok(devices.parse("vbd", spelling))
        for k, want in pairs(g[2]) do
          assert.equal(want, d[k], string.format("%s: %s", spelling, k))
        end
      end
    end
  end)

  it("take target= as the end of a disk spec, as xl does", function()
    -- xl-disk-configuration(5): "it consumes the whole rest of the <diskspec>"
    local none, err = devices.parse("vbd", "target=/dev/loop0,vdev=xvda")
    assert.is_nil(none)
    assert.matches("needs vdev", err)
  end)

  it("number vbds as xen-vbd-interface(7) says", function()
    assert.equal(51712, devices.vdev_devid("xvda"))
    assert.equal(51728, devices.vdev_devid("xvdb"))
    assert.equal(51713, devices.vdev_devid("xvda1"))
    assert.equal(268439552, devices.vdev_devid("xvdq"))
    assert.equal(768, devices.vdev_devid("hda"))
    assert.equal(5632, devices.vdev_devid("hdc"))
    assert.equal(2048, devices.vdev_devid("sda"))
    assert.equal(268435456 + 1048575 * 256 + 255, devices.vdev_devid("xvdbgqcv255"), "the last xvd disk and partition")
    assert.equal(268435456 + 16, devices.vdev_devid("xvda16"), "partition 16 of disk 0 needs the 1<<28 form")
    assert.equal(22 * 256 + 64 + 63, devices.vdev_devid("hdd63"))
    assert.equal(8 * 256 + 15 * 16 + 15, devices.vdev_devid("sdp15"))
  end)

  it("refuse a vdev beyond xen-vbd-interface(7)'s numbering when the spec is parsed", function()
    for vdev, want in pairs({
      xvdbgqcw = "xvdbgqcw: disk 1048576 is beyond xvd's last, 1048575",
      xvdzzzzzzzzzzzz = "xvdzzzzzzzzzzzz: disk 'zzzzzzzzzzzz' is beyond xvd's last, 1048575",
      xvda256 = "xvda256: partition 256 is beyond xvd's last, 255",
      xvda0 = "xvda0: a partition number has no leading zero (xvda alone is the whole disk)",
      hde = "hde: disk 4 is beyond hd's last, 3",
      hda64 = "hda64: partition 64 is beyond hd's last, 63",
      sdq = "sdq: disk 16 is beyond sd's last, 15",
      sda16 = "sda16: partition 16 is beyond sd's last, 15",
      hvda = "hvda: not a vdev",
    }) do
      local f, err = devices.parse("vbd", "/img," .. "raw," .. vdev .. ",rw", "disk[1]")
      assert.is_nil(f, vdev)
      assert.contains("disk[1]: vdev: " .. want, err)
    end
  end)
end)

describe("one identity per device", function()
  it("an attach of a MAC or vdev the domain already has is refused and changes nothing", function()
    local id = assert.ok(lifecycle.create({ name = "dup", memory = 16,
      disk = { "/img/a.raw,raw,xvda,rw" }, vif = { "mac=00:16:3e:12:34:56" } }))
    helpers.wait_booted(id)
    local before, recs = helpers.snapshot(), rec_devices("dup")
    for _, c in ipairs({
      { "vif", "mac=00:16:3e:12:34:56,bridge=br1", "vif: mac 00:16:3e:12:34:56: domain " .. id .. " has it already (vif 0)" },
      { "vif", "mac=00:16:3E:12:34:56", "vif: mac 00:16:3E:12:34:56: domain " .. id .. " has it already (vif 0)" },
      { "vbd", "/img/b.raw,raw,xvda,r", "vbd 51712 already exists" },
    }) do
      local devid, err = devices.attach(id, c[1], assert.ok(devices.parse(c[1], c[2])))
      assert.is_nil(devid, c[2])
      assert.contains(c[3], err)
      helpers.assert_tree_unchanged(before, "after refusing " .. c[2])
      assert.same(recs, rec_devices("dup"), "record as before")
    end
    -- another MAC is fine, and a device unplugged (its backend gone) keeps its MAC
    local devid = assert.ok(devices.attach(id, "vif", assert.ok(devices.parse("vif", "mac=00:16:3e:12:34:57"))))
    assert.ok(devices.unplug(id, "vif", devid, "test"))
    local again, err = devices.attach(id, "vif", assert.ok(devices.parse("vif", "mac=00:16:3e:12:34:57")))
    assert.is_nil(again)
    assert.contains("mac 00:16:3e:12:34:57: domain " .. id .. " has it already (vif " .. devid .. ")", err)
    -- the unplugged device itself comes back with its MAC
    assert.ok(devices.replug(id, rec_devices("dup")["vif/" .. devid], "Domain-0"))
    assert.ok(lifecycle.destroy("dup"))
  end)
end)

describe("devices in a domain config", function()
  it("are written with libxl's layout and permissions and connect once the guest runs", function()
    local id = assert.ok(lifecycle.create({ name = "dv", memory = 32,
      disk = { "/img/root.raw,raw,xvda,rw" }, vif = { "mac=00:16:3e:aa:bb:cc,bridge=xenbr0" } }))
    helpers.wait_booted(id)
    local fe = domain.path(id) .. "/device/vbd/51712"
    local bk = "/local/domain/0/backend/vbd/" .. id .. "/51712"
    assert.equal(bk, xs.read(fe .. "/backend"))
    assert.equal("0", xs.read(fe .. "/backend-id"))
    assert.equal("disk", xs.read(fe .. "/device-type"))
    assert.equal("/img/root.raw", xs.read(bk .. "/params"))
    assert.equal("w", xs.read(bk .. "/mode"))
    assert.equal("phy", xs.read(bk .. "/type"))
    assert.equal(fe, xs.read(bk .. "/frontend"))
    assert.same({ "n" .. id, "r0" }, xs.get_perms(fe))
    assert.same({ "n0", "r" .. id }, xs.get_perms(bk))
    -- libxl's note of each device (libxl__device_generic_add): frontend,
    -- backend and a copy of the backend's nodes, dom0's alone; xl destroy
    -- closes the backends it names, xl list -l keeps the devices found there
    local lp = "/libxl/" .. id .. "/device/vbd/51712"
    assert.equal(fe, xs.read(lp .. "/frontend"))
    assert.equal(bk, xs.read(lp .. "/backend"))
    for _, k in ipairs({ "params", "type", "mode", "dev", "device-type", "frontend-id", "online" }) do
      assert.equal(xs.read(bk .. "/" .. k), xs.read(lp .. "/" .. k), lp .. "/" .. k)
    end
    assert.same({ "n0" }, xs.get_perms(lp))
    local vp = "/libxl/" .. id .. "/device/vif/0"
    assert.equal(domain.path(id) .. "/device/vif/0", xs.read(vp .. "/frontend"))
    assert.equal("00:16:3e:aa:bb:cc", xs.read(vp .. "/mac"))
    assert.equal("xenbr0", xs.read(vp .. "/bridge"))
    -- the handshake completes: both ends Connected
    for _ = 1, 200 do
      if xs.read(fe .. "/state") == tostring(CONNECTED) and xs.read(bk .. "/state") == tostring(CONNECTED) then break end
      task.sleep(0.01)
    end
    assert.equal(tostring(CONNECTED), xs.read(fe .. "/state"))
    assert.equal(tostring(CONNECTED), xs.read(bk .. "/state"))
    local vifs = devices.list(id, "vif")
    assert.equal(1, #vifs)
    assert.equal("00:16:3e:aa:bb:cc", vifs[1].mac)
    assert.equal(CONNECTED, vifs[1].state)
    assert.ok(lifecycle.destroy("dv"))
    assert.falsy(xs.exists("/local/domain/0/backend/vbd/" .. id), "backend nodes removed with the domain")
  end)

  it("create and destroy with devices leave the tree as it was", function()
    assert.ok(lifecycle.create({ name = "w0", memory = 16 }))
    assert.ok(lifecycle.destroy("w0"))
    local before = helpers.snapshot()
    local id = assert.ok(lifecycle.create({ name = "dt", memory = 16, disk = { "/a,raw,xvda,rw", "/b,raw,xvdb,r" }, vif = { "" } }))
    helpers.wait_booted(id)
    assert.ok(lifecycle.destroy("dt"))
    task.sleep(0.05)
    helpers.assert_tree_unchanged(before)
    assert.equal(0, #helpers.records())
  end)
end)

describe("hotplug", function()
  it("attaches, lists and detaches a disk on a running domain, record and xenstore in step", function()
    local id = assert.ok(lifecycle.create({ name = "hp", memory = 16 }))
    helpers.wait_booted(id)
    local before = helpers.snapshot()
    local devid = assert.ok(devices.attach(id, "vbd", assert.ok(devices.parse("vbd", "/img/data.raw,raw,xvdb,rw"))))
    assert.equal(51728, devid)
    assert.not_nil(rec_devices("hp")["vbd/51728"], "in the record")
    local l = devices.list(id, "vbd")
    assert.equal(1, #l)
    assert.equal("xvdb", l[1].vdev)
    assert.equal(CONNECTED, l[1].state)
    assert.equal(CONNECTED, l[1].backend_state)
    assert.equal("/local/domain/0/backend/vbd/" .. id .. "/51728", xs.read("/libxl/" .. id .. "/device/vbd/51728/backend"))
    assert.ok(devices.detach(id, "vbd", devid))
    assert.is_nil(rec_devices("hp")["vbd/51728"], "out of the record")
    helpers.assert_tree_unchanged(before, "after detach")
    assert.ok(lifecycle.destroy("hp"))
  end)

  it("a hot-plugged disk comes back when the domain is restarted", function()
    local sup = supervisor.start()
    local id = assert.ok(lifecycle.create({ name = "rs", memory = 16, on_reboot = "restart", disk = { "/root,raw,xvda,rw" } }))
    helpers.wait_booted(id)
    assert.ok(devices.attach(id, "vbd", assert.ok(devices.parse("vbd", "/extra,raw,xvdc,r"))))
    assert.ok(sim.guest(id, "reboot"))
    local newid = assert.ok(domain.wait_name("rs", 10, id))
    helpers.wait_booted(newid)
    local vdevs = {}
    for _ = 1, 200 do
      vdevs = {}
      for _, d in ipairs(devices.list(newid, "vbd")) do vdevs[#vdevs + 1] = d.vdev .. "@" .. d.state end
      table.sort(vdevs)
      if table.concat(vdevs, ",") == "xvda@" .. CONNECTED .. ",xvdc@" .. CONNECTED then break end
      task.sleep(0.01)
    end
    assert.same({ "xvda@" .. CONNECTED, "xvdc@" .. CONNECTED }, vdevs)
    assert.ok(lifecycle.destroy("rs"))
    task.cancel(sup)
    xs.rm(supervisor.MARKER)
  end)

  it("a hung backend: attach times out and leaves nothing; detach needs force", function()
    local id = assert.ok(lifecycle.create({ name = "hb", memory = 16 }))
    helpers.wait_booted(id)
    local devid = assert.ok(devices.attach(id, "vbd", assert.ok(devices.parse("vbd", "/d1,raw,xvdb,rw"))))
    local before = helpers.snapshot()
    local recs = rec_devices("hb")
    assert.ok(sim.backend("hang"))
    local nope, err = devices.attach(id, "vbd", assert.ok(devices.parse("vbd", "/d2,raw,xvdc,rw")), { timeout = 0.3 })
    assert.is_nil(nope)
    assert.contains("no connected within", err)
    helpers.assert_tree_unchanged(before, "after a failed attach")
    assert.same(recs, rec_devices("hb"), "record as before")
    local ok, derr = devices.detach(id, "vbd", devid, { timeout = 0.3 })
    assert.is_nil(ok)
    assert.contains("did not close", derr)
    assert.not_nil(rec_devices("hb")["vbd/" .. devid], "still recorded while still in xenstore")
    assert.ok(devices.detach(id, "vbd", devid, { timeout = 0.3, force = true }))
    assert.is_nil(rec_devices("hb")["vbd/" .. devid])
    assert.ok(sim.backend("unhang"))
    assert.ok(lifecycle.destroy("hb"))
  end)
end)

describe("the record/xenstore invariant", function()
  -- every device in xenstore has an entry in the domain's record
  local function invariant(id, name)
    local recd = rec_devices(name)
    for _, d in ipairs(devices.list(id, "vbd")) do
      assert.not_nil(recd["vbd/" .. d.devid], "vbd " .. d.devid .. " is in xenstore but not in the record")
    end
  end

  it("holds when attach or detach fails at any step, and a failed step changes nothing", function()
    local id = assert.ok(lifecycle.create({ name = "inv", memory = 16 }))
    helpers.wait_booted(id)
    for _, step in ipairs({ "record", "xenstore", "handshake" }) do
      local before, recs = helpers.snapshot(), rec_devices("inv")
      devices.fail_at = step
      local ok, err = devices.attach(id, "vbd", assert.ok(devices.parse("vbd", "/x,raw,xvdd,rw")))
      assert.is_nil(ok, step)
      assert.contains("injected failure at " .. step, err)
      helpers.assert_tree_unchanged(before, "attach failing at " .. step)
      assert.same(recs, rec_devices("inv"), "record after attach failing at " .. step)
      invariant(id, "inv")
    end
    local devid = assert.ok(devices.attach(id, "vbd", assert.ok(devices.parse("vbd", "/x,raw,xvdd,rw"))))
    for _, step in ipairs({ "close", "remove" }) do
      devices.fail_at = step
      local ok, err = devices.detach(id, "vbd", devid)
      assert.is_nil(ok, step)
      assert.contains("injected failure at " .. step, err)
      invariant(id, "inv")
      assert.not_nil(rec_devices("inv")["vbd/" .. devid])
    end
    assert.ok(devices.detach(id, "vbd", devid))
    invariant(id, "inv")
    assert.ok(lifecycle.destroy("inv"))
  end)

  it("attach and detach hold the domain's slow lock; the fast lock only guards the record", function()
    local sync = require("sync")
    local id = assert.ok(lifecycle.create({ name = "lk", memory = 16 }))
    helpers.wait_booted(id)
    local slow, fast = require("domainlocks").get("lk")
    -- taking the slow lock while holding the fast one is refused, naming both
    local err = assert.error(function() sync.with(fast, function() sync.with(slow, function() end) end) end)
    assert.contains("slow lock of lk", err)
    assert.contains("record lock of lk", err)
    -- while someone holds the slow lock, an attach waits for it (and others run)
    local order = {}
    slow:lock()
    local t = task.spawn(function()
      assert(devices.attach(id, "vbd", assert(devices.parse("vbd", "/y,raw,xvde,rw"))))
      order[#order + 1] = "attached"
    end)
    task.sleep(0.1)
    order[#order + 1] = "released"
    slow:unlock()
    assert.truthy(task.join(t))
    assert.same({ "released", "attached" }, order)
    assert.ok(lifecycle.destroy("lk"))
  end)
end)

describe("the other shipped classes", function()
  it("console, vkb and 9pfs attach, connect and detach through the same engine", function()
    local id = assert.ok(lifecycle.create({ name = "oc", memory = 16,
      channel = { "name=org.luxen.test,connection=pty" }, vkb = { "backend-type=linux" },
      p9 = { "tag=share,path=/srv/share" } }))
    helpers.wait_booted(id)
    for _, class in ipairs({ "console", "vkb", "9pfs" }) do
      local l
      for _ = 1, 200 do
        l = devices.list(id, class)
        if #l == 1 and l[1].state == CONNECTED and l[1].backend_state == CONNECTED then break end
        task.sleep(0.01)
      end
      assert.equal(1, #l, class)
      assert.equal(CONNECTED, l[1].state, class .. " connected")
    end
    assert.equal(1, devices.list(id, "console")[1].devid, "console 0 is the domain's own: extra consoles start at 1")
    assert.equal("share", devices.list(id, "9pfs")[1].tag)
    assert.equal("/srv/share", devices.list(id, "9pfs")[1].path)
    for _, class in ipairs({ "console", "vkb", "9pfs" }) do
      assert.ok(devices.detach(id, class, devices.list(id, class)[1].devid))
      assert.equal(0, #devices.list(id, class))
    end
    assert.ok(lifecycle.destroy("oc"))
  end)
end)
