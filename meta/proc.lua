---@meta proc
-- LuaLS stubs for require("proc"): subprocesses that yield the task.
local proc = {}
---Run a command (a shell string, or an argv table) without blocking other tasks.
---@param cmd string|string[]
---@param opts? {timeout?: number, stdin?: string}
---@return {code: integer, stdout: string, stderr: string, seconds: number}|nil, string|nil err
function proc.run(cmd, opts) end
return proc
