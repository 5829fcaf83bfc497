---@meta evtchn
-- LuaLS stubs for require("evtchn"): event channels (bind, notify, wait for a kick).

---@class evtchn.Handle
local Handle = {}
---@return integer|nil port, string|nil errno, string|nil detail
function Handle:bind_unbound(remote_domid) end
---@return integer|nil port, string|nil errno, string|nil detail
function Handle:bind_interdomain(remote_domid, remote_port) end
---@return integer|nil port, string|nil errno, string|nil detail
function Handle:bind_virq(virq) end
---@return integer|nil, string|nil errno, string|nil detail
function Handle:unbind(port) end
---@return integer|nil, string|nil errno, string|nil detail
function Handle:notify(port) end
---Yield until the port fires; nil, "timeout" if it does not in time.
---@param timeout? number
---@return true|nil, string|nil err
function Handle:wait(port, timeout) end
---@return true|nil, string|nil err
function Handle:close() end

local evtchn = {}
---@return evtchn.Handle|nil, string|nil errno
function evtchn.open() end

return evtchn
