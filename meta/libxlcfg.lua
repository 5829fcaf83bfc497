---@meta libxlcfg
-- LuaLS stubs for require("libxlcfg") (stdlib/lua/libxlcfg.lua): each domain's config as libxl keeps it (its userdata file), so xl list -l, xl save and xl destroy work on luxen's domains and luxen reads xl's.
local libxlcfg = {}

---The domain's userdata file: luxen.libxl_dir/userdata-d.<domid>.<uuid>.libxl-json.
---@param domid integer
---@param uuid string
---@return string path
function libxlcfg.path(domid, uuid) end

---libxl_domain_config as a Lua table: the record's config, its devices now, and xenstore's memory target and vCPUs online.
---@param rec records.Record
---@param domid integer
---@return table config
function libxlcfg.config(rec, domid) end

---Write (or rewrite) the domain's userdata file, whole or not at all.
---@param domid integer
---@param rec records.Record
---@return true|nil ok, string|nil err
function libxlcfg.store(domid, rec) end

---The domain's userdata file, decoded (libxl's trailing NUL dropped).
---@param domid integer
---@param uuid string
---@return table|nil config, string|nil err
function libxlcfg.read(domid, uuid) end

---Remove the domain's userdata file (no error when there is none).
---@param domid integer
---@param uuid string|nil
function libxlcfg.remove(domid, uuid) end

---xl list -l's array: luxen's domains from their records, others from the file libxl stored; a domain with neither is left out.
---@param doms luxen.DomainRow[]
---@return {domid: integer, config: table}[]
function libxlcfg.list_long(doms) end
---libxl's domain config (as a save file's header has it) as a luxen config
---table with xl.cfg's keys, devices as spec strings; config.from_table checks
---it. A guest luxen does not restore (not PVH) is nil and the reason.
---@param c table
---@return table|nil cfg, string|nil err
function libxlcfg.to_config(c) end

return libxlcfg
