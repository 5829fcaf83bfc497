---@meta _config
local _config = {}
---@return {key: string, value: any, line: integer}[]|nil settings, string|nil err "file:line: message"
function _config.parse_xl(text, filename) end
---@return string|nil text, string|nil err
function _config.read_file(path) end
return _config
