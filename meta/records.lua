---@meta records
-- LuaLS stubs for require("records") (stdlib/lua/records.lua): the domain
-- records store, one JSON file a domain under <state>/domains/<uuid>.json.

---@class records.Device
---@field class string the device class ("vbd", "vif", ...)
---@field devid integer
---@field fields table<string, any> the validated fields it was attached with
---@field active string|nil the backend domain serving it now
---@field disconnected string|nil why it is unplugged (its backend is gone), if it is

---@class records.Record
---@field name string
---@field uuid string names the record's file
---@field domid integer
---@field config table the validated config, without its source lines
---@field created number time.now() of the create
---@field restarts number[] times of the recent restarts (the reboot-loop check)
---@field console_offset integer|nil where this domain's console log began
---@field dm {pid: integer, socket: string, media: table<string, table>}|nil its device model
---@field devices table<string, records.Device>|nil by "class/devid"
---@field rebuilt string|nil set when reconcile rebuilt a lost record from xenstore
---@field config_updated boolean|nil set by config-update: the next restart takes its devices from config, not from devices

local records = {}

---The state-relative path of uuid's record.
---@param uuid string
---@return string path "domains/<uuid>.json"
function records.path(uuid) end

---@param uuid string
---@return records.Record|nil rec, string|nil err "ENOENT" when there is none
function records.get(uuid) end

---Writes rec to the file rec.uuid names.
---@param rec records.Record
---@return true|nil ok, string|nil err
function records.save(rec) end

---@param uuid string
---@return true|nil ok, string|nil err
function records.remove(uuid) end

---Every record in the state directory.
---@return records.Record[]
function records.list() end

---The uuid the domain's /vm node names.
---@param domid integer
---@return string|nil uuid
function records.uuid_of(domid) end

---The record of the domain running as domid.
---@param domid integer
---@return records.Record|nil rec, string|nil err "domain N has no luxen record" without a uuid, "ENOENT" without a file
function records.of_domain(domid) end

---Reads domid's record, lets fn change it and saves it, under the domain's
---record lock. fn returning a string refuses the update: the record is left
---as it was and that string returned as the error.
---@param domid integer
---@param fn fun(rec: records.Record): string|nil
---@return true|nil ok, string|nil err
function records.update(domid, fn) end

return records
