--- domainlocks: the two locks every domain has, shared by everything in this
--- Lua state that changes a domain's devices.
--
--   local slow, fast = require("domainlocks").get(name)
--
-- slow is held across slow work (QMP calls, the device handshake, hotplug
-- scripts); fast only while the domain's JSON record is read and written.
-- slow is outside fast in the hierarchy: taking slow while holding fast raises
-- an error naming both (sync's lock levels).
local sync = require("sync")

local M = {}
local locks = {}

function M.get(name)
  local l = locks[name]
  if not l then
    l = { slow = sync.mutex("slow lock of " .. name, sync.SLOW),
          fast = sync.mutex("record lock of " .. name, sync.FAST) }
    locks[name] = l
  end
  return l.slow, l.fast
end

return M
