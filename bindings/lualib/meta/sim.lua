---@meta sim
-- LuaLS stubs for require("sim"): the simulated host's controls (absent on real Xen).
local sim = {}
---Make a simulated guest act: "poweroff", "reboot", "crash", "watchdog" (it shuts
---itself down), "hang" (it ignores control/shutdown), "unhang".
---@return true|nil, string|nil errno, string|nil detail
function sim.guest(domid, action) end
---@return boolean|nil booted
function sim.booted(domid) end
return sim
