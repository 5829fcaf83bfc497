---@meta luxen
local luxen = {}
---@type string
luxen.version = ""
---@type string
luxen.state_dir = ""
---@type string "xen", "sim" or "sim-served"
luxen.host = ""
---@type string[] arguments after `luxen run FILE`
luxen.args = {}
---@type string directory of the script `luxen run` started
luxen.script_dir = ""
---@type integer
luxen.pid = 0
---@return {size: integer, dir: boolean}|nil, string|nil err "ENOENT" when missing
function luxen.stat(path) end
---Test hook: ends the process at once (as kill -9) when $LUXEN_CRASH_AT names this point.
function luxen.crashpoint(name) end
---@return string a random (v4) uuid
function luxen.uuid() end
---Write a file under the state directory, atomically.
---@return true|nil, string|nil err
function luxen.state_write(relpath, text) end
---@return string|nil text, string|nil err "ENOENT" when missing
function luxen.state_read(relpath) end
---@return true|nil, string|nil err
function luxen.state_remove(relpath) end
---@return string[]|nil names, string|nil err
function luxen.state_list(reldir) end
return luxen
