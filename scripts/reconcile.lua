--- reconcile: after a crash (kill -9 of luxen in the middle of a create,
--- destroy, attach or detach), make the records, xenstore and the hypervisor
--- agree again. `luxen supervise` runs it when it starts; `luxen reconcile`
--- runs it once. What it does is logged.
--
-- * a record whose domain is gone (or whose domid now holds another domain):
--   the record goes, with the nodes only that domain could have left
-- * a domain luxen began to make but never recorded (its mtwatch marker is
--   there, its record is not; or, killed before the first xenstore write, it
--   has no name but its uuid is in a create intent of a dead process):
--   destroyed, nodes removed
-- * a device in xenstore without a record entry (an attach cut short): removed
-- * a device entry without its nodes (a detach or unplug cut short): marked
--   disconnected, so the failover policy plugs it back in
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")
local luxen = require("luxen")

local M = {}

-- the nodes a domain luxen made may have left, its mtwatch marker last
local function remove_domain_nodes(domid)
  xs.rm(domain.path(domid))
  xs.rm("/libxl/" .. domid)
  for _, class in ipairs(devices.CLASSES) do xs.rm("/local/domain/0/backend/" .. class .. "/" .. domid) end
  xs.rm("/local/domain/0/mtwatch/" .. domid)
end

function M.run()
  local acted = {}
  local function did(fmt, ...)
    local msg = string.format(fmt, ...)
    log.warn("reconcile: %s", msg)
    acted[#acted + 1] = msg
  end
  local records = {}
  for _, rec in ipairs(lifecycle.records()) do
    local info = xen.info(rec.domid)
    if not info or info.uuid ~= rec.uuid then
      lifecycle.remove_record(rec.uuid)
      xs.rm("/vm/" .. rec.uuid)
      if not info then remove_domain_nodes(rec.domid) end
      if rec.dm then require("devicemodel").stop(rec.dm) end
      did("%s (domid %d) is gone: its record removed", rec.name, rec.domid)
    else
      records[rec.domid] = rec
    end
  end
  -- domains begun but never recorded, whose creator is no longer running
  for _, d in ipairs(xs.directory("/local/domain/0/mtwatch") or {}) do
    local domid = tonumber(d)
    local creator = tonumber(xs.read_or("/local/domain/0/mtwatch/" .. d, "") or "")
    local under_way = lifecycle.creating[domid]
      or (creator and creator ~= luxen.pid and luxen.stat("/proc/" .. creator))
    if domid and not records[domid] and not under_way then
      local name = xs.read(domain.path(domid) .. "/name") or "?"
      local vm = xs.read(domain.path(domid) .. "/vm")
      local info = xen.info(domid)
      xen.destroy(domid)
      if vm then xs.rm(vm) end
      remove_domain_nodes(domid)
      if info then luxen.state_remove(lifecycle.INTENT_DIR .. "/" .. info.uuid) end
      did("domid %d (%s) was being created when luxen stopped: destroyed", domid, name)
    end
  end
  -- nameless domains nobody recorded. luxen's own, cut short between
  -- createdomain and the first xenstore write, are known by the create intent
  -- naming their uuid; if its maker is dead they are destroyed. Any other is
  -- another toolstack's (or a create still under way here): reported only.
  local function maker_alive(pid)
    if pid == luxen.pid then return lifecycle.calling_create > 0 end
    return luxen.stat("/proc/" .. pid) ~= nil
  end
  local live = {}
  for _, d in ipairs(xen.list() or {}) do
    live[d.uuid] = true
    if d.domid ~= 0 and not d.dying and not records[d.domid] and not lifecycle.creating[d.domid]
      and not xs.exists(domain.path(d.domid) .. "/name") then
      local intent = lifecycle.INTENT_DIR .. "/" .. d.uuid
      local maker = tonumber(luxen.state_read(intent) or "")
      if maker and not maker_alive(maker) then
        xen.destroy(d.domid)
        remove_domain_nodes(d.domid)
        luxen.state_remove(intent)
        did("domid %d (uuid %s) was being created by pid %d when it stopped, before it had a name: destroyed",
          d.domid, d.uuid, maker)
      elseif not maker and lifecycle.calling_create == 0 then
        did("domid %d has no name and no record: left alone (destroy it if no toolstack is creating it)", d.domid)
      end
    end
  end
  -- intents whose maker died before Xen made the domain
  for _, u in ipairs(luxen.state_list(lifecycle.INTENT_DIR) or {}) do
    local maker = tonumber(luxen.state_read(lifecycle.INTENT_DIR .. "/" .. u) or "")
    if not live[u] and not (maker and maker_alive(maker)) then
      luxen.state_remove(lifecycle.INTENT_DIR .. "/" .. u)
    end
  end
  -- devices
  for domid, rec in pairs(records) do
    local entries = rec.devices or {}
    for _, class in ipairs(devices.CLASSES) do
      for _, d in ipairs(devices.list(domid, class)) do
        if not entries[class .. "/" .. d.devid] then
          xs.rm(domain.path(domid) .. "/device/" .. class .. "/" .. d.devid)
          if d.backend and d.backend ~= "" then xs.rm(d.backend) end
          did("%s: %s %d was being attached when luxen stopped: removed", rec.name, class, d.devid)
        end
      end
    end
    for k, e in pairs(entries) do
      local fe = domain.path(domid) .. "/device/" .. e.class .. "/" .. e.devid
      local bk = xs.read(fe .. "/backend")
      if not e.disconnected and not xs.exists(fe) then
        devices.unplug(domid, e.class, e.devid, "found without its nodes after a crash")
        did("%s: %s %d had no nodes: marked disconnected", rec.name, e.class, e.devid)
      elseif bk and xs.read(bk .. "/online") == "0" and xs.read(bk .. "/state") == tostring(devices.STATE.Closed) then
        -- a detach cut short after the close-down: finish it
        devices.detach(domid, e.class, e.devid, { timeout = 1, force = true })
        did("%s: %s %d was being detached when luxen stopped: detach finished", rec.name, e.class, e.devid)
      end
    end
  end
  return acted
end

return M
