---@meta json
-- LuaLS stubs for require("json"): JSON text to Lua tables and back (json.null is JSON null).
local json = {}
---@type userdata encodes as null
json.null = nil
---@return string|nil, string|nil err
function json.encode(value, indent) end
---@return any|nil, string|nil err
function json.decode(text) end
return json
