--- records: the domain records store, one JSON file a domain.
--
-- A domain's record is its validated config plus what luxen knows about it
-- (domid, devices, device model, restarts), kept under
-- <state>/domains/<uuid>.json so a restarted luxen or supervisor can rebuild
-- what it knew. lifecycle writes it, the devices engine, the device model,
-- reconcile and the policies read and update it; it is a library module of
-- its own so none of them has to load the lifecycle to get at it.
--
--   local records = require("records")
--   records.get(uuid) -> rec | nil, err
--   records.save(rec) -> true | nil, err        (rec.uuid names the file)
--   records.remove(uuid) -> true | nil, err
--   records.list() -> { rec, ... }
--   records.path(uuid) -> "domains/<uuid>.json" (relative to the state directory)
--   records.uuid_of(domid) -> uuid | nil        (from the domain's /vm node)
--   records.of_domain(domid) -> rec | nil, err
--   records.update(domid, fn) -> true | nil, err  (under the domain's record lock)
local xs = require("xenstore")
local json = require("json")
local luxen = require("luxen")
local sync = require("sync")
local domain = require("domain")
local domainlocks = require("domainlocks")

local M = {}

function M.path(uuid) return "domains/" .. uuid .. ".json" end

function M.save(rec)
  local text, err = json.encode(rec, true)
  if not text then return nil, err end
  return luxen.state_write(M.path(rec.uuid), text)
end

function M.get(uuid)
  local text, err = luxen.state_read(M.path(uuid))
  if not text then return nil, err end
  return json.decode(text)
end

function M.remove(uuid) return luxen.state_remove(M.path(uuid)) end

function M.list()
  local out = {}
  for _, f in ipairs(luxen.state_list("domains") or {}) do
    local uuid = f:match("^(.*)%.json$")
    if uuid then out[#out + 1] = M.get(uuid) end
  end
  return out
end

-- A record is named by the domain's uuid, which xenstore keeps in the
-- domain's vm node ("/vm/<uuid>"): a domid is reused, a uuid is not.
function M.uuid_of(domid)
  local vm = xs.read(domain.path(domid) .. "/vm")
  return vm and vm:match("^/vm/(.*)$")
end

function M.of_domain(domid)
  local uuid = M.uuid_of(domid)
  if not uuid then return nil, "domain " .. tostring(domid) .. " has no luxen record" end
  return M.get(uuid)
end

--- update(domid, fn) -> true | nil, err
-- Reads the domain's record, lets fn(rec) change it and saves it, all under
-- the domain's fast (record) lock, so two tasks' updates of one record never
-- lose each other's change. If fn returns an error instead, the record is
-- left as it was and that error returned.
function M.update(domid, fn)
  local uuid = M.uuid_of(domid)
  if not uuid then return nil, "domain " .. domid .. " has no luxen record" end
  local _, fast = domainlocks.get(domain.name(domid) or tostring(domid))
  return sync.with(fast, function()
    local rec = M.get(uuid)
    if not rec then return nil, "domain " .. domid .. " has no luxen record" end
    local refused = fn(rec)
    if refused then return nil, refused end
    return M.save(rec)
  end)
end

return M
