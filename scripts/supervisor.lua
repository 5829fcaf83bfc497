--- supervisor: watch every domain and run the restart policy for the ones
--- that shut down, each in its own task so one stuck handler stalls nobody else.
--
--   local supervisor = require("supervisor")
--   local t = supervisor.start([socket]) -- runs in the background of this Lua state
--   supervisor.run([socket])             -- the same, in the calling task (never returns)
--   supervisor.running() -> marker | nil -- the host's running supervisor
--
-- One supervisor per host. While one runs, the host's xenstore holds its
-- marker (luxen.nodes.supervisor): {pid, start, uid, since, socket, state} as
-- JSON. A second one refuses to start and names the first; only the owner
-- removes the marker; a marker whose process is gone (killed with -9) names
-- nobody, and the next supervisor takes over. One-shot commands find the
-- supervisor through the marker and send it their requests on its socket.
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local task = require("task")
local luxen = require("luxen")
local domain = require("domain")
local json = require("json")

local M = {}

M.MARKER = luxen.nodes.supervisor
M.RESCAN = 2 -- seconds between scans without events (device progress, missed events)

-- domid -> {task=, reason=}: the handler of a domain's shutdown, and the
-- reason it handles. A domain handled once can run again (a suspend
-- resumed in place: save -c, or a failed save) and shut down anew before
-- any scan saw it running; a new reason is a new shutdown.
local handling = {}

local function finished(h)
  local st = h.task:status()
  return st == "done" or st == "failed"
end

-- scan once: start a handler for each shut-down domain not already handled
function M.scan()
  local infos = xen.list()
  if not infos then return end
  local live, down = {}, {}
  for _, d in ipairs(infos) do
    live[d.domid] = true
    down[d.domid] = d.shutdown
    local h = handling[d.domid]
    if d.shutdown and d.domid ~= 0 and (not h or (h.reason ~= d.shutdown_reason and finished(h))) then
      local name = domain.name(d.domid) or tostring(d.domid)
      local domid = d.domid
      handling[domid] = { reason = d.shutdown_reason, task = task.spawn_in("domain:" .. name, "restart policy for " .. name, function()
        local policy = require("policies.restart")
        local ok, err = policy.handle(domid)
        if not ok then log.domain(name).error("restart policy: %s", tostring(err)) end
        return ok
      end) }
    end
  end
  for domid, h in pairs(handling) do
    -- gone, or running again: its next shutdown is a new one
    if (not live[domid] or not down[domid]) and finished(h) then handling[domid] = nil end
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

local function decode(text)
  local ok, m = pcall(json.decode, text or "")
  if ok and type(m) == "table" and tonumber(m.pid) then return m end
end

local function alive(m) return m and luxen.alive(m.pid, m.start) end
local function mine(m) return m and m.pid == luxen.pid and m.start == luxen.pid_start end

M.claimed = nil -- this process's marker, while it is the host's supervisor

--- running() -> marker | nil : the host's supervisor, if its process runs
function M.running()
  local m = decode(xs.read(M.MARKER))
  if alive(m) then return m end
end

--- claim([socket]) -> marker [, previous] | nil, err : become the host's supervisor.
-- Refused, naming it, while another supervisor runs; a marker left by one
-- that was killed is taken over (and the log says so).
function M.claim(socket)
  if M.claimed then
    return nil, string.format("a supervisor already runs on this host: pid %d (this process), since %s",
      luxen.pid, M.claimed.since)
  end
  local me = { pid = luxen.pid, start = luxen.pid_start, uid = luxen.uid,
               since = os.date("!%Y-%m-%dT%H:%M:%SZ"), socket = socket or "", state = luxen.state_dir }
  local prev
  local ok, err = xs.transaction(function(t)
    prev = decode(t.read(M.MARKER))
    if mine(prev) then me.since = prev.since end
    if alive(prev) and not mine(prev) then return nil, "taken" end
    return t.write(M.MARKER, json.encode(me))
  end)
  if err == "taken" then
    return nil, string.format("a supervisor already runs on this host: pid %d (uid %s), since %s, socket %s",
      prev.pid, tostring(prev.uid), tostring(prev.since), prev.socket ~= "" and prev.socket or "(none)")
  end
  if not ok then return nil, "supervisor: marker " .. M.MARKER .. ": " .. tostring(err) end
  if prev and not mine(prev) then
    log.warn("supervisor: took over from pid %d (since %s), which is no longer running", prev.pid, tostring(prev.since))
  end
  M.claimed = me
  if not M.hooked then
    -- a script's supervisor (supervisor.start() in a spec or a `luxen run`)
    -- gives up the host's marker when its Lua state closes
    luxen.at_close(function() if M.claimed then M.release() end end)
    M.hooked = true
  end
  if prev and not mine(prev) then return me, prev end
  return me
end

--- release() : remove the marker, if it is this process's own
function M.release()
  M.claimed = nil
  return xs.transaction(function(t)
    if mine(decode(t.read(M.MARKER))) then return t.rm(M.MARKER) end
    return true
  end)
end

function M.run(socket)
  if not M.claimed then
    local me, cerr = M.claim(socket)
    if not me then return nil, cerr end
  end
  local w, err = xs.watch("@releaseDomain")
  if not w then M.release(); return nil, "supervisor: watch @releaseDomain: " .. tostring(err) end
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
  M.release()
  w:close()
  if not ok then return nil, perr end
end

--- start([socket]) -> task | nil, err : run in the background of this Lua state
function M.start(socket)
  local me, err = M.claim(socket) -- here, so that a refusal is the caller's to see
  if not me then return nil, err end
  return task.spawn_in("supervisor", "supervisor", function() return M.run(socket) end)
end

return M
