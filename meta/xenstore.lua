---@meta xenstore
-- LuaLS stubs for require("xenstore"). Blocking calls yield the calling task.

---@class xenstore.Watch
local Watch = {}
---Wait for the next event; nil, "timeout" when none came in time, nil, "overflow", n when n were dropped.
---@param timeout? number seconds
---@return string|nil path, string|nil err, any detail
function Watch:wait(timeout) end
---@return boolean|nil ok, string|nil err
function Watch:close() end
---@return string
function Watch:path() end
---@return integer
function Watch:pending() end

---@class xenstore.Ops
---@field read fun(path: string): string|nil, string|nil, string|nil
---@field write fun(path: string, value: string): true|nil, string|nil, string|nil
---@field mkdir fun(path: string): true|nil, string|nil, string|nil
---@field rm fun(path: string): true|nil, string|nil, string|nil
---@field directory fun(path: string): string[]|nil, string|nil, string|nil
---@field exists fun(path: string): boolean|nil, string|nil
---@field get_perms fun(path: string): string[]|nil, string|nil, string|nil
---@field set_perms fun(path: string, perms: string[]): true|nil, string|nil, string|nil
---@field batch fun(reqs: xenstore.Request[]): any[], string|nil, string|nil, table<integer, string>|nil
---@field children_where fun(parent: string, key: string, value: string): string[]|nil, string|nil, string|nil

---One request of a batch: {"read", path}, {"write", path, value}, {"mkdir", path}, {"rm", path},
---{"directory", path}, {"exists", path}, {"get_perms", path} or {"set_perms", path, perms}.
---@alias xenstore.Request [string, string, (string|string[])?]

---@class xenstore: xenstore.Ops
local xenstore = {}
---XenbusState numbers (xen/include/public/io/xenbus.h), the one definition (Go's): devices.STATE is this table.
---@type {Unknown: integer, Initialising: integer, InitWait: integer, Initialised: integer, Connected: integer, Closing: integer, Closed: integer, Reconfiguring: integer, Reconfigured: integer}
xenstore.XENBUS_STATE = {}

---@param path string
---@return string|nil value, string|nil errno, string|nil path
function xenstore.read(path) end
---@param path string
---@param default any
---@return any
function xenstore.read_or(path, default) end
---@param path string
---@param value string
---@return true|nil ok, string|nil errno, string|nil path
function xenstore.write(path, value) end
---@param path string
---@return true|nil ok, string|nil errno, string|nil path
function xenstore.mkdir(path) end
---@param path string
---@return true|nil ok, string|nil errno, string|nil path
function xenstore.rm(path) end
---@param path string
---@return string[]|nil names, string|nil errno, string|nil path
function xenstore.directory(path) end
---@param path string
---@return boolean|nil exists, string|nil errno
function xenstore.exists(path) end
---Permissions as strings: "b0" (both), "r5", "w5", "n5"; the first is the owner and the default.
---@param path string
---@return string[]|nil perms, string|nil errno, string|nil path
function xenstore.get_perms(path) end
---@param path string
---@param perms string[]
---@return true|nil ok, string|nil errno, string|nil path
function xenstore.set_perms(path, perms) end
---Send every request at once and wait for all the replies (one round trip, not one each);
---xenstored answers them in their order. vals[i] is what the single call returns, false when
---it failed; errno and path are the first failure's, errs[i] every failure's errno (nil when
---none failed). A failure does not stop the requests after it.
---@param reqs xenstore.Request[]
---@return any[] vals, string|nil errno, string|nil path, table<integer, string>|nil errs
function xenstore.batch(reqs) end
---The children of parent whose node key reads value (one listing and one pipeline of reads):
---children_where("/local/domain", "name", "web") lists the domids of the domains named web.
---@param parent string
---@param key string
---@param value string
---@return string[]|nil names, string|nil errno, string|nil path
function xenstore.children_where(parent, key, value) end
---A batch in one transaction, all or nothing: committed when every request succeeded, sent
---again from the start while the commit conflicts (EAGAIN), aborted (nothing written) when a
---request failed, which the results name as batch's do. A transaction that is only a batch
---costs one call this way. A failure to start or commit is nil, errno, detail.
---@param reqs xenstore.Request[]
---@return any[]|nil vals, string|nil errno, string|nil path, table<integer, string>|nil errs
function xenstore.atomic(reqs) end
---Run fn(t) in a transaction, again from the start on EAGAIN; return nil, err from fn to abort.
---@param fn fun(t: xenstore.Ops): ...
---@return any ...
function xenstore.transaction(fn) end
---@param path string a path or @introduceDomain / @releaseDomain
---@return xenstore.Watch|nil w, string|nil errno
function xenstore.watch(path) end
---@return true|nil ok, string|nil errno
function xenstore.introduce(domid, gfn, port) end
---@return true|nil ok, string|nil errno
function xenstore.release(domid) end
---XS_RESUME: xenstored forgets that the domain shut down (after its
---suspend was cancelled), so that its next shutdown fires @releaseDomain.
---@return true|nil ok, string|nil errno
function xenstore.resume(domid) end
---@return boolean|nil, string|nil errno
function xenstore.is_introduced(domid) end
---@return string|nil path, string|nil errno
function xenstore.get_domain_path(domid) end

return xenstore
