--- policies.failover: what happens to devices when their backend fails.
--
-- The supervisor calls reconcile() whenever a domain changes state. For every
-- device of every running domain it compares the backend the device uses with
-- what is running:
--   * the backend domain is gone (or shut down): the device moves to its
--     `fallback` backend if one is set and running, else it is unplugged and
--     marked disconnected in the record (the frontend domain keeps running);
--   * a disconnected device whose backend (or fallback) runs again is plugged
--     back in: a restarted driver domain gets its devices back, with new
--     backend nodes, without restarting the frontend domains;
--   * a device that makes no progress (not Connected for PROGRESS_TIMEOUT
--     seconds) moves to its fallback;
--   * with FAILBACK, a device on its fallback moves back when the primary
--     backend is running again.
-- A site edits this file (in its script directory) to change the policy.
local xen = require("xen")
local log = require("log")
local time = require("time")
local domain = require("domain")
local devices = require("devices")
local records = require("records")

local M = {}

M.FAILBACK = true
M.PROGRESS_TIMEOUT = 10

local stalled_since = {} -- "domid/class/devid" -> first time seen not connected

-- up(name) -> the domid of a domain that can serve devices, or false:
-- running, and not being made or unmade by a lifecycle (a driver domain
-- mid-create, or between the destroy and the create of its restart, is not
-- plugged into: a create that fails would leave devices pointing at
-- nothing). The lifecycle is asked lazily, once a pass, for the names
-- devices name (a function, not an __index: asking xenstore yields, which a
-- metamethod cannot).
local function running_names()
  local lifecycle = require("lifecycle")
  local found, seen = {}, {}
  for _, d in ipairs(domain.list() or {}) do
    if not d.info.shutdown and not d.info.dying then found[d.name] = d end
  end
  return function(name)
    if name == nil then return false end
    if seen[name] == nil then
      local d = found[name]
      seen[name] = d and not (d.uuid and lifecycle.making(d.uuid)) and d.domid or false
    end
    return seen[name]
  end
end

local function move(domid, name, entry, to, why)
  local dlog = log.domain(name)
  devices.unplug(domid, entry.class, entry.devid, why)
  -- The nodes are written and not waited on: a backend domain that runs may
  -- not serve yet (a driver domain's kernel loads blkback tens of seconds
  -- after it starts), and its backend driver takes up devices made before
  -- it was there. Waiting here with a deadline made a replug to a freshly
  -- restarted driver domain time out and be undone, to succeed only on a
  -- later pass; a device that never connects is the progress check's below.
  local ok, err = devices.replug(domid, entry, to, { wait = false })
  if ok then
    dlog.info("%s %d plugged into %s (%s)", entry.class, entry.devid, to, why)
  else
    dlog.error("%s %d: could not move to %s: %s", entry.class, entry.devid, to, tostring(err))
  end
  return ok
end

--- reconcile() -> number of devices acted on
function M.reconcile()
  local up = running_names()
  local acted = 0
  for _, rec in ipairs(records.list()) do
    local domid = up(rec.name)
    if domid and rec.domid == domid then
      local listed = {} -- class -> devid -> the device as xenstore has it, once a pass
      for _, entry in pairs(rec.devices or {}) do
        local primary = entry.fields.backend or "Domain-0"
        local fallback = entry.fields.fallback
        local active = entry.active or primary
        local k = domid .. "/" .. entry.class .. "/" .. entry.devid
        if not listed[entry.class] then
          listed[entry.class] = {}
          for _, d in ipairs(devices.list(domid, entry.class)) do listed[entry.class][tostring(d.devid)] = d end
        end
        local now = listed[entry.class][tostring(entry.devid)] -- string keys: a vbd devid would grow the array part
        if entry.disconnected then
          local to = (up(primary) and primary) or (fallback and up(fallback) and fallback)
          if to then
            if move(domid, rec.name, entry, to, "its backend is running again") then acted = acted + 1 end
          end
        elseif not up(active) then
          if fallback and up(fallback) and fallback ~= active then
            if move(domid, rec.name, entry, fallback, "backend " .. active .. " is gone") then acted = acted + 1 end
          else
            devices.unplug(domid, entry.class, entry.devid, "backend " .. active .. " is gone")
            log.domain(rec.name).warn("%s %d disconnected: backend %s is gone", entry.class, entry.devid, active)
            acted = acted + 1
          end
        elseif now and now.backend_id and now.backend_id ~= up(active) then
          -- its backend restarted under it (a new domid) before a pass saw
          -- it gone: the device still points at the dead one
          if move(domid, rec.name, entry, active, "backend " .. active .. " restarted") then acted = acted + 1 end
        elseif M.FAILBACK and active ~= primary and up(primary) then
          if move(domid, rec.name, entry, primary, "failing back to " .. primary) then acted = acted + 1 end
        else
          -- progress: a device stuck short of Connected moves to its fallback
          local st = now and math.min(now.state, now.backend_state)
          if st and st ~= devices.STATE.Connected and fallback and up(fallback) and fallback ~= active then
            stalled_since[k] = stalled_since[k] or time.monotonic()
            if time.monotonic() - stalled_since[k] > M.PROGRESS_TIMEOUT then
              stalled_since[k] = nil
              if move(domid, rec.name, entry, fallback, "backend " .. active .. " made no progress") then acted = acted + 1 end
            end
          else
            stalled_since[k] = nil
          end
        end
      end
    end
  end
  return acted
end

return M
