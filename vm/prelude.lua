-- luxen prelude: runs once per Lua state, before any script.
--
-- gopher-lua cannot resume a Go function that yielded inside pcall, nor one that
-- yielded in tail position (`return blocking()`). So blocking bindings never
-- yield from Go: the native function starts the work and returns a pending
-- marker, and the Lua closure below yields it from a non-tail position. pcall,
-- xpcall and coroutine.* are rebuilt on coroutines so that a marker yielded
-- inside them travels up to the scheduler and its result comes back down.
-- coroutine.yield is the scheduler's guarded yield (it refuses to yield
-- inside a function Go called, a metamethod say, which gopher-lua cannot
-- resume); raw_finish is gopher-lua's own, for reusable's yield of a
-- finished function's results, which is at its coroutine's own level by
-- construction and needs no check.
local PENDING, YIELDED, FINISHED, adopt, raw_finish = ...

local raw_create, raw_resume, raw_status, raw_yield, raw_wrap, raw_running =
  coroutine.create, coroutine.resume, coroutine.status, coroutine.yield, coroutine.wrap, coroutine.running

-- inner[co] is the coroutine co is waiting in while a marker from it travels
-- up: the scheduler follows it to say which line a waiting task is at (a
-- task's own coroutine only shows this prelude's resume loop). The scheduler
-- clears a task's chain when the task ends.
local inner = {}
local getmetatable, select, unpack, error, type, tostring = getmetatable, select, unpack, error, type, tostring
local traceback = debug.traceback

local function pack(...) return { n = select("#", ...), ... } end

-- gopher-lua's string.match returns no value at all when nothing matches,
-- where Lua 5.1 returns nil: tonumber(s:match("%d+")) then raises "value
-- expected" and select("#", ...) counts differently. Scripts get 5.1's answer.
do
  local raw_match = string.match
  local function one_nil(...)
    if select("#", ...) == 0 then return nil end
    return ...
  end
  string.match = function(...) return one_nil(raw_match(...)) end
end
-- pass(...) returns its arguments: `return pass(raw_yield(x))` keeps the yield
-- out of tail position without a table a call (every blocking call, every
-- yield and every pcall goes through here)
local function pass(...) return ... end

local function is_pending(v)
  return type(v) == "userdata" and getmetatable(v) == PENDING
end

-- await(marker-or-values...): yield a pending marker to the scheduler and return
-- what the operation produced; plain values pass through unchanged.
local function await(first, ...)
  if is_pending(first) then
    return pass(raw_yield(first))
  end
  return first, ...
end

-- resume a coroutine; markers it yields go up to our own resumer (and so to the
-- scheduler) and the results go back down, invisibly to the caller.
-- (resumed and back are that loop written as tail calls, so no table holds
-- the values on their way)
local resumed
local function back(co, me, ...)
  inner[me] = nil
  return resumed(co, raw_resume(co, ...))
end
resumed = function(co, ok, first, ...)
  if ok and is_pending(first) and raw_status(co) == "suspended" then
    local me = raw_running()
    inner[me] = co
    return back(co, me, raw_yield(first))
  end
  return ok, first, ...
end
local function resume(co, ...)
  return resumed(co, raw_resume(co, ...))
end

local function yield(...)
  return pass(raw_yield(...))
end

coroutine.resume = resume
coroutine.yield = yield
coroutine.wrap = function(f)
  local co = raw_create(f)
  return function(...)
    local r = pack(resume(co, ...))
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
end

-- A coroutine running reusable(f, ...) calls f, yields FINISHED and f's
-- results, and waits to be resumed with the next function and its
-- arguments: pcall and tasks reuse such coroutines (a new one is a new
-- LState, ~15 KB, the most of what a pcall or a spawn costs). One whose
-- function raised or is still running is never reused.
local function reusable(f, ...)
  return reusable(raw_finish(FINISHED, f(...)))
end

local pool, pooled = {}, 0
local POOL_MAX = 64

local function pcall_done(co, ok, first, ...)
  if ok and first == FINISHED then
    if pooled < POOL_MAX then
      pooled = pooled + 1
      pool[pooled] = co
    end
    return true, ...
  end
  return ok, first, ...
end

pcall = function(f, ...)
  if type(f) ~= "function" and not (getmetatable(f) or {}).__call then
    return false, "attempt to call a " .. type(f) .. " value"
  end
  local co
  if pooled > 0 then
    co = pool[pooled]
    pool[pooled] = nil
    pooled = pooled - 1
    adopt(co) -- the caller's task's context: its cancel and watchdog reach it
  else
    co = raw_create(reusable)
  end
  return pcall_done(co, resume(co, f, ...))
end

xpcall = function(f, handler, ...)
  local co = raw_create(function(...) return f(...) end)
  local r = pack(resume(co, ...))
  if r[1] then return unpack(r, 1, r.n) end
  return false, handler(r[2], co)
end

-- the Go side makes blocking bindings with this
local function blocking(native)
  return function(...) return await(native(...)) end
end

-- task.yield: YIELDED is a marker whose operation is done from the start,
-- yielded straight from here (no native call, no await): the scheduler puts
-- the task at the back of the ready queue and resumes it with nothing
local function task_yield() return pass(raw_yield(YIELDED)) end

return { await = await, blocking = blocking, traceback = traceback, inner = inner, yield = task_yield,
  reusable = reusable }
