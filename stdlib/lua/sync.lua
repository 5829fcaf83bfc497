--- sync: coroutine-aware locks and queues. Waiting yields the task; the
--- scheduler never blocks.
--
--   local sync = require("sync")
--   local m = sync.mutex("domain-record", sync.FAST)   -- name, level
--   sync.with(m, function() ... end)   -- lock, run, unlock (also on error)
--   local q = sync.queue() ; q:push(v) ; q:pop([timeout])
--
-- Levels order locks: a task may only take a lock of a higher level than every
-- lock it holds, so "the slow lock is outside the fast lock" is enforced, and a
-- violation raises an error that names both locks.
local native = require("_sync")

local M = {
  SLOW = 10, -- held across slow work (QMP, hotplug scripts)
  FAST = 20, -- guards in-memory and on-disk records
}

M.mutex = native.mutex
M.queue = native.queue

function M.with(m, fn, ...)
  m:lock()
  local r = { pcall(fn, ...) }
  m:unlock()
  if not r[1] then error(r[2], 0) end
  return unpack(r, 2, table.maxn(r))
end

return M
