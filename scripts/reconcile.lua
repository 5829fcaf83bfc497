--- reconcile: after a crash (kill -9 of luxen in the middle of a create,
--- destroy, attach or detach), make the records, xenstore and the hypervisor
--- agree again. `luxen supervise` runs it when it starts; `luxen reconcile`
--- runs it once. What it does is logged and returned.
--
-- It destroys only what it can prove is a half-made domain of luxen's: one
-- whose uuid has a create intent (lifecycle.CREATING) whose maker is gone.
-- A finished domain is never destroyed, whatever any record says:
-- * a record whose domain is gone: the record goes, with the nodes only that
--   domain could have left
-- * a domain luxen made (its mtwatch marker is there) whose record is lost:
--   the record is rebuilt from xenstore, and the log says what it lacks
-- * a domain luxen did not make (xl's, another toolstack's): reported, left
--   alone
-- * a device in xenstore without a record entry (an attach cut short): removed
-- * a device entry without its nodes (a detach or unplug cut short): marked
--   disconnected, so the failover policy plugs it back in
-- * a CD-ROM change cut short: the record takes what QEMU has, and QEMU
--   gives back a descriptor set no drive uses
-- * a save cut short (its saver gone, lifecycle.SAVING): the guest, asked to
--   suspend or suspended, runs on; the file it left goes unless it is whole
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local time = require("time")
local domain = require("domain")
local devices = require("devices")
local records = require("records")
local libxlcfg = require("libxlcfg")
local devicemodel = require("devicemodel")
local lifecycle = require("lifecycle")
local luxen = require("luxen")

local M = {}

local function made_by_luxen(domid) return xs.exists("/local/domain/0/mtwatch/" .. domid) end

--- rebuild(d) -> record : what xenstore still tells of a domain luxen made
-- whose record was lost. Its kernel, config file and restart policies are not
-- in xenstore: the record says so, and the restart policy will not restart it.
function M.rebuild(d)
  local dp = domain.path(d.domid)
  local name = xs.read(dp .. "/name") or tostring(d.domid)
  local function kib(node) return math.floor((tonumber(xs.read_or(dp .. "/memory/" .. node, "")) or 0) / 1024) end
  local vcpus, maxvcpus = 0, 0
  for _, c in ipairs(xs.directory(dp .. "/cpu") or {}) do
    maxvcpus = maxvcpus + 1
    if xs.read(dp .. "/cpu/" .. c .. "/availability") == "online" then vcpus = vcpus + 1 end
  end
  local cfg = {
    name = name, uuid = d.uuid, type = xs.read_or("/libxl/" .. d.domid .. "/type", "pvh"),
    memory = kib("target"), maxmem = kib("static-max"),
    vcpus = math.max(vcpus, 1), maxvcpus = math.max(maxvcpus, 1),
    on_poweroff = "destroy", on_reboot = "preserve", on_crash = "preserve", on_watchdog = "preserve",
  }
  local devs = {}
  for _, class in ipairs(devices.CLASSES) do
    local c = devices.class(class)
    for _, e in ipairs(devices.list(d.domid, class)) do
      local fields = {}
      for k in pairs(c.fields) do if e[k] ~= nil then fields[k] = e[k] end end
      fields.backend = e.backend_id and domain.name(e.backend_id) or nil
      devs[class .. "/" .. e.devid] = { class = class, devid = e.devid, fields = fields, active = fields.backend }
    end
  end
  return {
    name = name, uuid = d.uuid, domid = d.domid, config = cfg, devices = devs, restarts = {},
    created = time.now(),
    rebuilt = "record lost; rebuilt from xenstore by reconcile at " .. os.date("!%Y-%m-%dT%H:%M:%SZ") ..
      ": its kernel, config file and restart policies were not known, so it is not restarted",
  }
end

function M.run()
  local acted = {}
  local function did(fmt, ...)
    local msg = string.format(fmt, ...)
    log.warn("reconcile: %s", msg)
    acted[#acted + 1] = msg
  end
  -- The records are listed before the hypervisor's domains: a create saves
  -- its record after its domain exists, so every record listed here has its
  -- domain in the list below unless that domain is really gone. (Listed the
  -- other way round, a create that saved its record in between looked like a
  -- record whose domain was gone, and lost its record and xenstore nodes
  -- while it ran.)
  local recs = records.list()
  local live, by_uuid, all_of_uuid = {}, {}, {}
  for _, d in ipairs(xen.list() or {}) do
    live[d.domid] = d
    if d.domid ~= 0 then
      by_uuid[d.uuid] = d
      all_of_uuid[d.uuid] = all_of_uuid[d.uuid] or {}
      table.insert(all_of_uuid[d.uuid], d)
    end
  end
  -- uuids a create (or restart) is making now, here or in a live process:
  -- nothing of theirs is touched until it has finished
  local busy = {}
  for _, uuid in ipairs(xs.directory(lifecycle.CREATING) or {}) do
    local maker = lifecycle.intent_maker(uuid)
    if maker and maker.alive then busy[uuid] = true end
  end

  -- saves cut short: the guest was asked to suspend (or has), and its saver
  -- is gone. It runs on, as after a save that failed.
  for _, uuid in ipairs(xs.directory(lifecycle.SAVING) or {}) do
    local s = lifecycle.saver(uuid)
    if s and not s.alive then
      -- the saved domain: on a migration to this host the receiver's
      -- NAME--incoming has its uuid too
      local d
      for _, c in ipairs(all_of_uuid[uuid] or {}) do
        if not (domain.name(c.domid) or ""):match("%-%-incoming$") then d = c end
      end
      local what = "the domain is gone"
      -- a migration's source that had given up its name: its receiver was
      -- told to run the guest, and may; resuming this copy too could run two
      local away = d and s.step == "migrating" and (domain.name(d.domid) or ""):match("%-%-migratedaway$")
      if away then
        what = "left suspended, as its receiver may run the guest: destroy this copy if it does"
      elseif d then
        local ctl = domain.path(d.domid) .. "/control/shutdown"
        local info = xen.info(d.domid)
        if info and not info.shutdown and xs.read(ctl) == "suspend" then
          xs.write(ctl, "") -- withdrawn, as a save that times out withdraws it
          -- a guest that took the request up already suspends all the same
          info = domain.wait_shutdown(d.domid, 2) or xen.info(d.domid)
        end
        if info and info.shutdown and info.shutdown_reason == "suspend" then
          local ok, rerr = lifecycle.resume_in_place(d.domid)
          what = ok and "resumed, it runs on" or ("it stays suspended, as resuming it failed (" .. tostring(rerr) .. "): destroy it")
        elseif info and not info.shutdown then
          what = "its suspend request withdrawn, it runs on"
        else
          what = "it is " .. tostring(info and info.shutdown_reason or "gone")
        end
      end
      local file = "nothing was written"
      if s.step == "writing" and s.file and luxen.stat(s.file) then
        if luxen.save_info(s.file) then
          file = s.file .. " is whole (restoring it while the guest runs would make a second copy)"
        else
          os.remove(s.file)
          file = "the partial " .. s.file .. " removed"
        end
      end
      did("%s was being saved by pid %d, which stopped before it finished: %s; %s",
        d and domain.name(d.domid) or uuid, s.pid, what, file)
      xs.rm(lifecycle.SAVING .. "/" .. uuid)
    end
  end

  -- creates cut short: an intent whose maker is gone. Its domain, if Xen
  -- made one, was never finished: destroyed with all it had.
  local cut_short = {}
  for _, uuid in ipairs(xs.directory(lifecycle.CREATING) or {}) do
    local maker = lifecycle.intent_maker(uuid)
    if maker and not maker.alive and not lifecycle.creating[uuid] then
      local d = by_uuid[uuid]
      if d then
        local name = domain.name(d.domid) or "no name yet"
        local rec = records.get(uuid)
        if rec and rec.dm then devicemodel.stop(rec.dm) end
        xen.destroy(d.domid)
        if rec then records.remove(uuid) end
        libxlcfg.remove(d.domid, uuid)
        lifecycle.remove_nodes(d.domid, uuid)
        cut_short[uuid] = true
        did("domid %d (%s) was being created by pid %d, which stopped before it finished: destroyed",
          d.domid, name, maker.pid)
      end
      xs.rm(lifecycle.intent_path(uuid))
    end
  end

  -- records
  local recorded = {} -- domid -> the record of the domain running there
  for _, rec in ipairs(recs) do
    local d = by_uuid[rec.uuid]
    if cut_short[rec.uuid] or busy[rec.uuid] then
      -- settled above, or being made now
    elseif not d then
      -- asked again right before: a restart destroys the old domain and
      -- makes the new one under the same uuid, holding its intent between.
      -- The uuid's own node and record go first, ahead of any write a
      -- create starting after this check would make.
      -- A destroy under way has removed the record already (before the
      -- nodes): that is its work, not reconcile's.
      if records.get(rec.uuid) and not lifecycle.making(rec.uuid) then
        xs.rm("/vm/" .. rec.uuid)
        records.remove(rec.uuid)
        -- its domid may hold another domain by now: that one's nodes stay
        if not live[rec.domid] then lifecycle.remove_nodes(rec.domid) end
        -- libxl's copy of its config is named by its domid and uuid: its own
        libxlcfg.remove(rec.domid, rec.uuid)
        if rec.dm then devicemodel.stop(rec.dm) end
        did("%s (domid %d) is gone: its record removed", rec.name, rec.domid)
      end
    else
      if d.domid ~= rec.domid then
        -- the record as it is now, not as listed: a restart may have saved
        -- the new domain's since
        local now = not lifecycle.making(rec.uuid) and records.get(rec.uuid)
        if now and now.domid ~= d.domid then
          did("%s: its record named domid %d, the domain is domid %d: record updated", now.name, now.domid, d.domid)
          now.domid = d.domid
          records.save(now)
        end
        rec = now or rec
      end
      recorded[d.domid] = rec
    end
  end

  -- domains without a record: luxen's whose record was lost are rebuilt;
  -- anyone else's are left alone
  for domid, d in pairs(live) do
    local creating = busy[d.uuid] or xs.exists(lifecycle.intent_path(d.uuid))
    -- a create that finished after the records were listed has its record
    -- now (it saves it before it drops its intent): asked again, not rebuilt
    local unrecorded = domid ~= 0 and not d.dying and not recorded[domid] and not creating and not cut_short[d.uuid]
      and not records.get(d.uuid) and not lifecycle.making(d.uuid)
      and xen.info(domid) -- not destroyed since it was listed
    if unrecorded then
      local name = domain.name(domid)
      if made_by_luxen(domid) and name then
        local rec = M.rebuild(d)
        local ok, err = records.save(rec)
        if ok then
          recorded[domid] = rec
          log.domain(name).warn("reconcile: %s", rec.rebuilt)
          did("%s (domid %d) had no record: rebuilt from xenstore (name, uuid, memory, vcpus, devices; "..
            "not its kernel or restart policies, so it will not be restarted)", name, domid)
        else
          did("%s (domid %d) had no record, and rebuilding it failed: %s", name, domid, tostring(err))
        end
      elseif name then
        did("domid %d (%s) was not made by luxen (no record, no luxen marker): left alone", domid, name)
      else
        did("domid %d has no name and no record, and no luxen create of it is under way: left alone " ..
          "(another toolstack may be making it; destroy it if none is)", domid)
      end
    end
  end

  -- device models: a CD-ROM change cut short between its two phases
  for _, rec in pairs(recorded) do
    if rec.dm then
      local changed, derr = devicemodel.settle(rec)
      if changed then
        did("%s: a CD-ROM change was cut short: the record now says what its device model has", rec.name)
      elseif derr then
        did("%s: a CD-ROM change was cut short and its device model does not answer (%s): the record still says it does not know", rec.name, derr)
      end
    end
  end

  -- devices
  for domid, rec in pairs(recorded) do
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
    for _, e in pairs(entries) do
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
