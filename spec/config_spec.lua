-- hosts: sim, xen
-- Domain configs: xl.cfg and Lua table configs, defaults, and errors that name
-- file:line and leave nothing behind.
local config = require("config")
local lifecycle = require("lifecycle")
local helpers = require("helpers")

describe("xl.cfg configs", function()
  it("parse with defaults filled in", function()
    local path = helpers.file("ok.cfg", 'name = "ok"\nmemory = 96\nvcpus = 2\nextra = "console=hvc0"\nroot = "/dev/xvda1"\n')
    local cfg = assert.ok(config.load(path))
    assert.equal("ok", cfg.name)
    assert.equal(96, cfg.memory)
    assert.equal(96, cfg.maxmem, "maxmem defaults to memory")
    assert.equal(2, cfg.maxvcpus)
    assert.equal("pvh", cfg.type)
    assert.equal("destroy", cfg.on_poweroff)
    assert.equal("restart", cfg.on_reboot)
    assert.equal("root=/dev/xvda1 console=hvc0", cfg.cmdline)
  end)

  it("take key=value overrides as xl create does", function()
    local path = helpers.file("ov.cfg", 'name = "ov"\nmemory = 96\n')
    local cfg = assert.ok(config.load(path, { "memory=200", "on_crash=preserve", 'name="ov2"' }))
    assert.equal(200, cfg.memory)
    assert.equal("preserve", cfg.on_crash)
    assert.equal("ov2", cfg.name)
  end)
end)

describe("Lua table configs", function()
  it("may return a table", function()
    local path = helpers.file("t.lua", 'return { name = "lt", memory = 64, on_reboot = "destroy" }')
    local cfg = assert.ok(config.load(path))
    assert.equal("lt", cfg.name)
    assert.equal("destroy", cfg.on_reboot)
  end)

  it("may set keys as globals, and cannot reach the toolstack", function()
    local cfg = assert.ok(config.load(helpers.file("g.lua", 'name = "lg"\nmemory = 2 * 64\n')))
    assert.equal(128, cfg.memory)
    local bad, err = config.load(helpers.file("evil.lua", 'require("xen").destroy(0)\nname = "x"'))
    assert.is_nil(bad)
    assert.contains("evil.lua", err)
  end)
end)

describe("bad configs", function()
  local cases = {
    { 'name = "x"\nmemroy = 128\n', "bad.cfg:2: unknown key 'memroy' (did you mean 'memory'?)" },
    { 'name = "x"\nvcpus = 1\nmemory = "lots"\n', 'bad.cfg:3: memory: expected a number, got string "lots"' },
    { 'name = "x"\nmemory = 0\n', "bad.cfg:2: memory: 0 is below the minimum 1 MiB" },
    { 'name = "x"\non_crash = "explode"\n', 'bad.cfg:2: on_crash: "explode" is not one of: destroy, restart, rename-restart, preserve' },
    { 'name = "x"\non_crash = "coredump-destroy"\n', "bad.cfg:2: on_crash: \"coredump-destroy\" is not supported by luxen yet" },
    { 'name = "bad name!"\n', "bad.cfg:1: name: \"bad name!\" is not valid" },
    { 'memory = 64\n', "bad.cfg: missing required key 'name'" },
    { 'name = "x"\nmemory = 64\nmaxmem = 32\n', "bad.cfg:3: maxmem: 32 MiB is less than memory 64 MiB" },
    { 'name = "x"\nmemory = 64\n\nvcpus = [ 1,\n', "bad.cfg:4: unterminated list" },
    { 'name = "x"\nuuid = "nope"\n', "bad.cfg:2: uuid: expected a uuid" },
    { 'name = "x"\ndisk = [ "/img,raw,xvda,rw,extra" ]\n', "bad.cfg:2: disk[1]: unexpected 'extra' in vbd spec" },
    { 'name = "x"\ndisk = [ "/img,raw,xvda1x,rw" ]\n', "bad.cfg:2: disk[1]: vdev: \"xvda1x\" is not valid" },
    { 'name = "x"\nvif = [ "mac=zz" ]\n', "bad.cfg:2: vif[1]: mac: \"zz\" is not valid" },
    { 'name = "x"\nvfb = [ "vnc=1" ]\n', "bad.cfg:2: vfb: no device class handles it" },
  }
  for i, c in ipairs(cases) do
    it("case " .. i .. ": " .. c[2]:sub(1, 50), function()
      local path = helpers.file("bad.cfg", c[1])
      local cfg, err = config.load(path)
      assert.is_nil(cfg)
      assert.contains(c[2], err)
      assert.contains(path, err, "the error names the file")
    end)
  end

  it("fail create and leave nothing behind", function()
    local before = helpers.snapshot()
    local doms = helpers.count(helpers.domids())
    local path = helpers.file("bad2.cfg", 'name = "never"\nmemory = 64\nvcpus = "many"\n')
    local id, err = lifecycle.create(path)
    assert.is_nil(id)
    assert.contains("bad2.cfg:3: vcpus", err)
    helpers.assert_tree_unchanged(before)
    assert.equal(doms, helpers.count(helpers.domids()))
    assert.equal(0, #helpers.records())
  end)

  -- each of these is refused at parse time, naming file:line and key, and
  -- a create from it makes nothing (no domid, no xenstore node, no record)
  local refused = {
    -- domain.find (and xl's find_domain) read a number as a domid: a domain
    -- named "99" could never be named; "0" is Domain-0's domid
    { 'memory = 64\nname = "99"\n', 'bad.cfg:2: name: "99" is a number, which luxen and xl take for a domain id' },
    { 'name = "0"\n', 'bad.cfg:1: name: "0" is a number' },
    { 'name = "0x1f"\n', 'bad.cfg:1: name: "0x1f" is a number' },
    { 'name = 99\n', 'bad.cfg:1: name: 99 is a number' },
    { 'name = "' .. string.rep("n", 241) .. '"\n', "bad.cfg:1: name: 241 characters, longer than the 240 Xen's tools allow" },
    { 'name = "x"\nmemory = 64\nkernel = "/nonexistent/vmlinuz"\n', "bad.cfg:3: kernel: /nonexistent/vmlinuz: no such file or directory" },
    { 'name = "x"\nkernel = "/"\n', "bad.cfg:2: kernel: /: is a directory" },
    { 'name = "x"\ndisk = [ "/img,raw,xvdzzzzz,rw" ]\n', "bad.cfg:2: disk[1]: vdev: xvdzzzzz: disk 12356629 is beyond xvd's last, 1048575" },
    { 'name = "x"\ndisk = [ "/img,raw,xvda256,rw" ]\n', "bad.cfg:2: disk[1]: vdev: xvda256: partition 256 is beyond xvd's last, 255" },
    { 'name = "x"\ndisk = [ "/img,raw,xvda01,rw" ]\n', "bad.cfg:2: disk[1]: vdev: xvda01: a partition number has no leading zero" },
    { 'name = "x"\ndisk = [ "/img,raw,hde,rw" ]\n', "bad.cfg:2: disk[1]: vdev: hde: disk 4 is beyond hd's last, 3" },
    { 'name = "x"\ndisk = [ "/img,raw,hda64,rw" ]\n', "bad.cfg:2: disk[1]: vdev: hda64: partition 64 is beyond hd's last, 63" },
    { 'name = "x"\ndisk = [ "/img,raw,sdq,rw" ]\n', "bad.cfg:2: disk[1]: vdev: sdq: disk 16 is beyond sd's last, 15" },
    { 'name = "x"\ndisk = [ "/a,raw,xvda,rw",\n  "/b,raw,xvda,r" ]\n', "bad.cfg:2: disk[2]: vdev: xvda is disk[1]'s already" },
    { 'name = "x"\nvif = [ "mac=00:16:3e:00:00:01", "mac=00:16:3E:00:00:01,bridge=br1" ]\n',
      "bad.cfg:2: vif[2]: mac: 00:16:3E:00:00:01 is vif[1]'s already" },
  }
  for i, c in ipairs(refused) do
    it("refused " .. i .. ": " .. c[2]:sub(1, 60), function()
      local path = helpers.file("bad.cfg", c[1])
      local cfg, err = config.load(path)
      assert.is_nil(cfg)
      assert.contains(c[2], err)
      assert.contains(path .. ":", err, "the error names the file and line")
      local before = helpers.snapshot()
      local doms = helpers.count(helpers.domids())
      local id, cerr = lifecycle.create(path)
      assert.is_nil(id)
      assert.contains(c[2], cerr)
      helpers.assert_tree_unchanged(before)
      assert.equal(doms, helpers.count(helpers.domids()))
      assert.equal(0, #helpers.records())
    end)
  end

  it("a name with digits that is not a number is accepted", function()
    assert.ok(config.load(helpers.file("num.cfg", 'name = "99a"\n')))
    assert.ok(config.load(helpers.file("num2.cfg", 'name = "1-2"\n')))
  end)

  it("a name as long as Xen's tools allow is accepted", function()
    assert.ok(config.load(helpers.file("long.cfg", 'name = "' .. string.rep("n", 240) .. '"\n')))
  end)

  it("a missing ramdisk is named with its line, and a kernel or ramdisk that exists passes", function()
    local k = helpers.file("vmlinuz", "not really a kernel")
    local path = helpers.file("rd.cfg", 'name = "x"\nkernel = "' .. k .. '"\nramdisk = "/nonexistent/initrd"\n')
    local cfg, err = config.load(path)
    assert.is_nil(cfg)
    assert.contains(path .. ":3: ramdisk: /nonexistent/initrd: no such file or directory", err)
    assert.ok(config.load(helpers.file("rd2.cfg", 'name = "x"\nkernel = "' .. k .. '"\nramdisk = "' .. k .. '"\n')))
  end)

  it("a kernel that is not a kernel, or is gone by the time of the create, is named once and nothing is made", function()
    local k = helpers.file("vmlinuz", "not really a kernel")
    local path = helpers.file("k.cfg", 'name = "k"\nkernel = "' .. k .. '"\n')
    local before, doms = helpers.snapshot(), helpers.count(helpers.domids())
    local id, err = lifecycle.create(path)
    assert.is_nil(id)
    assert.contains(path .. ":2: kernel: " .. k .. ": neither an ELF image nor a Linux bzImage", err)
    assert.falsy(err:find("kernel: kernel", 1, true), err)
    -- checked when the config was read, removed before the create
    local cfg = assert.ok(config.load(path))
    assert.ok(os.remove(k))
    id, err = lifecycle.create(cfg)
    assert.is_nil(id)
    assert.contains(path .. ":2: kernel: " .. k .. ": no such file or directory", err)
    assert.falsy(err:find("kernel: kernel", 1, true), err)
    helpers.assert_tree_unchanged(before)
    assert.equal(doms, helpers.count(helpers.domids()))
    assert.equal(0, #helpers.records())
  end)

  it("a ramdisk without a kernel is refused at its line", function()
    local rd = helpers.file("initrd", "x")
    local cfg, err = config.load(helpers.file("rd3.cfg", 'name = "x"\nmemory = 64\nramdisk = "' .. rd .. '"\n'))
    assert.is_nil(cfg)
    assert.contains("rd3.cfg:3: ramdisk: a ramdisk needs a kernel", err)
  end)

  it("a Lua table config with a number for a name is refused", function()
    local id, err = lifecycle.create({ name = "42", memory = 16 })
    assert.is_nil(id)
    assert.contains('table: name: "42" is a number', err)
    assert.equal(0, #helpers.records())
  end)

  it("a Lua table config with a missing kernel is refused", function()
    local id, err = lifecycle.create({ name = "tk", memory = 16, kernel = "/nonexistent/vmlinuz" })
    assert.is_nil(id)
    assert.contains("table: kernel: /nonexistent/vmlinuz: no such file or directory", err)
    assert.equal(0, #helpers.records())
  end)

  it("a bad command-line override is blamed on the override, not on the file", function()
    local path = helpers.file("web.cfg", 'name = "web"\nmemory = 96\n')
    local cases = {
      { "memory=lots", 'command line: memory=lots: memory: expected a number, got string "lots"' },
      { "memroy=5", "command line: memroy=5: unknown key 'memroy' (did you mean 'memory'?)" },
      { "name=99", 'command line: name=99: name: 99 is a number' },
      { "maxmem=32", "command line: maxmem=32: maxmem: 32 MiB is less than memory 96 MiB" },
      { "kernel=/nonexistent/k", "command line: kernel=/nonexistent/k: kernel: /nonexistent/k: no such file or directory" },
      { 'disk=["/a,raw,hdz,rw"]', 'command line: disk=["/a,raw,hdz,rw"]: disk[1]: vdev: hdz: disk 25 is beyond hd\'s last, 3' },
    }
    for _, c in ipairs(cases) do
      local cfg, err = config.load(path, { "vcpus=1", c[1] })
      assert.is_nil(cfg, c[1])
      assert.contains(c[2], err)
      assert.falsy(err:find(path, 1, true), "the file is not blamed: " .. err)
      local id, cerr = lifecycle.create(path, { overrides = { c[1] } })
      assert.is_nil(id)
      assert.contains(c[2], cerr)
    end
    assert.equal(0, #helpers.records())
  end)

  it("xl keys luxen does not do are refused by name, with the reason", function()
    for key, value in pairs({ bootloader = '"pygrub"', seclabel = '"system_u:system_r:domU_t"', pci = '[ "01:00.0" ]',
      localtime = "1", rtc_timeoffset = "3600" }) do
      local path = helpers.file("r.cfg", 'name = "r"\nmemory = 32\n' .. key .. " = " .. value .. "\n")
      local cfg, err = config.load(path)
      assert.is_nil(cfg, key)
      assert.contains("r.cfg:3: " .. key .. ": " .. config.refused[key], err)
      assert.falsy(err:find("unknown key", 1, true), err)
    end
  end)

  it("a missing file is named", function()
    local cfg, err = config.load("/nonexistent/web.cfg")
    assert.is_nil(cfg)
    assert.contains("/nonexistent/web.cfg", err)
  end)
end)
