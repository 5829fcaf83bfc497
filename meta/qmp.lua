---@meta qmp
-- LuaLS stubs for require("qmp"): QEMU's machine protocol.

---@class qmp.Events
local Events = {}
---@return {event: string, data: table, timestamp: number}|nil, string|nil err
function Events:wait(timeout) end
function Events:stop() end

---@class qmp.Monitor
local Monitor = {}
---Run a command; QEMU's errors come back as nil, class, description.
---@return table|true|nil result, string|nil class, string|nil desc
function Monitor:execute(cmd, args, timeout) end
---Open path (read-only) in luxen and pass the descriptor to QEMU with add-fd
---(SCM_RIGHTS); QEMU then opens it as "/dev/fdset/" .. fdset_id.
---@param path string
---@param timeout? number
---@return {fdset_id: integer, fd: integer}|nil, string|nil class, string|nil desc
function Monitor:add_fd(path, timeout) end
---@param names? string[]
---@return qmp.Events
function Monitor:events(names) end
function Monitor:close() end

local qmp = {}
---@return qmp.Monitor|nil, string|nil err
function qmp.connect(path, timeout) end
---@class qmp.StartOptions
---@field pass_socket? boolean bind the QMP socket here and give QEMU the descriptor (fd 3)
---@field rlimits? table<"fsize"|"core"|"msgqueue"|"locks"|"memlock"|"nproc"|"nofile", integer>

---Start a detached QEMU with a QMP socket; returns once it answers on QMP.
---Its output goes to the file log when one is given (the previous run's
---log is kept as log.1, log.2, ...).
---@param binary string
---@param socket string
---@param args string[]
---@param timeout? number seconds
---@param log? string
---@param opts? qmp.StartOptions
---@return integer|nil pid, string|nil err
function qmp.start_qemu(binary, socket, args, timeout, log, opts) end
---Kill the QEMU with this pid if it serves QMP at socket (its command line
---names it, or it holds the socket).
---@return boolean|nil killed, string|nil err
function qmp.kill_qemu(pid, socket) end
return qmp
