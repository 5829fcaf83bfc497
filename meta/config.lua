---@meta config
-- LuaLS stubs for require("config") (stdlib/lua/config.lua): xl.cfg files and
-- Lua table configs, read into one validated domain config. Errors name the
-- file and line ("web.cfg:4: memory: ...") or the override ("command line:
-- memory=lots: ...").
local config = {}

---The longest domain name (the log files Xen's tools name after it).
---@type integer
config.NAME_MAX = 240
---Every key a config may have, as schema.lua describes (a site may extend it).
---@type table<string, table>
config.schema = {}
---xl.cfg keys luxen knows and does not do (bootloader, pci, ...), each to the
---reason a config naming it is refused; a site may remove one it handles.
---@type table<string, string>
config.refused = {}

---@class config.Config
---@field name string
---@field type "pv"|"pvh"|"hvm"
---@field memory integer MiB
---@field maxmem integer MiB
---@field vcpus integer
---@field maxvcpus integer
---@field kernel string|nil
---@field ramdisk string|nil
---@field cmdline string root= and extra=, joined
---@field source string the file (or "table") it came from
---@field lines table<string, integer>|nil key -> line
---@field origins table<string, string>|nil key -> the override that set it
---and every other key of config.schema that was set or has a default

---schema.check: one value against one schema entry.
---@return any|nil value, string|nil err
function config.check(entry, value, key) end

---schema.check_file: a kernel or ramdisk path that must exist now.
---@param path string
---@return true|nil ok, string|nil err "path: what is wrong"
function config.check_file(path) end

---Validate raw keys (from parse_xl, a table or a file).
---@param raw table<string, any>
---@param source string
---@param lines? table<string, integer>
---@param origins? table<string, string>
---@return config.Config|nil cfg, string|nil err "source:line: key: problem"
function config.validate(raw, source, lines, origins) end

---"source:line: " (or "command line: key=value: ") for an error about key found later.
---@param cfg config.Config
---@param key string
---@return string prefix
function config.where(cfg, key) end

---Parse xl.cfg text (no validation).
---@param text string
---@param source string
---@return table<string, any>|nil raw, table<string, integer>|string lines_or_err
function config.parse_xl(text, source) end

---A Lua table config.
---@param t table
---@param source? string
---@return config.Config|nil cfg, string|nil err
function config.from_table(t, source) end

---Read and validate a config file: xl.cfg syntax, or a .lua that returns a table.
---@param path string
---@param overrides? string[] "key=value", as `xl create` takes them
---@return config.Config|nil cfg, string|nil err
function config.load(path, overrides) end

return config
