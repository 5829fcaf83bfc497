---@meta schema
-- LuaLS stubs for require("schema") (stdlib/lua/schema.lua): checking one
-- value against a declared field, for config.schema and device classes.

---@class schema.Spec
---@field kind "string"|"integer"|"enum"|"bool"|"list"|"cpulist"|"uuid"
---@field required boolean|nil
---@field default any
---@field pattern string|nil string: a Lua pattern the value must match
---@field explain string|nil string: how to say what pattern wants
---@field not_number boolean|nil string: refuse a value tonumber reads
---@field max_len integer|nil string: the most characters
---@field file boolean|nil string: names a file that must exist
---@field min integer|nil integer
---@field max integer|nil integer
---@field unit string|nil integer: named in range errors ("MiB")
---@field values string[]|nil enum: the allowed words
---@field unsupported table<string, boolean>|nil enum: words luxen does not do yet

local schema = {}

---Checks v against spec; returns it normalised (a digit string as a number,
---a string as a list of one, a uuid in lower case). Raises for an unknown kind.
---@param key string the key, for messages
---@param spec schema.Spec
---@param v any
---@return any|nil value, string|nil err what is wrong, without the key
function schema.check(key, spec, v) end

---Parses one xl CPU list as xl's cpurange_parse: items in order, each adding
---("3", "0-3", "all") or, after "^", taking away.
---@param text string|integer "0-3,^1"
---@return integer[]|nil cpus ascending, string|nil err
function schema.cpus(text) end

---@param path string
---@return true|nil ok, string|nil err "path: what is wrong"
function schema.check_file(path) end

return schema
