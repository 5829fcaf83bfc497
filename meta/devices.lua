---@meta devices
-- LuaLS stubs for require("devices") (stdlib/lua/devices.lua): the one engine
-- behind every device class (scripts/devices/*.lua declare them as data).
local devices = {}

---The device classes in the order a config's devices are attached.
---@type string[]
devices.CLASSES = {}
---Seconds for one handshake step (attach's connect, detach's close-down).
---@type number
devices.TIMEOUT = 10
---Seconds an unplug waits for the guest to let go of the event channels its
---frontend published (Linux's xenbus keeps its old device if a node at the
---same path is made again before it handled the removal).
---@type number
devices.RELEASE_TIMEOUT = 10
---XenbusState numbers (xen/include/public/io/xenbus.h): the one Lua table of them.
---@type {Initialising: integer, InitWait: integer, Initialised: integer, Connected: integer, Closing: integer, Closed: integer}
devices.STATE = {}
---xen-vbd-interface(7)'s limits for each vdev prefix.
---@type table<string, {disks: integer, parts: integer}>
devices.VDEV_LIMITS = {}
---Fields that must differ between two devices of a class in one domain (vdev, mac).
---@type table<string, string[]>
devices.UNIQUE = {}
---Spec hook: the next attach or detach fails at this step ("record", "xenstore", "handshake", "close", "remove").
---@type string|nil
devices.fail_at = nil

---@class devices.Listed
---@field devid integer
---@field state integer the frontend's XenbusState
---@field backend_state integer
---@field backend string the backend directory
---@field backend_id integer|nil
---and the class's fields read back (vdev, target, mac, bridge, ...)

---Add a class (a module devices.<name>, i.e. scripts/devices/<name>.lua) to CLASSES.
---@param name string
function devices.register(name) end

---The class declaration (raises for an unknown class: misuse).
---@param name string
---@return table class {class, config_key, fields, frontend, backend, hotplug?, ...}
function devices.class(name) end

---The class whose config key this is ("disk" -> "vbd").
---@param key string
---@return string|nil class
function devices.by_config_key(key) end

---xen-vbd-interface(7) numbering: "xvda" -> 51712.
---@param vdev string
---@return integer|nil devid, string|nil err why the name is out of range
function devices.vdev_devid(vdev) end

---Parse an xl spec string ("/img,raw,xvda,rw" or "target=...,vdev=...").
---@param name string class
---@param spec string
---@param where? string what to name in errors ("disk[2]")
---@return table|nil fields, string|nil err
function devices.parse(name, spec, where) end

---Validate a table of fields against the class (defaults filled in).
---@param name string class
---@param raw table
---@param where? string
---@return table|nil fields, string|nil err
function devices.validate(name, raw, where) end

---The unique field two devices' fields share, if any ("vdev", "mac", "devid").
---@param name string class
---@param a table fields
---@param b table fields
---@return string|nil field
function devices.clash(name, a, b) end

---Whether a record's devices already hold one with f's unique fields.
---@param devs table<string, records.Device> a record's devices
---@param domid integer
---@param name string class
---@param f table fields
---@param self? integer a devid not to compare with (a replug)
---@return string|nil err "vif: mac ...: domain 3 has it already (vif 0)"
function devices.duplicate(devs, domid, name, f, self) end

---The xenstore nodes of a device (libxl's layout), its two directories, and
---libxl's note of it (/libxl/D/device/KIND/DEVID: frontend, backend and a
---copy of the backend's nodes, which xl destroy and xl list -l read).
---@param domid integer
---@param be integer backend domid
---@param name string class
---@param f table fields
---@param devid integer
---@return table<string, string> nodes, string frontend, string backend, string|nil libxl
function devices.layout(domid, be, name, f, devid) end

---Runs the hotplug "remove" of each device a destroyed domain's record
---lists (dom0's loop device for a file goes; blkback's hold on it makes the
---kernel detach it once released), before the domain's nodes are removed.
---@param domid integer
---@param devs table<string, table> the record's devices
---@param name? string the domain's name, for its log
---@return true
function devices.release(domid, devs, name) end

---Where libxl keeps its note of a device; nil for a class without a libxl declaration.
---@param domid integer
---@param name string class
---@param devid integer
---@return string|nil path "/libxl/3/device/vbd/51712"
function devices.libxl_path(domid, name, devid) end

---The device as libxl's domain config lists it (xl list -l, xl save), from the class's libxl declaration.
---@param name string class
---@param f table fields
---@param devid integer
---@return string|nil list the config's key ("disks", "nics"); nil for a class that declares none
---@return table|nil entry libxl_device_disk / libxl_device_nic as JSON values
function devices.libxl(name, f, devid) end
---A device of libxl's domain config (an entry of "disks" or "nics") as the
---spec string its class's config key takes: the class's libxl declaration
---read backwards.
---@param list_key string
---@param entry table
---@return string|nil class, string spec_or_err
function devices.from_libxl(list_key, entry) end

---Attach: record first, then xenstore in one transaction, hotplug, handshake.
---A failure leaves the record and xenstore as they were.
---@param domid integer
---@param name string class
---@param f table fields
---@param opts? {wait?: "connected"|"initwait"|false, timeout?: number, devid?: integer, entry?: records.Device}
---@return integer|nil devid, string|nil err
function devices.attach(domid, name, f, opts) end

---attach with the domain's slow lock already held.
---@return integer|nil devid, string|nil err
function devices.attach_locked(domid, name, f, opts) end

---Detach: online=0 and Closing, wait for Closed, remove nodes, then the record entry.
---@param domid integer
---@param name string class
---@param devid integer
---@param opts? {timeout?: number, force?: boolean}
---@return true|nil ok, string|nil err
function devices.detach(domid, name, devid, opts) end

---detach with the domain's slow lock already held.
---@return true|nil ok, string|nil err
function devices.detach_locked(domid, name, devid, opts) end

---Remove a device's nodes but keep its record entry, marked disconnected (its
---backend died); returns once the guest has let go of the device's event
---channels, or after RELEASE_TIMEOUT.
---@param domid integer
---@param name string class
---@param devid integer
---@param why? string
---@return true
function devices.unplug(domid, name, devid, why) end

---Plug a recorded device back in, served by backend (a domain name).
---@param domid integer
---@param entry records.Device
---@param backend string
---@param opts? {wait?: "connected"|"initwait"|false, timeout?: number}
---@return integer|nil devid, string|nil err
function devices.replug(domid, entry, backend, opts) end

---Serve a recorded device from another backend from now on (`luxen
---block-move`): the record's configured backend changes first, then the
---device is unplugged and plugged into the new backend, waiting for the
---handshake. A move that does not connect leaves it recorded, disconnected.
---@param domid integer
---@param name string the class ("vbd", "vif")
---@param devid integer
---@param backend string a domain name
---@param opts? {timeout?: number}
---@return integer|nil devid, string|nil err
function devices.move(domid, name, devid, backend, opts) end

---A domain's devices of a class, read back from xenstore, by devid.
---@param domid integer
---@param name string class
---@return devices.Listed[]
function devices.list(domid, name) end

return devices
