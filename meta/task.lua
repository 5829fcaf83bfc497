---@meta task
-- LuaLS stubs for require("task"): the coroutine scheduler.

---@class task.Task
local Task = {}
---@return integer
function Task:id() end
---@return string
function Task:name() end
---@return string
function Task:group() end
---@return "ready"|"waiting"|"running"|"done"|"failed"
function Task:status() end
---@return boolean
function Task:cancel() end
---@return boolean ok, any ...
function Task:join(timeout) end

local task = {}
---@return task.Task
function task.spawn(fn, ...) end
---@return task.Task
function task.spawn_in(group, name, fn, ...) end
function task.sleep(seconds) end
function task.yield() end
---@return boolean ok, any ... results, or the error / "timeout"
function task.join(t, timeout) end
---@return boolean
function task.cancel(t) end
---@return integer cancelled
function task.cancel_group(group) end
---@return boolean ok, any ...
function task.timeout(seconds, fn, ...) end
---@return task.Task|nil
function task.current() end
---@return {id: integer, name: string, group: string, state: string}[]
function task.list() end
---@return string[]
function task.reports() end
---Every live task with its group, state and current line (and, with true, every goroutine's stack).
---@return string
function task.dump(goroutines) end
return task
