---@meta time
-- LuaLS stubs for require("time"): wall and monotonic clocks.
local time = {}
---@return number seconds since the epoch
function time.now() end
---@return number seconds on a clock that never goes back
function time.monotonic() end
---@return string RFC 3339, UTC
function time.format(t) end
---Yields the task (the same as task.sleep).
function time.sleep(seconds) end
return time
