---@meta _sync
-- LuaLS stubs for the native half of require("sync").

---@class sync.Mutex
local Mutex = {}
---Yield until the lock is ours; raises if taking it would break the level order.
function Mutex:lock() end
function Mutex:unlock() end
---@return boolean
function Mutex:held() end
---@return string
function Mutex:name() end

---@class sync.Queue
local Queue = {}
function Queue:push(v) end
---@return any|nil v, string|nil err "timeout" or "closed"
function Queue:pop(timeout) end
---@return integer
function Queue:len() end
function Queue:close() end

local _sync = {}
---@return sync.Mutex
function _sync.mutex(name, level) end
---@return sync.Queue
function _sync.queue() end
return _sync
