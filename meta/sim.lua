---@meta sim
-- LuaLS stubs for require("sim"): the simulated host's controls (absent on real Xen).
local sim = {}
---Make a simulated guest act: "poweroff", "reboot", "crash", "watchdog" (it shuts
---itself down), "hang" (it ignores control/shutdown and the power button),
---"unhang", "nopv" (before it boots: an HVM guest without PV drivers, which
---only the ACPI power button shuts down).
---@return true|nil, string|nil errno, string|nil detail
function sim.guest(domid, action) end
---@return boolean|nil booted
function sim.booted(domid) end
---Make a simulated backend driver (dom0's, or driver domain domid's) "hang" or "unhang".
---@return true|nil, string|nil err
function sim.backend(action, domid) end
---A xenstore connection as an unprivileged domain (embedded host only).
---Its functions are the xenstore module's path operations (read, write, mkdir, rm, directory, exists, get_perms, set_perms: path first), and close.
---@return {read: function, write: function, mkdir: function, rm: function, directory: function, exists: function, get_perms: function, set_perms: function, close: function}|nil, string|nil err
function sim.xenstore_as(domid) end
return sim
