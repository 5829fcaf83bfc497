--- reconcile: after a crash (kill -9 of luxen in the middle of a create,
--- destroy, attach or detach), make the records, xenstore and the hypervisor
--- agree again. `luxen supervise` runs it when it starts; `luxen reconcile`
--- runs it once. What it does is logged.
--
-- * a record whose domain is gone (or whose domid now holds another domain):
--   the record goes, with the nodes only that domain could have left
-- * a domain luxen began to make but never recorded (its mtwatch marker is
--   there, its record is not): destroyed, nodes removed
-- * a device in xenstore without a record entry (an attach cut short): removed
-- * a device entry without its nodes (a detach or unplug cut short): marked
--   disconnected, so the failover policy plugs it back in
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")

local M = {}

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
      if not info then
        xs.rm(domain.path(rec.domid))
        xs.rm("/libxl/" .. rec.domid)
        xs.rm("/local/domain/0/mtwatch/" .. rec.domid)
        for _, class in ipairs(devices.CLASSES) do xs.rm("/local/domain/0/backend/" .. class .. "/" .. rec.domid) end
      end
      if rec.dm then require("devicemodel").stop(rec.dm) end
      did("%s (domid %d) is gone: its record removed", rec.name, rec.domid)
    else
      records[rec.domid] = rec
    end
  end
  -- domains begun but never recorded, whose creator is no longer running
  local luxen = require("luxen")
  for _, d in ipairs(xs.directory("/local/domain/0/mtwatch") or {}) do
    local domid = tonumber(d)
    local creator = tonumber(xs.read_or("/local/domain/0/mtwatch/" .. d, "") or "")
    local under_way = lifecycle.creating[domid]
      or (creator and creator ~= luxen.pid and luxen.stat("/proc/" .. creator))
    if domid and not records[domid] and not under_way then
      local name = xs.read(domain.path(domid) .. "/name") or "?"
      local vm = xs.read(domain.path(domid) .. "/vm")
      xen.destroy(domid)
      xs.rm(domain.path(domid))
      if vm then xs.rm(vm) end
      xs.rm("/libxl/" .. domid)
      for _, class in ipairs(devices.CLASSES) do xs.rm("/local/domain/0/backend/" .. class .. "/" .. domid) end
      xs.rm("/local/domain/0/mtwatch/" .. domid)
      did("domid %d (%s) was being created when luxen stopped: destroyed", domid, name)
    end
  end
  -- nameless domains nobody recorded: cut short between createdomain and the
  -- first xenstore write, or another toolstack's; reported, not destroyed
  for _, d in ipairs(xen.list() or {}) do
    if d.domid ~= 0 and not records[d.domid] and not lifecycle.creating[d.domid]
      and lifecycle.calling_create == 0 and not xs.exists(domain.path(d.domid) .. "/name") then
      did("domid %d has no name and no record: left alone (destroy it if no toolstack is creating it)", d.domid)
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
