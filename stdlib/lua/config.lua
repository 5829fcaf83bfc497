--- config: read domain configs — xl.cfg files (xl.cfg(5) syntax) and Lua
--- table configs — into one validated domain config table.
--
--   local config = require("config")
--   local cfg, err = config.load("web.cfg", { "memory=512" })  -- overrides as `xl create` takes them
--   local cfg, err = config.from_table({ name = "db", memory = 256 }, "db.lua")
--
-- Errors name the file and line of the offending key ("web.cfg:4: memory: ..."),
-- or the command-line override that set it ("command line: memory=lots: memory: ...").
-- The schema below is data: a site can extend it by overriding this module.
local native = require("_config")
local schema = require("schema")
local devices = require("devices")

local M = {}

local ACTIONS = { "destroy", "restart", "rename-restart", "preserve" }
-- xl's actions luxen does not do yet: refused as such, not as unknown words
local UNSUPPORTED_ACTIONS = { ["coredump-destroy"] = true, ["coredump-restart"] = true, ["soft-reset"] = true }

-- Xen 4.17's libxl and xl put no limit of their own on a domain's name: xl
-- only requires one (tools/xl/xl_parse.c), libxl only refuses a name another
-- domain has (libxl__domain_rename, tools/libs/light/libxl_domain.c) and
-- writes it to xenstore as it is; no character is refused. The effective
-- limit is NAME_MAX (255 bytes) for the log files the tools name after the
-- domain in /var/log/xen: xenconsoled's guest-NAME.log
-- (tools/console/daemon/io.c), the xl daemon's xl-NAME.log
-- (tools/xl/xl_vmcontrol.c, do_daemonize in tools/xl/xl_utils.c) and
-- QEMU's qemu-dm-NAME.log (tools/libs/light/libxl_dm.c), the last two
-- rotated up to .log.10 by libxl_create_logfile (tools/libs/light/libxl_utils.c).
-- The longest, qemu-dm-NAME.log.10, leaves 255 - 15 = 240. (xenstore would
-- take far more: a value may be up to XENSTORE_PAYLOAD_MAX, 4096 bytes,
-- less its path, xen/include/public/io/xs_wire.h.) luxen's own log/NAME.log
-- fits in that too.
M.NAME_MAX = 240

-- Every key a domain config may have, declared as schema.lua describes
-- (kind: string, integer, enum, bool, list, uuid, and what each may add).
-- required: the config must set it; default: its value when it does not;
-- device: a list whose items are parsed by the device class whose
-- config_key it is.
M.schema = {
  name = { kind = "string", required = true, pattern = "^[%w][%w%.%-_]*$",
           explain = "letters, digits, '.', '-' and '_', starting with a letter or digit",
           not_number = true,
           max_len = M.NAME_MAX },
  type = { kind = "enum", values = { "pv", "pvh", "hvm" }, default = "pvh" },
  builder = { kind = "enum", values = { "generic", "hvm" } }, -- old spelling of type=hvm
  memory = { kind = "integer", min = 1, max = 16 * 1024 * 1024, default = 128, unit = "MiB" },
  maxmem = { kind = "integer", min = 1, max = 16 * 1024 * 1024, unit = "MiB" },
  vcpus = { kind = "integer", min = 1, max = 128, default = 1 },
  maxvcpus = { kind = "integer", min = 1, max = 128 },
  -- the physical CPUs each vCPU may run on, and prefers (xl.cfg(5))
  cpus = { kind = "cpulist" },
  cpus_soft = { kind = "cpulist" },
  -- the scheduler's (credit, credit2): CPU share against other domains, and
  -- the most CPU it may use, in percent of one CPU (0: no cap)
  cpu_weight = { kind = "integer", min = 1, max = 65535 },
  cap = { kind = "integer", min = 0, max = 65535, unit = "%" },
  uuid = { kind = "uuid" },
  kernel = { kind = "string", file = true },
  ramdisk = { kind = "string", file = true },
  cmdline = { kind = "string" },
  root = { kind = "string" },
  extra = { kind = "string" },
  on_poweroff = { kind = "enum", values = ACTIONS, unsupported = UNSUPPORTED_ACTIONS, default = "destroy" },
  on_reboot = { kind = "enum", values = ACTIONS, unsupported = UNSUPPORTED_ACTIONS, default = "restart" },
  on_crash = { kind = "enum", values = ACTIONS, unsupported = UNSUPPORTED_ACTIONS, default = "destroy" },
  on_watchdog = { kind = "enum", values = ACTIONS, unsupported = UNSUPPORTED_ACTIONS, default = "destroy" },
  on_soft_reset = { kind = "enum", values = ACTIONS, unsupported = UNSUPPORTED_ACTIONS, default = "destroy" },
  driver_domain = { kind = "bool", default = false },
  -- Xen's PV shim (xl.cfg(5)'s PVH keys; luxen's default for type = "pv")
  pvshim = { kind = "bool" },
  pvshim_path = { kind = "string", file = true },
  pvshim_cmdline = { kind = "string" },
  pvshim_extra = { kind = "string" },
  msr_relaxed = { kind = "bool" },
  -- a device model (scripts/devicemodel.lua): xl's keys, and luxen's cdrom list
  device_model_override = { kind = "string" },
  device_model_args = { kind = "list" },
  device_model_version = { kind = "enum", values = { "qemu-xen" },
                           unsupported = { ["qemu-xen-traditional"] = true } },
  cdrom = { kind = "list" },
  -- HVM guests (type = "hvm"), xl.cfg(5)'s names and defaults
  firmware_override = { kind = "string", file = true },
  bios = { kind = "enum", values = { "seabios" }, unsupported = { rombios = true, ovmf = true } },
  vga = { kind = "enum", values = { "none", "stdvga", "cirrus" }, unsupported = { qxl = true } },
  stdvga = { kind = "bool" },
  videoram = { kind = "integer", min = 1, max = 1024, unit = "MiB" },
  vnc = { kind = "bool" },
  vnclisten = { kind = "string" },
  sdl = { kind = "bool" },
  nographic = { kind = "bool" },
  serial = { kind = "string" },
  boot = { kind = "string", pattern = "^[acdn]+$", explain = "drive letters: c (disk), d (CD-ROM), a (floppy), n (network)" },
  dm_restrict = { kind = "bool", default = false },
  device_model_user = { kind = "string" },
  acpi = { kind = "bool", default = true },
  apic = { kind = "bool", default = true },
  hpet = { kind = "bool", default = true },
  pae = { kind = "bool", default = true },
  viridian = { kind = "bool", default = false },
  -- luxen's own keys: reboot-loop suppression (see policies/restart.lua)
  restart_limit = { kind = "integer", min = 1, max = 1000 },
  restart_window = { kind = "integer", min = 1, max = 86400, unit = "s" },
  -- devices: each item is parsed by its class (scripts/devices/) through the
  -- devices engine; a key with no class shipped is refused, not ignored
  disk = { kind = "list", device = true },
  vif = { kind = "list", device = true },
  vkb = { kind = "list", device = true },
  vfb = { kind = "list", device = true },
  channel = { kind = "list", device = true },
  p9 = { kind = "list", device = true },
}

-- xl.cfg(5) keys luxen knows and does not do, and why: refused by name,
-- not as unknown keys
M.refused = {
  bootloader = "luxen runs no bootloader (pygrub reads the guest's own disk in dom0); " ..
    "copy the guest's kernel and initrd out and name them with kernel= and ramdisk=",
  bootloader_args = "luxen runs no bootloader: see bootloader",
  seclabel = "luxen sets no XSM/FLASK label (Debian's Xen enforces none); remove the key",
  init_seclabel = "luxen sets no XSM/FLASK label; remove the key",
  device_model_stubdomain_override = "luxen runs no stub domain: the device model runs in dom0 " ..
    "(dm_restrict = 1 confines it there)",
  pci = "PCI passthrough is not supported by luxen yet",
  usbctrl = "USB controllers are not supported by luxen yet",
  usbdev = "USB devices are not supported by luxen yet",
  -- libxl sets both with XEN_DOMCTL_settimeoffset, which luxen does not make
  localtime = "luxen does not offset the guest's emulated RTC yet (libxl's XEN_DOMCTL_settimeoffset): " ..
    "it keeps UTC; remove the key, and set the guest's own time zone",
  rtc_timeoffset = "luxen does not offset the guest's emulated RTC yet (libxl's XEN_DOMCTL_settimeoffset): " ..
    "it keeps UTC; remove the key",
}

local function names_of(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- a small edit distance, for "did you mean"
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = (a:sub(i, i) == b:sub(j, j)) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

local function suggest(key)
  local best, bestd
  for _, k in ipairs(names_of(M.schema)) do
    local d = distance(key, k)
    if d <= 2 and (not bestd or d < bestd) then best, bestd = k, d end
  end
  return best
end

-- origins[key] is the command-line override that set key, if one did
local function where(source, lines, key, origins)
  if origins and origins[key] then return "command line: " .. origins[key] .. ": " end
  local line = lines and lines[key]
  if line then return source .. ":" .. line .. ": " end
  return source .. ": "
end

-- A value's check against its key's spec is schema's, shared with the
-- device classes' fields; these are the same functions, kept here for
-- scripts that call config.check or config.check_file.
M.check = schema.check
M.check_file = schema.check_file

--- validate(raw, source, lines [, origins]) -> cfg | nil, "source:line: key: problem"
-- origins[key] names the command-line override ("memory=lots") that set key:
-- its problems are blamed on the override, not on the file.
function M.validate(raw, source, lines, origins)
  source = source or "config"
  origins = origins or {}
  local cfg = { source = source }
  -- report problems in file order, then the overrides' in theirs
  local function rank(k)
    if origins[k] then return math.huge end
    return lines and lines[k] or 0
  end
  local order = names_of(raw)
  table.sort(order, function(a, b)
    local la, lb = rank(a), rank(b)
    if la ~= lb then return la < lb end
    return a < b
  end)
  local function at(key) return where(source, lines, key, origins) end
  for _, key in ipairs(order) do
    local spec = M.schema[key]
    if not spec and M.refused[key] then
      return nil, at(key) .. key .. ": " .. M.refused[key]
    end
    if not spec then
      local s = suggest(key)
      return nil, at(key) .. "unknown key '" .. key .. "'" .. (s and (" (did you mean '" .. s .. "'?)") or "")
    end
    local v, err = schema.check(key, spec, raw[key])
    if v == nil then return nil, at(key) .. key .. ": " .. err end
    if spec.device then
      local class = devices.by_config_key(key)
      if not class then
        return nil, at(key) .. key .. ": no device class handles it in this luxen; remove the key"
      end
      local parsed = {}
      for i, item in ipairs(v) do
        local f, perr = devices.parse(class, item, key .. "[" .. i .. "]")
        if not f then return nil, at(key) .. perr end
        -- two devices with one identity (vdev, mac, devid) would fail only
        -- at attach, once the domain exists
        for j, g in ipairs(parsed) do
          local field = devices.clash(class, g, f)
          if field then
            return nil, at(key) .. string.format("%s[%d]: %s: %s is %s[%d]'s already", key, i, field, tostring(f[field]), key, j)
          end
        end
        parsed[#parsed + 1] = f
      end
      v = parsed
    end
    cfg[key] = v
  end
  -- defaults; the schema's keys are sorted only to name the first missing
  -- required key the same way every time (every create passes here)
  local missing
  for key, spec in pairs(M.schema) do
    if cfg[key] == nil then
      if spec.required then
        missing = missing or {}
        missing[#missing + 1] = key
      end
      cfg[key] = spec.default
    end
  end
  if missing then
    table.sort(missing)
    return nil, source .. ": missing required key '" .. missing[1] .. "'"
  end
  if cfg.builder == "hvm" then cfg.type = "hvm" end
  cfg.builder = nil
  cfg.maxmem = cfg.maxmem or cfg.memory
  cfg.maxvcpus = cfg.maxvcpus or cfg.vcpus
  if cfg.maxmem < cfg.memory then
    return nil, at("maxmem") .. string.format("maxmem: %d MiB is less than memory %d MiB", cfg.maxmem, cfg.memory)
  end
  if cfg.maxvcpus < cfg.vcpus then
    return nil, at("maxvcpus") .. string.format("maxvcpus: %d is less than vcpus %d", cfg.maxvcpus, cfg.vcpus)
  end
  for _, key in ipairs({ "cpus", "cpus_soft" }) do
    local per = cfg[key] and cfg[key].per
    if per and #per > cfg.maxvcpus then
      return nil, at(key) .. string.format("%s: %d CPU lists for %d vcpus", key, #per, cfg.maxvcpus)
    end
  end
  if cfg.ramdisk and not cfg.kernel then
    return nil, at("ramdisk") .. "ramdisk: a ramdisk needs a kernel"
  end
  if not cfg.cmdline and (cfg.root or cfg.extra) then
    local parts = {}
    if cfg.root then parts[#parts + 1] = "root=" .. cfg.root end
    if cfg.extra then parts[#parts + 1] = cfg.extra end
    cfg.cmdline = table.concat(parts, " ")
  end
  cfg.lines = lines
  cfg.origins = origins
  return cfg
end

--- where(cfg, key) -> "source:line: " (or "command line: key=value: ") for
-- an error about key found after the config was read
function M.where(cfg, key) return where(cfg.source or "config", cfg.lines, key, cfg.origins) end

--- parse_xl(text, source) -> raw, lines | nil, err
function M.parse_xl(text, source)
  local settings, err = native.parse_xl(text, source)
  if not settings then return nil, err end
  local raw, lines = {}, {}
  for _, s in ipairs(settings) do
    raw[s.key] = s.value
    lines[s.key] = s.line
  end
  return raw, lines
end

-- origins[key] = the override that set key, for errors
local function apply_overrides(raw, lines, origins, overrides)
  for i, o in ipairs(overrides or {}) do
    local text = o
    if not o:find("=") then return nil, "command line: override " .. i .. " '" .. o .. "' is not key=value" end
    -- xl quotes nothing on the command line: a bare word is a string
    local k, v = o:match("^%s*([%w_]+)%s*=%s*(.-)%s*$")
    if k and v ~= "" and not v:match("^[\"'%[%-%d]") then text = k .. ' = "' .. v .. '"' end
    local r, err = native.parse_xl(text, "command line")
    if not r then return nil, err end
    for _, s in ipairs(r) do
      raw[s.key] = s.value
      lines[s.key] = nil
      origins[s.key] = o:match("^%s*(.-)%s*$")
    end
  end
  return true
end

--- from_table(t, source) -> cfg | nil, err   (for Lua table configs)
function M.from_table(t, source)
  if type(t) ~= "table" then return nil, (source or "config") .. ": a Lua config must be a table" end
  local raw = {}
  for k, v in pairs(t) do
    if type(k) ~= "string" then return nil, (source or "config") .. ": keys must be strings, got " .. type(k) end
    raw[k] = v
  end
  return M.validate(raw, source or "config")
end

--- load(path [, overrides]) -> cfg | nil, err
-- path ending in .lua is a Lua table config (it returns a table, or sets keys
-- as globals in an empty environment); anything else is xl.cfg syntax.
function M.load(path, overrides)
  local text, err = native.read_file(path)
  if not text then return nil, path .. ": " .. err end
  local raw, lines
  if path:match("%.lua$") then
    local chunk, cerr = loadstring(text, path)
    if not chunk then return nil, cerr end
    local env = {}
    setfenv(chunk, env)
    local ok, res = pcall(chunk)
    if not ok then return nil, path .. ": " .. tostring(res) end
    if type(res) ~= "table" then res = env end
    raw, lines = {}, {}
    for k, v in pairs(res) do
      if type(k) ~= "string" then return nil, path .. ": keys must be strings" end
      raw[k] = v
    end
  else
    raw, lines = M.parse_xl(text, path)
    if not raw then return nil, lines end
  end
  local origins = {}
  local ok, oerr = apply_overrides(raw, lines, origins, overrides)
  if not ok then return nil, oerr end
  return M.validate(raw, path, lines, origins)
end

return M
