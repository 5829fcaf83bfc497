-- hosts: sim
-- PV guests run in Xen's PV shim (luxen has no native PV builder): what a
-- config gets wrong about it is refused before anything is made, and a
-- shim from Debian's xen-utils-4.17 (when $LUXEN_XEN_ROOT holds one) is
-- read and checked as the real builder reads it.
local domain = require("domain")
local lifecycle = require("lifecycle")
local helpers = require("helpers")

local refused = helpers.refused_create

local kernel = helpers.file("vmlinuz-pv", string.rep("k", 4096)) -- the shim reads it, not luxen

describe("a PV guest", function()
  it("is refused in ways that say why, and leaves nothing behind", function()
    refused({ name = "p1", type = "pv", memory = 64, kernel = kernel, pvshim = false },
      "pvshim: luxen has no native PV builder")
    refused({ name = "p2", type = "hvm", memory = 64, pvshim = true, device_model_override = "/bin/true" },
      "pvshim: the PV shim runs PV guests")
    refused({ name = "p3", type = "pvh", memory = 64, pvshim = true }, "kernel: a PV guest in the shim needs a kernel")
    refused({ name = "p4", type = "pv", memory = 64, kernel = kernel, pvshim_path = kernel },
      "PV shim .*vmlinuz%-pv: .*install xen%-utils%-4%.17 or set pvshim_path")
    local id, err = lifecycle.create({ name = "p5", type = "pv", memory = 64, kernel = kernel, pvshim_path = "/nonexistent/xen-shim" })
    assert.is_nil(id)
    assert.matches("pvshim_path: /nonexistent/xen%-shim: no such file", err)
  end)

  local root = os.getenv("LUXEN_XEN_ROOT")
  local shim = root and (root .. "/usr/lib/xen-4.17/boot/xen-shim")
  if not (shim and require("luxen").stat(shim)) then
    pending("Debian's xen-shim (xen-utils-4.17 unpacked at $LUXEN_XEN_ROOT) is not here")
    return
  end
  it("runs in Debian's xen-shim, a 32-bit PVH ELF the builder reads; to libxl the domain is PVH", function()
    local id = assert.ok(lifecycle.create({ name = "p6", type = "pv", memory = 64, kernel = kernel, pvshim_path = shim,
      cmdline = "console=hvc0" }))
    local xs = require("xenstore")
    assert.equal("pvh", xs.read("/libxl/" .. id .. "/type"))
    local rec = lifecycle.record(xs.read(domain.path(id) .. "/vm"):match("^/vm/(.*)$"))
    assert.equal("pv", rec.config.type, "the record keeps the config's type")
    assert.ok(lifecycle.destroy("p6"))
  end)
end)
