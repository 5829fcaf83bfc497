--- xenstore: read and write the xenstore tree, transactions, watches.
--
--   local xs = require("xenstore")
--   xs.read(path) -> value | nil, errno, path
--   xs.write(path, value) / xs.mkdir(path) / xs.rm(path) -> true | nil, errno, path
--   xs.directory(path) -> { names } ; xs.exists(path) -> bool
--   xs.get_perms(path) -> { "b0", "r5" } ; xs.set_perms(path, { "n5", "r0" })
--   xs.batch({ {"write", path, value}, {"read", path}, ... }) -> vals, errno, path, errs
--       every request sent at once and answered in its order (one round
--       trip for the lot): vals[i] is what the single call returns, false
--       when it failed; errno, path are the first failure's, errs[i] every
--       failure's errno (nil when none failed). A failure does not stop the
--       requests after it.
--   xs.children_where(parent, key, value) -> { names } : the children of
--       parent whose node key reads value, in one listing and one pipeline
--       (domains named "web": children_where("/local/domain", "name", "web"))
--   xs.atomic({ requests as batch's }) -> as batch: the batch in one
--       transaction, committed only when every request succeeded, sent again
--       on a conflict (EAGAIN); one call, where a transaction is one batch
--   xs.transaction(function(t) ... end) -> fn's results | nil, err
--       t has the same read/write/... functions; the body runs again from the
--       start when the commit conflicts (EAGAIN). Returning nil, err aborts.
--   xs.watch(path) -> w ; w:wait([timeout]) -> path | nil, "timeout"
--   xs.introduce(domid, gfn, port) ; xs.release(domid) ; xs.is_introduced(domid) ; xs.resume(domid)
--   xs.get_domain_path(domid)
local native = require("_xenstore")

local M = {}

local OPS = { "read", "write", "mkdir", "rm", "directory", "exists", "get_perms", "set_perms", "batch",
  "children_where" }
local is_op = {}
for _, name in ipairs(OPS) do is_op[name] = true end

local function bind(name, tx)
  local f = native[name]
  return function(...) return f(tx, ...) end
end

for _, name in ipairs(OPS) do M[name] = bind(name, 0) end

-- a transaction's operations are bound to its id when first used: a
-- transaction body uses two or three of them, and it may run many times
local TX = {}
local tx_ops = {
  __index = function(o, name)
    if not is_op[name] then return nil end
    local g = bind(name, rawget(o, TX))
    rawset(o, name, g)
    return g
  end,
}
local function ops(tx) return setmetatable({ [TX] = tx }, tx_ops) end

-- XenbusState numbers (xen/include/public/io/xenbus.h), from Go's one definition
M.XENBUS_STATE = native.xenbus_state

local MAX_RETRIES = 64

local function pack(...) return { n = select("#", ...), ... } end

function M.transaction(fn)
  if type(fn) ~= "function" then error("xenstore.transaction: function expected", 2) end
  for _ = 1, MAX_RETRIES do
    local id, err, detail = native.tx_start()
    if not id then return nil, err, detail end
    -- r[1] is pcall's verdict, the body's results follow
    local r = pack(pcall(fn, ops(id)))
    if not r[1] then
      native.tx_end(id, false)
      error(r[2], 0)
    end
    if r[2] == nil and r.n >= 3 then -- nil, err from the body: abort
      native.tx_end(id, false)
      -- an operation inside it already saw the conflict (xenstored may say
      -- EAGAIN before the commit): start the body again
      if r[3] ~= "EAGAIN" then return unpack(r, 2, r.n) end
      goto continue
    end
    local done, cerr, cdetail = native.tx_end(id, true)
    if done then
      if r.n == 1 then return true end
      return unpack(r, 2, r.n)
    end
    if cerr ~= "EAGAIN" then return nil, cerr, cdetail end
    ::continue::
  end
  return nil, "EAGAIN", "transaction still conflicting after " .. MAX_RETRIES .. " attempts"
end

M.atomic = native.atomic
M.watch = native.watch
M.introduce = native.introduce
M.release = native.release
M.is_introduced = native.is_introduced
M.resume = native.resume
M.get_domain_path = native.get_domain_path

--- read a node, or return default when it does not exist
function M.read_or(path, default)
  local v, err = M.read(path)
  if v == nil and err == "ENOENT" then return default end
  return v, err
end

return M
