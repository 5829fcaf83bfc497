-- libxlcfg: a domain's config as libxl keeps it, so that luxen lives beside
-- xl on one host. libxl stores each domain's libxl_domain_config as JSON in
-- a "userdata" file, LIBXL_DIR/userdata-d.<domid>.<uuid>.libxl-json
-- (libxl__userdata_path, tools/libs/light/libxl_dom.c), and reads it for
-- `xl list -l`, `xl save` and `xl migrate`; `xl destroy` removes it. luxen
-- writes one for each domain it makes, from the domain's record, and
-- removes it with the domain.
--
-- The JSON is libxl's (libxl_types.idl through its JSON generator): enums
-- as their names ("pvh", "restart"), booleans of libxl_defbool as "True" /
-- "False", a keyed union as "type.<kind>": {...}; libxl ignores keys it
-- does not know and defaults those left out (checked in the lab with xl
-- list -l on a handwritten file).
local luxen = require("luxen")
local json = require("json")
local xs = require("xenstore")
local devices = require("devices")
local records = require("records")

local M = {}

--- path(domid, uuid) -> the domain's userdata file
function M.path(domid, uuid)
  return string.format("%s/userdata-d.%d.%s.libxl-json", luxen.libxl_dir, domid, uuid)
end

-- a CPU list of luxen's parsed config ({ all = {...} } or { per = {...} })
-- as libxl's per-vCPU affinity list
local function affinity(c, maxvcpus)
  if not c then return nil end
  local out = {}
  for v = 0, maxvcpus - 1 do
    out[#out + 1] = c.all or c.per[v + 1] or c.per[#c.per]
  end
  return out
end

--- config(rec, domid) -> libxl_domain_config as a Lua table: the record's
--- config, its devices as they are now (hot-plugged ones too), and the
--- memory target and vCPUs online as xenstore has them now (as libxl
--- merges them into what it stored)
function M.config(rec, domid)
  local cfg = rec.config
  local dp = "/local/domain/" .. domid
  local kind = cfg.type == "pv" and "pvh" or cfg.type -- a PV guest runs in the PVH shim
  local avail = {}
  local online = xs.batch((function()
    local r = {}
    for v = 0, cfg.maxvcpus - 1 do r[#r + 1] = { "read", dp .. "/cpu/" .. v .. "/availability" } end
    r[#r + 1] = { "read", dp .. "/memory/target" }
    r[#r + 1] = { "read", dp .. "/memory/static-max" }
    r[#r + 1] = { "read", dp .. "/memory/videoram" }
    return r
  end)())
  for v = 0, cfg.maxvcpus - 1 do
    local a = online[v + 1]
    if a == "online" or (not a and v < cfg.vcpus) then avail[#avail + 1] = v end
  end
  local maxkb = tonumber(online[cfg.maxvcpus + 2] or "") or cfg.maxmem * 1024
  -- libxl's target_memkb counts the video memory in (xenstore's target does
  -- not), and a config without video_memkb reads one KiB short in xl
  -- (LIBXL_MEMKB_DEFAULT is -1): libxl_mem.c, libxl__get_memory_target
  local video = tonumber(online[cfg.maxvcpus + 3] or "") or 0
  local target = (tonumber(online[cfg.maxvcpus + 1] or "") or cfg.memory * 1024) + video
  local b = {
    max_vcpus = cfg.maxvcpus, avail_vcpus = avail,
    vcpu_hard_affinity = affinity(cfg.cpus, cfg.maxvcpus),
    vcpu_soft_affinity = affinity(cfg.cpus_soft, cfg.maxvcpus),
    max_memkb = maxkb, target_memkb = target, video_memkb = video,
    sched_params = { weight = cfg.cpu_weight, cap = cfg.cap },
    kernel = cfg.kernel, cmdline = cfg.cmdline, ramdisk = cfg.ramdisk,
    arch_arm = {}, arch_x86 = { msr_relaxed = cfg.msr_relaxed and "True" or "False" },
  }
  b["type." .. kind] = cfg.type == "pv" and { pvshim = "True" } or {}
  local out = {
    c_info = { type = kind, name = rec.name or cfg.name, uuid = rec.uuid, run_hotplug_scripts = "True" },
    b_info = b,
    on_poweroff = cfg.on_poweroff, on_reboot = cfg.on_reboot, on_crash = cfg.on_crash,
  }
  -- the devices, in devid order within each class
  local keys = {}
  for k in pairs(rec.devices or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local d = rec.devices[k]
    local list, entry = devices.libxl(d.class, d.fields or {}, d.devid)
    if list then
      out[list] = out[list] or {}
      table.insert(out[list], entry)
    end
  end
  return out
end

-- a libxl_bitmap in JSON (the set bits' indexes) as an xl.cfg CPU list
local function cpu_list(bits)
  local out = {}
  for _, b in ipairs(bits or {}) do out[#out + 1] = tostring(b) end
  return table.concat(out, ",")
end

-- libxl's per-vCPU affinity as xl.cfg's cpus: one list for all when they
-- are all the same, else a list a vCPU
local function cpus_of(list)
  if type(list) ~= "table" or #list == 0 then return nil end
  local first, same = cpu_list(list[1]), true
  local per = {}
  for i, bits in ipairs(list) do
    per[i] = cpu_list(bits)
    if per[i] ~= first then same = false end
  end
  if first == "" then return nil end
  return same and first or per
end

local function truthy(v) return v == true or v == "True" or v == 1 end

--- to_config(c) -> table | nil, err: libxl_domain_config (as xl save and
--- luxen save write it in a save file's header) as a luxen config table,
--- the keys xl.cfg would have; config.from_table checks it as any config.
--- What luxen does not run (an HVM guest's device model state) is refused.
function M.to_config(c)
  if type(c) ~= "table" or type(c.c_info) ~= "table" or type(c.b_info) ~= "table" then
    return nil, "not a libxl domain config (no c_info and b_info)"
  end
  local ci, b = c.c_info, c.b_info
  local t = { name = ci.name, uuid = ci.uuid }
  if ci.type == "pvh" then
    t.type = "pvh"
    if type(b["type.pvh"]) == "table" and truthy(b["type.pvh"].pvshim) then
      t.type = "pv" -- luxen's PV guests run in the shim, and save as xl's pvshim
    end
  else
    return nil, string.format("c_info.type %s: luxen restores PVH guests only", tostring(ci.type))
  end
  local video = tonumber(b.video_memkb) or 0
  if video < 0 then video = 0 end
  if tonumber(b.target_memkb) and b.target_memkb > 0 then t.memory = math.floor((b.target_memkb - video) / 1024) end
  if tonumber(b.max_memkb) and b.max_memkb > 0 then t.maxmem = math.floor(b.max_memkb / 1024) end
  if tonumber(b.max_vcpus) and b.max_vcpus > 0 then
    t.maxvcpus = b.max_vcpus
    t.vcpus = type(b.avail_vcpus) == "table" and #b.avail_vcpus > 0 and #b.avail_vcpus or b.max_vcpus
  end
  t.cpus = cpus_of(b.vcpu_hard_affinity)
  t.cpus_soft = cpus_of(b.vcpu_soft_affinity)
  local sp = type(b.sched_params) == "table" and b.sched_params or {}
  if tonumber(sp.weight) and sp.weight > 0 then t.cpu_weight = sp.weight end
  if tonumber(sp.cap) and sp.cap > 0 then t.cap = sp.cap end
  t.kernel, t.ramdisk, t.cmdline = b.kernel, b.ramdisk, b.cmdline
  if type(b.arch_x86) == "table" and truthy(b.arch_x86.msr_relaxed) then t.msr_relaxed = true end
  t.on_poweroff, t.on_reboot, t.on_crash = c.on_poweroff, c.on_reboot, c.on_crash
  for _, list in ipairs({ "disks", "nics" }) do
    for i, entry in ipairs(c[list] or {}) do
      local class, spec = devices.from_libxl(list, entry)
      if not class then return nil, string.format("%s[%d]: %s", list, i, spec) end
      local key = devices.class(class).config_key
      t[key] = t[key] or {}
      table.insert(t[key], spec)
    end
  end
  for _, list in ipairs({ "pcidevs", "vtpms", "p9s", "channels", "usbctrls", "usbdevs", "vdispls", "vsnds" }) do
    if type(c[list]) == "table" and #c[list] > 0 then
      return nil, string.format("%s: the saved guest has devices luxen does not restore", list)
    end
  end
  return t
end

--- store(domid, rec) -> true | nil, err: write (or rewrite) the domain's
--- userdata file, whole or not at all (a temporary file renamed over it)
function M.store(domid, rec)
  local ok, text = pcall(json.encode, M.config(rec, domid), true)
  if not ok then return nil, "libxl config: " .. tostring(text) end
  -- a host without libxl's directory has no xl to read it
  if not luxen.stat(luxen.libxl_dir) then return true end
  -- as libxl stores it: a C string, its NUL included, mode 0600
  local path = M.path(domid, rec.uuid)
  local ok2, err = luxen.libxl_store(path:match("[^/]+$"), text .. "\n\0")
  if not ok2 then return nil, "libxl config " .. path .. ": " .. tostring(err) end
  return true
end

--- read(domid, uuid) -> config | nil, err: the domain's userdata file, decoded
function M.read(domid, uuid)
  local f, err = io.open(M.path(domid, uuid))
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  -- libxl stores the JSON as a C string, its NUL included
  local nul = text:find("\0", 1, true)
  if nul then text = text:sub(1, nul - 1) end
  local ok, v, derr = pcall(json.decode, text)
  if not ok then return nil, tostring(v) end
  if v == nil then return nil, derr end
  return v
end

--- remove(domid, uuid): the domain's userdata file goes (no error if it is not there)
function M.remove(domid, uuid)
  if uuid then os.remove(M.path(domid, uuid)) end
end

--- list_long(doms) -> { {domid =, config =}, ... }: xl list -l's array.
--- luxen's domains are described from their records (so hot-plugged devices
--- show); another toolstack's from the file libxl stored; a domain with
--- neither is left out, as xl leaves it out.
function M.list_long(doms)
  local out = {}
  for _, d in ipairs(doms) do
    local rec = d.domid ~= 0 and records.of_domain(d.domid)
    local cfg
    if rec then
      cfg = M.config(rec, d.domid)
    elseif d.uuid then
      cfg = M.read(d.domid, d.uuid)
    end
    if cfg then out[#out + 1] = { domid = d.domid, config = cfg } end
  end
  return out
end

return M
