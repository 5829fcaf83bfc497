-- hosts: sim
-- luxen save and luxen restore on the simulated host, through the same
-- scripts as on Xen: a guest saved comes back with its name, uuid and
-- devices and answers control/shutdown; a bad file, a site's pre_restore
-- and a saved domain still running stop a restore with nothing made.
local xen = require("xen")
local xs = require("xenstore")
local sim = require("sim")
local luxen = require("luxen")
local lifecycle = require("lifecycle")
local records = require("records")
local domain = require("domain")
local helpers = require("helpers")

local function up(name)
  local id = assert.ok(lifecycle.create({ name = name, memory = 32, vcpus = 2,
    disk = { "/img/" .. name .. ".raw,raw,xvda,rw" }, vif = { "mac=00:16:3e:44:00:01" } }))
  helpers.wait_until(function() return sim.booted(id) end, 5, name .. " booted")
  return id
end

local connected = helpers.connected

local function copy(from, to, edit)
  local f = assert(io.open(from, "rb"))
  local data = f:read("*a")
  f:close()
  local g = assert(io.open(to, "wb"))
  g:write(edit(data))
  g:close()
  return to
end

describe("luxen restore", function()
  it("brings a saved guest back with its name, uuid, memory and devices, and it answers shutdown", function()
    local id = up("rs1")
    local uuid = assert(records.uuid_of(id))
    helpers.wait_until(function() return connected(id) end, 5, "rs1's devices connected")
    local path = helpers.file("rs1.save", "")
    local res = assert.ok(lifecycle.save("rs1", path))
    assert.is_nil(domain.find("rs1"), "destroyed after the save")
    local tree = helpers.snapshot()
    -- the file is xl's format, of the simulated guest's frames (no contents)
    local info = assert.ok(luxen.save_info(path))
    assert.equal("x86 HVM", info.domain_type)
    assert.equal(32 * 256, info.pfns)
    assert.equal(0, info.pages)
    assert.equal(res.bytes, info.bytes)
    assert.matches('"name": ?"rs1"', info.config)

    local rid, r = lifecycle.restore(path)
    assert.truthy(rid, r)
    assert.equal(32 * 256, r.pfns)
    assert.equal(rid, domain.find("rs1"))
    assert.equal(uuid, records.uuid_of(rid), "the same uuid")
    assert.equal("/vm/" .. uuid, xs.read(domain.path(rid) .. "/vm"))
    assert.equal(32 * 1024, xen.info(rid).memory_kb, "its memory populated again")
    local rec = records.get(uuid)
    assert.equal(2, helpers.count(rec.devices), "its disk and vif in the record")
    assert.equal(2, rec.config.vcpus)
    helpers.wait_until(function() return connected(rid) end, 5, "the restored guest's devices connected")
    helpers.wait_until(function() return sim.booted(rid) end, 5, "the restored guest up")
    assert.ok(lifecycle.shutdown("rs1", { wait = true, timeout = 5 }))
    assert.ok(lifecycle.destroy("rs1"))
    helpers.assert_tree_unchanged(tree, "xenstore after the restored guest was destroyed")
    os.remove(path)
  end)

  it("refuses a truncated or corrupted file, naming the offset, and leaves nothing behind", function()
    local id = up("rs2")
    local uuid = assert(records.uuid_of(id))
    local path = helpers.file("rs2.save", "")
    assert.ok(lifecycle.save("rs2", path))
    local tree = helpers.snapshot()
    local cut = copy(path, path .. ".cut", function(d) return d:sub(1, #d - 100) end)
    local none, err = lifecycle.restore(cut)
    assert.is_nil(none)
    assert.matches("offset %d+", err)
    assert.is_nil(domain.find("rs2"))
    assert.is_nil(records.get(uuid), "no record")
    helpers.assert_tree_unchanged(tree, "xenstore after a truncated file's restore")
    -- a libxl record type no stream has in place of libxl's END, the last 8 bytes
    local bad = copy(path, path .. ".bad", function(d) return d:sub(1, #d - 8) .. "\x09\0\0\0\0\0\0\0" end)
    none, err = lifecycle.restore(bad)
    assert.is_nil(none)
    assert.matches("offset %d+", err)
    assert.is_nil(domain.find("rs2"))
    helpers.assert_tree_unchanged(tree, "xenstore after a corrupted file's restore")
    none, err = lifecycle.restore(path .. ".none")
    assert.is_nil(none)
    assert.matches("rs2%.save%.none", err)
    os.remove(cut)
    os.remove(bad)
    os.remove(path)
  end)

  it("runs a site's pre_restore first, and refuses while the domain saved runs", function()
    local id = up("rs3")
    local path = helpers.file("rs3.save", "")
    assert.ok(lifecycle.save("rs3", path, { keep = true }))
    assert.equal(id, domain.find("rs3"), "save -c leaves it running")
    local tree = helpers.snapshot()
    local seen
    lifecycle.pre_restore = function(p, cfg)
      seen = cfg.name
      return nil, "not on this host"
    end
    local none, err = lifecycle.restore(path)
    lifecycle.pre_restore = nil
    assert.is_nil(none)
    assert.equal("rs3", seen)
    assert.matches("restore rs3: pre_restore: not on this host", err)
    none, err = lifecycle.restore(path)
    assert.is_nil(none)
    assert.matches("domain rs3 %(domid " .. id .. "%) has uuid .* and runs: destroy it first", err)
    helpers.assert_tree_unchanged(tree, "xenstore after the refused restores")
    -- with a config file of another name, as xl restore CONFIG FILE: the saved uuid is still the running one's
    local cfg = helpers.file("rs3b.cfg", 'name = "rs3b"\nmemory = 32\n')
    none, err = lifecycle.restore(path, { config = cfg })
    assert.is_nil(none)
    assert.matches("has uuid .* and runs", err)
    assert.ok(lifecycle.destroy("rs3"))
    local rid = assert.ok(lifecycle.restore(path, { config = cfg, paused = true }))
    assert.equal(rid, domain.find("rs3b"))
    assert.truthy(xen.info(rid).paused, "-p leaves it paused")
    assert.ok(lifecycle.destroy("rs3b"))
    os.remove(path)
  end)

  it("reads libxl's config as xl writes it into luxen's keys, devices through their classes' declarations", function()
    local libxlcfg = require("libxlcfg")
    local config = require("config")
    -- as xl save writes a PVH guest xl made (libxl's JSON leaves out what is at its default)
    local xl = require("json").decode([==[{
      "c_info": { "type": "pvh", "name": "xlg", "uuid": "6c0b0b3e-5d5d-4c1e-9a0e-2b1f3c4d5e6f", "run_hotplug_scripts": "True" },
      "b_info": { "max_vcpus": 2, "avail_vcpus": [0], "max_memkb": 262144, "target_memkb": 131072,
        "vcpu_hard_affinity": [[1, 2], [1, 2]], "sched_params": { "weight": 512 },
        "kernel": "/boot/vmlinuz", "cmdline": "console=hvc0", "type.pvh": { "pvshim": "False" }, "arch_x86": { "msr_relaxed": "False" } },
      "disks": [ { "pdev_path": "/dev/vg/xlg", "vdev": "xvda", "backend": "phy", "format": "raw", "readwrite": 1 },
                 { "pdev_path": "/srv/iso/a,b.iso", "vdev": "xvdb", "backend": "qdisk", "format": "raw" } ],
      "nics": [ { "devid": 0, "mac": "00:16:3e:01:02:03", "bridge": "xenbr1", "script": "vif-bridge", "nictype": "vif" } ],
      "on_poweroff": "destroy", "on_reboot": "restart", "on_crash": "preserve" }]==])
    xl.b_info.kernel = helpers.file("xlg-vmlinuz", "") -- checked to be there, not read
    local t = assert.ok(libxlcfg.to_config(xl))
    local cfg, err = config.from_table(t, "xl's config")
    assert.truthy(cfg, err)
    assert.equal("xlg", cfg.name)
    assert.equal("6c0b0b3e-5d5d-4c1e-9a0e-2b1f3c4d5e6f", cfg.uuid)
    assert.equal("pvh", cfg.type)
    assert.equal(128, cfg.memory)
    assert.equal(256, cfg.maxmem)
    assert.equal(1, cfg.vcpus)
    assert.equal(2, cfg.maxvcpus)
    assert.same({ 1, 2 }, cfg.cpus.all)
    assert.equal(512, cfg.cpu_weight)
    assert.equal("preserve", cfg.on_crash)
    assert.equal(2, #cfg.disk)
    assert.equal("/dev/vg/xlg", cfg.disk[1].target)
    assert.matches("^r?w$", cfg.disk[1].access)
    assert.equal("/srv/iso/a,b.iso", cfg.disk[2].target, "a target with a comma")
    assert.matches("^ro?$", cfg.disk[2].access, "no readwrite: read-only")
    assert.equal("qdisk", cfg.disk[2].backendtype)
    assert.equal("00:16:3e:01:02:03", cfg.vif[1].mac)
    assert.equal("xenbr1", cfg.vif[1].bridge)
    assert.equal(0, cfg.vif[1].devid)
    -- what luxen writes reads back the same
    local back = assert.ok(libxlcfg.to_config(libxlcfg.config({ name = "xlg", uuid = cfg.uuid, config = cfg, devices = {
      a = { class = "vbd", fields = cfg.disk[1], devid = 51712 }, b = { class = "vif", fields = cfg.vif[1], devid = 0 } } }, 999)))
    local bcfg = assert.ok(config.from_table(back, "back"))
    assert.same(cfg.disk[1], bcfg.disk[1])
    assert.same(cfg.vif[1], bcfg.vif[1])
    assert.same(cfg.cpus, bcfg.cpus)
    -- an HVM guest's is refused, as are devices luxen has no class for
    xl.c_info.type = "hvm"
    local none, rerr = libxlcfg.to_config(xl)
    assert.is_nil(none)
    assert.matches("c_info.type hvm: luxen restores PVH guests only", rerr)
    xl.c_info.type = "pvh"
    xl.pcidevs = { { domain = 0, bus = 3 } }
    none, rerr = libxlcfg.to_config(xl)
    assert.matches("pcidevs: the saved guest has devices luxen does not restore", rerr)
  end)
end)
