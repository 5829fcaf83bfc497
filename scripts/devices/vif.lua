-- vif: virtual network interfaces, xl.cfg's vif = [ ... ] (xl-network-configuration(5)).
-- its hotplug step is scripts/hotplug.lua's (see vbd.lua)
local hotplug = require("hotplug")

return {
  class = "vif",
  config_key = "vif",
  positional = {},
  fields = {
    mac = { kind = "string", pattern = "^%x%x:%x%x:%x%x:%x%x:%x%x:%x%x$", explain = "six hex pairs", default = "$random_mac" },
    bridge = { kind = "string", default = "xenbr0" },
    ip = { kind = "string" },
    script = { kind = "string", default = "vif-bridge" },
    vifname = { kind = "string" },
    backend = { kind = "string", default = "Domain-0" },
    -- luxen: where policies/failover.lua moves the device when its backend fails
    fallback = { kind = "string" },
    rate = { kind = "string" },
    mtu = { kind = "integer", min = 68, max = 65535, default = 1500 },
    devid = { kind = "integer", min = 0, max = 1023 },
    type = { kind = "enum", values = { "vif", "ioemu" }, default = "vif" },
  },
  devid = "next", -- the lowest free index, or devid=
  hotplug = hotplug.step("vif"), -- scripts/hotplug.lua's vif step, on real Xen
  frontend = { handle = "$devid", mac = "mac", mtu = "mtu", trusted = "=1" },
  backend = {
    script = "script", vifname = "vifname", mac = "mac", ip = "ip", bridge = "bridge",
    handle = "$devid", type = "type", rate = "rate", mtu = "mtu",
  },
  -- libxl's libxl_device_nic (see vbd.lua)
  libxl = {
    list = "nics",
    fields = {
      devid = "$devid_int", mac = "mac", ip = "ip", bridge = "bridge", ifname = "vifname", script = "script",
      mtu = "mtu", backend_domname = "backend", nictype = "$nictype",
    },
  },
}
