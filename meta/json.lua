---@meta json
local json = {}
---@type userdata encodes as null
json.null = nil
---@return string|nil, string|nil err
function json.encode(value, indent) end
---@return any|nil, string|nil err
function json.decode(text) end
return json
