---@meta log
-- LuaLS stubs for require("log"). Inside a domain's task group ("domain:NAME")
-- messages also go to that domain's log.

---@class log.Logger
---@field path string
---@field debug fun(fmt: any, ...)
---@field info fun(fmt: any, ...)
---@field warn fun(fmt: any, ...)
---@field error fun(fmt: any, ...)
---Every line of text at info, each with prefix, under one timestamp and in one write.
---@field lines fun(text: string, prefix?: string)

local log = {}
function log.debug(fmt, ...) end
function log.info(fmt, ...) end
function log.warn(fmt, ...) end
function log.error(fmt, ...) end
---@return log.Logger
function log.domain(name) end
---@param level "debug"|"info"|"warn"|"error"
function log.set_level(level) end
---@return string
function log.dir() end
---@return string
function log.path(name) end
return log
