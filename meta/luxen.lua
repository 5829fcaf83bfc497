---@meta luxen
-- LuaLS stubs for require("luxen"): this luxen and its host: version, state and log places, the record files, the script arguments.
local luxen = {}
---@type string
luxen.version = ""
---@type string
luxen.state_dir = ""
---@type string "xen", "sim" or "sim-served"
luxen.host = ""
---@type {sysname: string, nodename: string, release: string, version: string, machine: string} uname(2) of the machine luxen runs on (dom0 on real Xen)
luxen.uname = {}
---@type string[] arguments after `luxen run FILE`
luxen.args = {}
---@type string directory of the script `luxen run` started
luxen.script_dir = ""
---@type string where the supervisor's request socket goes (/run/luxen on real Xen)
luxen.runtime_dir = ""
---@type string libxl's directory for userdata files (each domain's stored config, which xl reads): /var/lib/xen on real Xen, STATE/libxl on a simulated host
luxen.libxl_dir = ""
---@type {state_dir: string, supervisor: string, creating: string, saving: string} the host-wide xenstore nodes luxen keeps under /tool/luxen
luxen.nodes = {}
---@type integer
luxen.pid = 0
---@type string this process's start time (/proc/PID/stat field 22): with pid, names it even after pid reuse
luxen.pid_start = ""
---@type integer this process's effective uid
luxen.uid = 0
---Run fn (as a task; errors are logged) when this Lua state closes, last given first.
---@param fn fun()
function luxen.at_close(fn) end
---Does process pid (started at start, if given) still run? A zombie does not.
---@param pid integer
---@param start? string
---@return boolean
function luxen.alive(pid, start) end
---@return {size: integer, dir: boolean}|nil, string|nil err "ENOENT" when missing
function luxen.stat(path) end
---Reads an xl save file whole and checks it as Xen's verify-stream-v2 does,
---restoring nothing: its config (libxl's domain config JSON), the libxc
---stream's domain type and Xen version, its records by name, the libxl
---records in order, the pfns and pages it carries, its HVM params by index.
---A bad file is nil and an error naming the offset and record at fault.
---@param path string
---@return {config: string, domain_type: string, xen: string, image_version: integer, pfns: integer, pages: integer, max_pfn: integer, bytes: integer, records: table<string, integer>, libxl: string[], params: table<integer, number>}|nil, string|nil err
function luxen.save_info(path) end
---Reads only a save file's xl header: the config it carries (libxl's
---domain config JSON), which a restore starts from. A bad header is nil and
---an error naming the offset.
---@param path string
---@return string|nil json, string|nil err
function luxen.save_config(path) end
---An account of this host, from its user database (/etc/passwd).
---@param name string
---@return {name: string, uid: integer, gid: integer}|nil, string|nil err
function luxen.user(name) end
---Test hook: ends the process at once (as kill -9) when $LUXEN_CRASH_AT names this point.
function luxen.crashpoint(name) end

---Says what the task is waiting for now (a kernel decode, a backend), for
---the progress line of the terminal that asked for the work: the CLI's, or
---the client's of a supervisor request. Shown once the wait has lasted a
---second, with its seconds, and wiped at the end; nothing without a
---terminal. "" (or no argument) says the wait is over.
---@param msg? string "create web: building the domain (loading /guest/vmlinuz)"
function luxen.progress(msg) end
---@return string a random (v4) uuid
function luxen.uuid() end
---Write a libxl userdata file (userdata-d.DOMID.UUID.KEY) in luxen.libxl_dir as libxl does: mode 0600, atomically.
---@param name string
---@param text string
---@return true|nil ok, string|nil err
function luxen.libxl_store(name, text) end
---Write a file under the state directory, atomically.
---@return true|nil, string|nil err
function luxen.state_write(relpath, text) end
---Make a directory (and its parents) under the state directory.
---@return true|nil, string|nil err
function luxen.state_mkdir(relpath) end
---@return string|nil text, string|nil err "ENOENT" when missing
function luxen.state_read(relpath) end
---@return true|nil, string|nil err
function luxen.state_remove(relpath) end
---@return string[]|nil names, string|nil err
function luxen.state_list(reldir) end
return luxen
