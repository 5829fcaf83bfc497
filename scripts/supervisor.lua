--- supervisor: watch every domain and run the restart policy for the ones
--- that shut down, each in its own task so one stuck handler stalls nobody else.
--
--   local supervisor = require("supervisor")
--   local t = supervisor.start()   -- runs in the background of this Lua state
--   supervisor.run()               -- the same, in the calling task (never returns)
--
-- While a supervisor runs, /local/domain/0/luxen/supervisor holds its pid, so
-- one-shot commands (luxen shutdown, luxen reboot) leave restarts to it.
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local task = require("task")
local luxen = require("luxen")
local domain = require("domain")

local M = {}

M.MARKER = "/local/domain/0/luxen/supervisor"
M.RESCAN = 2 -- seconds between scans without events (device progress, missed events)

local handling = {} -- domid -> task

-- scan once: start a handler for each shut-down domain not already handled
function M.scan()
  local infos = xen.list()
  if not infos then return end
  local live = {}
  for _, d in ipairs(infos) do
    live[d.domid] = true
    if d.shutdown and d.domid ~= 0 and not handling[d.domid] then
      local name = domain.name(d.domid) or tostring(d.domid)
      local domid = d.domid
      handling[domid] = task.spawn_in("domain:" .. name, "restart policy for " .. name, function()
        local policy = require("policies.restart")
        local ok, err = policy.handle(domid)
        if not ok then log.domain(name).error("restart policy: %s", tostring(err)) end
        return ok
      end)
    end
  end
  for domid, t in pairs(handling) do
    local st = t:status()
    if not live[domid] and (st == "done" or st == "failed") then handling[domid] = nil end
  end
  M.devices()
end

-- devices follow their backends (policies/failover.lua); one pass at a time
local reconciling
function M.devices()
  if reconciling and reconciling:status() ~= "done" and reconciling:status() ~= "failed" then return end
  reconciling = task.spawn_in("supervisor", "device failover", function()
    local ok, err = pcall(function() require("policies.failover").reconcile() end)
    if not ok then log.error("failover policy: %s", tostring(err)) end
  end)
end

function M.run()
  local w, err = xs.watch("@releaseDomain")
  if not w then return nil, "supervisor: watch @releaseDomain: " .. tostring(err) end
  xs.write(M.MARKER, tostring(luxen.pid))
  log.info("supervisor running (pid %d)", luxen.pid)
  -- whatever a crashed luxen left half done is settled first
  local rok, rerr = pcall(function() require("reconcile").run() end)
  if not rok then log.error("reconcile: %s", tostring(rerr)) end
  local ok, perr = pcall(function()
    while true do
      local _, werr = w:wait(M.RESCAN) -- rescan now and then even without events
      if werr and werr ~= "timeout" then error("supervisor: " .. tostring(werr), 0) end
      M.scan()
    end
  end)
  xs.rm(M.MARKER)
  w:close()
  if not ok then return nil, perr end
end

function M.start()
  return task.spawn_in("supervisor", "supervisor", M.run)
end

--- running() -> pid | nil : is a supervisor handling restarts on this host?
function M.running()
  local pid = xs.read(M.MARKER)
  return pid and tonumber(pid)
end

return M
