-- hosts: sim
-- Device models: a real QEMU (software emulation, no disk) per domain, driven
-- over QMP; CD-ROM changes under the slow and fast locks with the record
-- updated in two phases.
local qmp = require("qmp")
local proc = require("proc")
local task = require("task")
local domain = require("domain")
local lifecycle = require("lifecycle")
local devicemodel = require("devicemodel")
local helpers = require("helpers")
local policy = require("policies.restart")

local qemu = (assert(proc.run("command -v qemu-system-x86_64")).stdout):gsub("%s+$", "")
if qemu == "" then
  pending("qemu-system-x86_64 is not installed")
  return
end

local function dm_cfg(name)
  return { name = name, memory = 32, device_model_override = qemu, cdrom = { "hdc" } }
end

local function record_of(name)
  local domid = assert(domain.find(name))
  local vm = require("xenstore").read(domain.path(domid) .. "/vm")
  return lifecycle.record(vm:match("^/vm/(.*)$"))
end

-- processes whose command line contains needle (read from /proc in Lua, so
-- the search does not find itself)
local function processes_with(needle)
  local found = {}
  local ls = assert(proc.run({ "ls", "/proc" }))
  for pid in ls.stdout:gmatch("%d+") do
    local f = io.open("/proc/" .. pid .. "/cmdline")
    if f then
      local cmd = f:read("*a") or ""
      f:close()
      if cmd:find(needle, 1, true) then found[#found + 1] = pid end
    end
  end
  return found
end

local function qemu_alive(sock) return #processes_with("unix:" .. sock .. ",") > 0 end

-- QEMU serves one QMP client at a time: look, then let go
local function media(sock)
  local m = assert.ok(qmp.connect(sock))
  local md = assert.ok(devicemodel.media(m))
  m:close()
  return md
end

local iso = helpers.file("disc.iso", string.rep("\0", 64 * 1024))
local iso2 = helpers.file("other.iso", string.rep("\1", 64 * 1024))

describe("a device model", function()
  it("starts with the domain, answers QMP, and is gone after destroy", function()
    local id = assert.ok(lifecycle.create(dm_cfg("dm1")))
    local rec = record_of("dm1")
    assert.not_nil(rec.dm, "recorded")
    assert.truthy(qemu_alive(rec.dm.socket))
    local m = assert.ok(qmp.connect(rec.dm.socket))
    local st = assert.ok(m:execute("query-status"))
    assert.equal("prelaunch", st.status)
    assert.same({ hdc = "" }, assert.ok(devicemodel.media(m)))
    m:close()
    assert.ok(lifecycle.destroy("dm1"))
    assert.falsy(qemu_alive(rec.dm.socket), "QEMU left behind")
  end)

  it("inserts and ejects a CD-ROM, and the record follows what QEMU has", function()
    assert.ok(lifecycle.create(dm_cfg("dm2")))
    local sock = record_of("dm2").dm.socket
    assert.ok(devicemodel.cd_insert("dm2", "hdc", iso))
    assert.same({ target = iso }, record_of("dm2").dm.media.hdc)
    assert.equal(iso, media(sock).hdc)
    assert.ok(devicemodel.cd_insert("dm2", "hdc", iso2))
    assert.equal(iso2, media(sock).hdc)
    assert.ok(devicemodel.cd_eject("dm2", "hdc"))
    assert.equal("", media(sock).hdc)
    assert.same({ target = "" }, record_of("dm2").dm.media.hdc)
    assert.ok(lifecycle.destroy("dm2"))
  end)

  it("a failed insert leaves the record describing what QEMU actually has", function()
    assert.ok(lifecycle.create(dm_cfg("dm3")))
    assert.ok(devicemodel.cd_insert("dm3", "hdc", iso))
    -- a file QEMU cannot open as raw: QEMU refuses, the old medium stays
    local dir = helpers.file("adir/x", "x"):gsub("/x$", "")
    local ok, err = devicemodel.cd_insert("dm3", "hdc", dir)
    assert.is_nil(ok)
    assert.matches("cd%-insert hdc", err)
    assert.same({ target = iso }, record_of("dm3").dm.media.hdc)
    -- errors that need no QEMU at all
    local ok2, err2 = devicemodel.cd_insert("dm3", "hdd", iso)
    assert.is_nil(ok2)
    assert.contains("no CD-ROM drive hdd (it has: hdc)", err2)
    local ok3, err3 = devicemodel.cd_insert("dm3", "hdc", "/nonexistent.iso")
    assert.is_nil(ok3)
    assert.contains("/nonexistent.iso", err3)
    -- QEMU killed: the record says the medium is unknown rather than lying
    local rec = record_of("dm3")
    assert.ok(qmp.kill_qemu(rec.dm.pid, rec.dm.socket))
    local ok4, err4 = devicemodel.cd_eject("dm3", "hdc")
    assert.is_nil(ok4)
    assert.matches("unreachable", err4)
    assert.matches("unreachable", record_of("dm3").dm.media.hdc.unknown)
    assert.ok(lifecycle.destroy("dm3"))
  end)

  it("a restarted guest's CD-ROM has the medium it last had, not its config's", function()
    local cfg = dm_cfg("dm5")
    cfg.on_reboot = "restart"
    local id = assert.ok(lifecycle.create(cfg))
    assert.ok(devicemodel.cd_insert("dm5", "hdc", iso2))
    assert.ok(require("xen").shutdown(id, "reboot"))
    assert.equal("restart", assert.ok(policy.handle(id)))
    local id2 = assert.ok(domain.find("dm5"))
    assert.truthy(id2 ~= id, "a new domain")
    local rec = record_of("dm5")
    assert.same({ target = iso2 }, rec.dm.media.hdc)
    assert.equal(iso2, media(rec.dm.socket).hdc, "what QEMU has")
    -- a last medium that has gone since: the guest still comes back, its
    -- drive empty, and its log says why
    local gone = helpers.file("gone.iso", string.rep("\2", 64 * 1024))
    assert.ok(devicemodel.cd_insert("dm5", "hdc", gone))
    assert.ok(os.remove(gone))
    assert.ok(require("xen").shutdown(id2, "reboot"))
    assert.equal("restart", assert.ok(policy.handle(id2)))
    rec = record_of("dm5")
    assert.same({ target = "" }, rec.dm.media.hdc)
    assert.equal("", media(rec.dm.socket).hdc)
    local f = assert(io.open(require("log").path("dm5")))
    assert.contains("its last medium " .. gone .. " is gone; the drive starts empty", f:read("*a"))
    f:close()
    assert.ok(lifecycle.destroy("dm5"))
  end)

  it("1000 QMP commands in flight from 50 tasks all get their own answers", function()
    assert.ok(lifecycle.create(dm_cfg("dm4")))
    local m = assert.ok(qmp.connect(record_of("dm4").dm.socket))
    local ts = {}
    for i = 1, 50 do
      ts[i] = task.spawn(function()
        for _ = 1, 20 do
          local st = assert(m:execute("query-status"))
          assert(st.status == "prelaunch", st.status)
        end
        return true
      end)
    end
    for i = 1, 50 do
      local ok, res = task.join(ts[i])
      assert.truthy(ok and res, tostring(res))
    end
    m:close()
    assert.ok(lifecycle.destroy("dm4"))
  end, { timeout = 120 })

  it("leaves no QEMU behind when a destroy races a create", function()
    local outcomes = {}
    for i = 1, 12 do
      local name = "race" .. i
      local creator = task.spawn(function() return lifecycle.create(dm_cfg(name)) end)
      -- destroy once the domain has a name, after a delay that grows each
      -- round, so the destroy lands at different steps of the create
      local destroyer = task.spawn(function()
        for _ = 1, 2000 do
          if domain.find(name) then
            task.sleep((i - 1) * 0.004)
            return lifecycle.destroy(name)
          end
          task.yield()
        end
      end)
      local _, created = task.join(creator)
      outcomes[created and "create won" or "create rolled back"] = true
      task.join(destroyer)
      if domain.find(name) then assert.ok(lifecycle.destroy(name)) end
    end
    assert.same({}, processes_with(require("luxen").state_dir .. "/dm/"), "device models left running")
    print("      race outcomes: " .. table.concat((function() local t = {} for k in pairs(outcomes) do t[#t + 1] = k end table.sort(t) return t end)(), ", "))
    assert.equal(0, #helpers.records(), "records left")
  end, { timeout = 180 })
end)
