-- hosts: xen
-- lab: devicemodel
-- PV guests on real Xen, in Xen's PV shim (Debian's xen-shim): the lab's
-- Debian kernel boots as a PV guest inside a PVH domain and says so
-- (/sys/hypervisor/guest_type is "PV"). luxen runs type = "pv" through the
-- shim by default and takes xl's own form (type = "pvh", pvshim = 1); xl
-- boots the same file in the same boot.
--
-- msr_relaxed = 1: without it the shim stops at boot on the lab's emulated
-- CPU (a #GP in init_amd, Xen panics "GENERAL PROTECTION FAULT"), with xl as
-- with luxen. 512 MiB: the shim puts the kernel in one power-of-two block
-- (128 MiB for Debian's), beside itself and the modules; with 256 MiB it
-- panics "Not enough RAM for domain 0 allocation", with xl too.
local time = require("time")
local task = require("task")
local lifecycle = require("lifecycle")
local records = require("records")
local helpers = require("helpers")
local xs = require("xenstore")

local sh, console, xl_names, wait_name_gone = helpers.sh, helpers.console, helpers.xl_names, helpers.wait_name_gone
local BOOT = 240

local function pv_cfg(name, extra)
  local cfg = { name = name, type = "pv", kernel = "/guest/vmlinuz", ramdisk = "/guest/initrd.gz",
    extra = "console=hvc0 luxen_action=stay", memory = 512, vcpus = 1, cpus = helpers.LAB_CPUS, msr_relaxed = true }
  for k, v in pairs(extra or {}) do cfg[k] = v end
  return cfg
end

-- wait_up(name, t0 [, from]) -> seconds from t0 until the guest's init says
-- it is up (on its console log after byte from: xl's guest of the same
-- name writes the same log)
local function wait_up(name, t0, from)
  local deadline = t0 + BOOT
  while time.monotonic() < deadline do
    local line = console(name):sub((from or 0) + 1):match("LUXEN%-GUEST%-UP[^\n]*")
    if line then return time.monotonic() - t0, line end
    task.sleep(0.5)
  end
  error(string.format("%s: not up within %ds; console:\n%s\nhypervisor:\n%s", name, BOOT, console(name):sub(-1500),
    sh("xl dmesg | tail -20")), 2)
end

assert(lifecycle.create({ name = "pv-warmup", memory = 16 }, { paused = true }))
assert(lifecycle.destroy("pv-warmup"))
local before_tree, before_xl

describe("a PV guest", function()
  before_each(function()
    task.sleep(0.2)
    before_tree = helpers.snapshot()
    before_xl = xl_names()
  end)
  after_each(function()
    helpers.assert_tree_unchanged(before_tree, "xenstore after the spec")
    assert.equal(before_xl, xl_names(), "xl list after the spec")
  end)

  it("type = \"pv\" boots Debian's kernel as PV inside the shim; destroy leaves nothing", function()
    local t0 = time.monotonic()
    local id = assert.ok(lifecycle.create(pv_cfg("pv-a")))
    local up, line = wait_up("pv-a", t0)
    assert.matches("type=PV", line, "the kernel runs as a PV guest")
    assert.matches("pv%-a", xl_names())
    assert.equal("pvh", xs.read("/libxl/" .. id .. "/type"), "to libxl the domain is PVH (the shim's)")
    local rec = records.get(records.uuid_of(id))
    assert.equal("pv", rec.config.type)
    -- the shim (a build of Xen) booted first, on the same console
    assert.truthy(console("pv-a"):find("(XEN)", 1, true), "the shim's boot messages are on the console")
    assert.ok(lifecycle.destroy("pv-a"))
    wait_name_gone("pv-a")
    print(string.format("TIMING pv-in-shim create-to-up luxen %.2fs", up))
  end, { timeout = BOOT + 60 })

  it("takes xl's form (type = \"pvh\", pvshim = 1) from the command line, and xl boots the same file", function()
    local file = helpers.file("pvx.cfg", [[
name = "pvx"
type = "pvh"
pvshim = 1
msr_relaxed = 1
kernel = "/guest/vmlinuz"
ramdisk = "/guest/initrd.gz"
extra = "console=hvc0 luxen_action=stay"
memory = 512
vcpus = 1
cpus = "1"
]])
    local t0 = time.monotonic()
    local out = sh("luxen create --no-supervisor " .. file .. "; echo rc=$?")
    assert.matches("rc=0", out, out)
    local luxen_s, line = wait_up("pvx", t0)
    assert.matches("type=PV", line)
    sh("luxen destroy pvx")
    wait_name_gone("pvx")
    -- xl, same file, same boot
    local from = #console("pvx")
    local x0 = time.monotonic()
    out = sh("xl create " .. file .. " 2>&1; echo rc=$?")
    assert.matches("rc=0", out, out)
    local xl_s, xline = wait_up("pvx", x0, from)
    assert.matches("type=PV", xline)
    sh("xl destroy pvx")
    wait_name_gone("pvx")
    print(string.format("TIMING pv-in-shim create-to-up luxen %.2fs, xl %.2fs: %.2fx xl", luxen_s, xl_s, luxen_s / xl_s))
  end, { timeout = 2 * BOOT + 60 })
end)
