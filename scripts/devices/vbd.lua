-- vbd: virtual block devices, xl.cfg's disk = [ ... ] (xl-disk-configuration(5)).
-- A class is data: the devices engine (stdlib/lua/devices.lua) derives spec
-- parsing, validation, the xenstore layout, reading back and the record from
-- it. The one thing it runs, its hotplug step, it brings along from
-- scripts/hotplug.lua: the engine, a library module, does not load scripts.
local hotplug = require("hotplug")

return {
  class = "vbd",
  config_key = "disk",
  -- "target,format,vdev,access" when keys are not given
  positional = { "target", "format", "vdev", "access" },
  -- a bare word means this key=value
  flags = { cdrom = { devtype = "cdrom" } },
  -- xl's older forms: a target prefixed with its backend ("phy:/dev/vg/x",
  -- "file:/img") and a vdev suffixed with its type ("hdc:cdrom"); with them
  -- the format may be left out ('phy:/dev/vg/x,xvda,w', ',hdc:cdrom,r')
  affixes = {
    target = { { prefix = "phy:", sets = { backendtype = "phy" } }, { prefix = "file:", sets = { format = "raw" } },
               { prefix = "tap:aio:", sets = { format = "raw" } }, { prefix = "aio:", sets = { format = "raw" } },
               { prefix = "tap:qcow2:", sets = { format = "qcow2" } }, { prefix = "qcow2:", sets = { format = "qcow2" } },
               { prefix = "raw:", sets = { format = "raw" } }, { prefix = "qcow:", sets = { format = "qcow" } },
               { prefix = "vhd:", sets = { format = "vhd" } } },
    vdev = { { suffix = ":cdrom", sets = { devtype = "cdrom" } }, { suffix = ":disk", sets = { devtype = "disk" } } },
  },
  -- xl's libxlu_disk: a CD-ROM is read-only whatever its access says
  implies = { { when = { devtype = "cdrom" }, sets = { access = "r" } } },
  fields = {
    -- rest: target= is the spec's last key and takes the rest, commas too (xl-disk-configuration(5))
    target = { kind = "string", default = "", rest = true },
    format = { kind = "enum", values = { "raw", "qcow", "qcow2", "vhd", "qed" }, default = "raw" },
    vdev = { kind = "string", required = true, pattern = "^[hsx]v?d[a-z]+%d*$", explain = "like xvda, hdc or sdb" },
    access = { kind = "enum", values = { "r", "ro", "w", "rw" }, default = "rw" },
    devtype = { kind = "enum", values = { "disk", "cdrom" }, default = "disk" },
    backend = { kind = "string", default = "Domain-0" },
    -- luxen: where policies/failover.lua moves the device when its backend fails
    fallback = { kind = "string" },
    backendtype = { kind = "enum", values = { "phy", "qdisk", "tap" }, default = "phy" },
    script = { kind = "string" },
  },
  devid = "vdev_devid", -- the engine's xen-vbd-interface(7) numbering
  hotplug = hotplug.step("block"), -- scripts/hotplug.lua's block step, on real Xen
  frontend = {
    ["virtual-device"] = "$devid", ["device-type"] = "devtype", trusted = "=1", protocol = "=x86_64-abi",
  },
  backend = {
    params = "target", type = "backendtype", mode = "$mode", ["device-type"] = "devtype",
    removable = "$removable", bootable = "=1", dev = "vdev", script = "script",
  },
  -- libxl's libxl_device_disk, in the domain config xl reads (list = the
  -- key of the config's list; "$" a value the engine computes, typed as libxl's)
  libxl = {
    list = "disks",
    fields = {
      pdev_path = "target", vdev = "vdev", backend = "backendtype", format = "format", script = "script",
      backend_domname = "backend", readwrite = "$readwrite", is_cdrom = "$is_cdrom", removable = "$removable_int",
    },
  },
}
