--- devicemodel: the QEMU that emulates a domain's devices, driven over QMP.
--
-- A domain whose config names device_model_override gets a QEMU started for
-- it after it is built, with its QMP socket under <state>/dm/, one IDE CD-ROM
-- drive per name in the luxen key `cdrom` (e.g. cdrom = ["hdc"]). It is
-- ready when it answers on QMP (never a sleep), stopped when the domain is
-- destroyed, and recorded in the domain's JSON record.
--
-- QEMU serves one QMP client at a time, so luxen connects for each operation
-- and lets go at once; nothing holds the monitor between operations.
--
-- CD-ROM changes follow the two-phase pattern under two locks: the slow lock
-- (held across the QMP call) outside the fast lock (held only to update the
-- record): record the intent, tell QEMU, then record what QEMU actually has.
local qmp = require("qmp")
local xen = require("xen")
local sync = require("sync")
local log = require("log")
local luxen = require("luxen")
local domain = require("domain")
local records = require("records")
local domainlocks = require("domainlocks")

local M = {}

M.START_TIMEOUT = 30
M.COMMAND_TIMEOUT = 10

function M.socket(domid) return luxen.state_dir .. "/dm/" .. domid .. ".qmp" end

--- args(cfg) -> QEMU arguments for the domain's emulated devices
function M.args(cfg)
  local a = { "-accel", "tcg", "-M", "pc", "-S", "-nodefaults", "-display", "none" }
  for _, vdev in ipairs(cfg.cdrom or {}) do
    for _, x in ipairs({ "-drive", "if=none,id=" .. vdev .. ",media=cdrom,readonly=on",
                         "-device", "ide-cd,drive=" .. vdev .. ",id=" .. vdev }) do
      a[#a + 1] = x
    end
  end
  for _, x in ipairs(cfg.device_model_args or {}) do a[#a + 1] = x end
  return a
end

--- start(domid, cfg) -> {pid, socket, media} | nil, err
function M.start(domid, cfg)
  if xen.host() == "xen" then
    return nil, "device models on real Xen (qemu-system-xen with -xen-domid) are not supported by this luxen yet"
  end
  local sock = M.socket(domid)
  local pid, err = qmp.start_qemu(cfg.device_model_override, sock, M.args(cfg), M.START_TIMEOUT)
  if not pid then return nil, "device model: " .. tostring(err) end
  local media = {}
  for _, vdev in ipairs(cfg.cdrom or {}) do media[vdev] = { target = "" } end
  return { pid = pid, socket = sock, media = media }
end

--- stop(dm) -> killed
function M.stop(dm)
  if not dm then return false end
  return qmp.kill_qemu(dm.pid, dm.socket)
end

-- the domain's slow and fast locks (shared with the device engine)
function M.locks(name) return domainlocks.get(name) end

--- media(monitor) -> { [vdev] = file or "" } as QEMU reports it (query-block)
function M.media(m)
  local blocks, class, desc = m:execute("query-block", nil, M.COMMAND_TIMEOUT)
  if not blocks then return nil, tostring(class) .. ": " .. tostring(desc) end
  local out = {}
  for _, b in ipairs(blocks) do
    local vdev = (b.qdev or ""):match("([^/]+)$") or b.device
    out[vdev] = b.inserted and b.inserted.file or ""
  end
  return out
end

-- change(target, vdev, file): insert file ("" ejects) in the two phases.
local function change(target, vdev, file)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local name = domain.name(domid) or tostring(domid)
  local uuid = records.uuid_of(domid)
  local rec = uuid and records.get(uuid)
  if not rec or not rec.dm then return nil, "domain " .. name .. " has no device model" end
  if not rec.dm.media[vdev] then
    local names = {}
    for k in pairs(rec.dm.media) do names[#names + 1] = k end
    table.sort(names)
    return nil, string.format("domain %s has no CD-ROM drive %s (it has: %s)", name, vdev, table.concat(names, ", "))
  end
  if file ~= "" then
    local ok, ferr = luxen.stat(file)
    if not ok then return nil, "cd-insert: " .. file .. ": " .. tostring(ferr) end
  end
  local dlog = log.domain(name)
  local slow, fast = M.locks(name)
  return sync.with(slow, function()
    local function update(fn)
      return sync.with(fast, function()
        local r = assert(records.get(uuid), "record vanished")
        fn(r)
        assert(records.save(r))
      end)
    end
    -- phase 1: the record says what we are about to do
    update(function(r) r.dm.media[vdev] = { target = r.dm.media[vdev].target, pending = file } end)
    local m, merr = qmp.connect(rec.dm.socket, M.COMMAND_TIMEOUT)
    local ok, class, desc
    if m then
      if file == "" then
        ok, class, desc = m:execute("eject", { id = vdev, force = true }, M.COMMAND_TIMEOUT)
      else
        ok, class, desc = m:execute("blockdev-change-medium", { id = vdev, filename = file, format = "raw" }, M.COMMAND_TIMEOUT)
      end
    else
      class, desc = "unreachable", merr
    end
    -- phase 2: the record says what QEMU actually has
    local actual, qerr
    if m then actual, qerr = M.media(m); m:close() end
    update(function(r)
      if actual then
        r.dm.media[vdev] = { target = actual[vdev] or "" }
      else
        r.dm.media[vdev] = { target = r.dm.media[vdev].target, unknown = "device model unreachable: " .. tostring(qerr or desc) }
      end
    end)
    if not ok then
      dlog.warn("%s %s: %s: %s", file == "" and "cd-eject" or "cd-insert", vdev, tostring(class), tostring(desc))
      return nil, string.format("%s %s: %s: %s", file == "" and "cd-eject" or "cd-insert", vdev, tostring(class), tostring(desc))
    end
    dlog.info("%s %s %s", file == "" and "ejected" or "inserted", vdev, file)
    return true
  end)
end

function M.cd_insert(target, vdev, file) return change(target, vdev, file) end
function M.cd_eject(target, vdev) return change(target, vdev, "") end

return M
