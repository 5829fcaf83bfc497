--- xenwatch: one xenstore watch, its events handed to one task per domain.
--
-- Linux's single xenwatch thread let one stuck callback stall every domain;
-- here each domain's events go to that domain's own queue and task, so a
-- handler that never returns stalls only its own domain. Queues are bounded;
-- events over the bound are counted and logged, never dropped silently.
--
--   local xenwatch = require("xenwatch")
--   local d = xenwatch.dispatch("/local/domain/0/backend", function(domid, path) ... end)
--   d.stats() -> { [domid] = {handled=, queued=, dropped=} } ; d.close()
local xs = require("xenstore")
local task = require("task")
local sync = require("sync")
local log = require("log")

local M = {}

M.QUEUE_LIMIT = 256

--- domain_of(path) -> domid the event is about, or nil
-- /local/domain/<d>/...                        -> d
-- /local/domain/<be>/backend/<type>/<front>/.. -> front (the guest the device serves)
function M.domain_of(path)
  local be, front = path:match("^/local/domain/(%d+)/backend/[^/]+/(%d+)")
  if front then return tonumber(front) end
  local d = path:match("^/local/domain/(%d+)")
  return d and tonumber(d)
end

--- dispatch(path, handler [, opts]) -> dispatcher
-- handler(domid, path) runs in the domain's task ("domid:<n>" group, or
-- opts.group(domid)); events of one domain are handled in order.
function M.dispatch(path, handler, opts)
  opts = opts or {}
  local limit = opts.limit or M.QUEUE_LIMIT
  local w, err = xs.watch(path)
  if not w then return nil, err end
  local per = {} -- key -> { q, task, handled, dropped }
  local function start(key, domid)
    local e = { q = sync.queue(), handled = 0, dropped = 0 }
    local group = opts.group and opts.group(domid) or ("domid:" .. tostring(key))
    e.task = task.spawn_in(group, "xenwatch " .. path .. " for " .. tostring(key), function()
      while true do
        local p, perr = e.q:pop()
        if not p then return end -- closed
        local ok, herr = pcall(handler, domid, p)
        if not ok then log.error("xenwatch %s: handler for domain %s: %s", path, tostring(key), tostring(herr)) end
        e.handled = e.handled + 1
      end
    end)
    per[key] = e
    return e
  end
  local reader = task.spawn(function()
    while true do
      local p, werr, n = w:wait()
      if p then
        local domid = M.domain_of(p)
        local key = domid or "none"
        local e = per[key] or start(key, domid)
        if e.q:len() >= limit then
          e.dropped = e.dropped + 1
          log.error("xenwatch %s: domain %s's queue is full (%d events): event for %s dropped (%d so far)",
            path, tostring(key), limit, p, e.dropped)
        else
          e.q:push(p)
        end
      elseif werr == "overflow" then
        log.error("xenwatch %s: %d events dropped by the watch queue itself", path, n)
      else
        return
      end
    end
  end)
  local d = {}
  function d.stats()
    local out = {}
    for k, e in pairs(per) do out[k] = { handled = e.handled, queued = e.q:len(), dropped = e.dropped } end
    return out
  end
  function d.close()
    task.cancel(reader)
    w:close()
    for _, e in pairs(per) do e.q:close() end
  end
  return d
end

return M
