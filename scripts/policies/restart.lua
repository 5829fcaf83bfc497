--- policies.restart: what happens when a domain shuts down.
--
-- The supervisor calls handle(domid) for every domain it sees shut down. The
-- config's on_poweroff / on_reboot / on_crash / on_watchdog / on_soft_reset
-- choose the action:
--   destroy         the domain is destroyed
--   restart         it is destroyed and created again: same name and uuid, new domid
--   rename-restart  the old domain is kept (renamed NAME--<time>) and a new one started
--   preserve        the domain is left as it is, shut down, for inspection
-- A domain restarted more than restart_limit times within restart_window
-- seconds is in a reboot loop: it is destroyed and not restarted, and the log
-- says so. Edit this file (in your site script directory) to change any of it.
local xen = require("xen")
local xs = require("xenstore")
local log = require("log")
local time = require("time")
local domain = require("domain")
local records = require("records")
local lifecycle = require("lifecycle")

local M = {}

M.RESTART_LIMIT = 5   -- restarts ...
M.RESTART_WINDOW = 60 -- ... within this many seconds make a loop

local ACTION_KEY = {
  poweroff = "on_poweroff", reboot = "on_reboot", crash = "on_crash",
  watchdog = "on_watchdog", soft_reset = "on_soft_reset",
}

-- recent(restarts, now, window) keeps the restart times inside the window
local function recent(list, now, window)
  local out = {}
  for _, t in ipairs(list or {}) do
    if now - t < window then out[#out + 1] = t end
  end
  return out
end

--- decide(rec, reason) -> action, why
function M.decide(rec, reason)
  local cfg = rec.config
  local key = ACTION_KEY[reason]
  if not key then return "preserve", "unknown shutdown reason " .. tostring(reason) end
  local action = cfg[key] or "destroy"
  if reason == "suspend" then return "preserve", "suspended" end
  if action == "restart" or action == "rename-restart" then
    local limit = cfg.restart_limit or M.RESTART_LIMIT
    local window = cfg.restart_window or M.RESTART_WINDOW
    local now = time.now()
    local r = recent(rec.restarts, now, window)
    if #r >= limit then
      return "destroy", string.format("reboot loop: %d restarts within %ds; not restarting (restart_limit=%d, restart_window=%d)",
        #r, window, limit, window)
    end
  end
  return action, key .. "=" .. action
end

-- rename a domain in xenstore (the preserved half of rename-restart)
local function rename(domid, uuid, newname)
  return xs.transaction(function(t)
    local ok, err = t.write(domain.path(domid) .. "/name", newname)
    if not ok then return nil, err end
    if uuid then t.write("/vm/" .. uuid .. "/name", newname) end
    return true
  end)
end

--- handle(domid) -> action | nil, err
function M.handle(domid)
  local info, e1 = xen.info(domid)
  if not info then return nil, "domain " .. domid .. ": " .. tostring(e1) end
  if not info.shutdown then return nil, "domain " .. domid .. " has not shut down" end
  local name = domain.name(domid) or tostring(domid)
  local dlog = log.domain(name)
  local uuid = records.uuid_of(domid)
  local rec = uuid and records.get(uuid)
  if not rec then
    dlog.warn("domain %s (domid %d) shut down (%s) but luxen has no record of it; leaving it", name, domid, info.shutdown_reason)
    return "preserve"
  end
  local reason = info.shutdown_reason
  local action, why = M.decide(rec, reason)
  if rec.rebuilt then why = why .. "; " .. rec.rebuilt end
  dlog.info("domain %s (domid %d) shut down: %s; action %s (%s)", name, domid, reason, action, why)
  if why:match("^reboot loop") then dlog.error("%s", why) end

  if action == "destroy" then
    local ok, err = lifecycle.destroy(domid)
    if not ok then return nil, err end
  elseif action == "preserve" then
    -- nothing: it stays shut down until someone destroys it
  elseif action == "restart" or action == "rename-restart" then
    local restarts = recent(rec.restarts, time.now(), rec.config.restart_window or M.RESTART_WINDOW)
    restarts[#restarts + 1] = time.now()
    local new_uuid = rec.uuid
    -- a destroy of this name from now on cancels the restart (lifecycle.destroy)
    local restarting = { uuid = rec.uuid }
    lifecycle.restarting[name] = restarting
    lifecycle.restart_seq[name] = (lifecycle.restart_seq[name] or 0) + 1
    -- a destroy asked for before this began, and still ending the domain
    if lifecycle.destroy_requested[rec.uuid] then restarting.cancelled = true end
    local function cancelled()
      if not restarting.cancelled then return false end
      dlog.info("restart of %s cancelled: it was destroyed on request", name)
      return true
    end
    if action == "rename-restart" then
      local kept = name .. "--" .. os.date("!%Y%m%dT%H%M%SZ")
      local ok, err = rename(domid, uuid, kept)
      if not ok then
        lifecycle.restarting[name] = nil
        return nil, "rename-restart: " .. tostring(err)
      end
      records.remove(uuid) -- the kept domain is no longer managed
      new_uuid = require("luxen").uuid()
      dlog.info("kept the old domain as %s", kept)
    else
      -- from here the restart is a create of the same uuid: its intent goes
      -- up before the old domain goes, so a reconcile in between sees a
      -- create under way, not a record whose domain is gone (which it would
      -- remove, with the new domain's nodes)
      local held, herr = lifecycle.hold_intent(rec.uuid)
      if not held then
        lifecycle.restarting[name] = nil
        return nil, "restart: " .. tostring(herr)
      end
      local ok, err = lifecycle.destroy(domid, { keep_record = true })
      if not ok then
        lifecycle.release_intent(rec.uuid)
        if lifecycle.restarting[name] == restarting then lifecycle.restarting[name] = nil end
        -- destroyed on request first: nothing to restart
        if cancelled() then return "destroy" end
        return nil, err
      end
    end
    local cfg = rec.config
    cfg.uuid = nil
    local newid, err
    if not cancelled() then
      -- devices come back as the record lists them: hot-plugged ones too
      -- and a CD-ROM with the medium it last had; after a config-update, as
      -- that config lists them
      local devs = rec.devices or {}
      if rec.config_updated then devs = nil end
      newid, err = lifecycle.create(cfg, { uuid = new_uuid, restarts = restarts, devices = devs,
        media = rec.dm and rec.dm.media, intent_held = action == "restart" })
    end
    if action == "restart" then lifecycle.release_intent(new_uuid) end
    if lifecycle.restarting[name] == restarting then lifecycle.restarting[name] = nil end
    if restarting.cancelled then
      cancelled()
      if newid then lifecycle.destroy(newid) end
      records.remove(new_uuid)
      return "destroy"
    end
    if not newid then
      dlog.error("restart of %s failed: %s", name, err)
      records.remove(rec.uuid)
      return nil, err
    end
    dlog.info("restarted %s as domid %d (restart %d in the last %ds)", name, newid, #restarts,
      rec.config.restart_window or M.RESTART_WINDOW)
  end
  return action
end

return M
