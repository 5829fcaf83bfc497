--- devices: the one engine behind every device class.
--
-- A class is a Lua file in scripts/devices/ that declares its fields (the
-- xl.cfg spec syntax, defaults, validation), which keys go to the frontend
-- and which to the backend directory. From that this engine derives: parsing
-- of xl's spec strings, the xenstore layout with libxl's permissions (the
-- frontend owned by the guest and readable by the backend, the backend owned
-- by the backend domain and readable by the guest), attach and detach with
-- the XenbusState handshake, reading devices back from xenstore, and the
-- entries in the domain's JSON record. A site adds a class by adding a file
-- and naming it in CLASSES (override this module, or call register).
--
-- This engine is library code: it requires nothing from scripts/ by name.
-- Classes are found by their module path (devices.<class>, the extension
-- point above), and what a class must run in dom0 (hotplug, on real Xen) is
-- the class declaration's own `hotplug` function, which the shipped classes
-- take from scripts/hotplug.lua (a site's copy of it, if it has one).
--
--   local devices = require("devices")
--   devices.parse("vbd", "/img,raw,xvda,rw") -> fields | nil, err
--   devices.attach(domid, "vbd", fields [, {wait="connected"|"initwait"|false, timeout=}]) -> devid | nil, err
--   devices.detach(domid, "vbd", devid [, {timeout=, force=}]) -> true | nil, err
--   devices.list(domid, "vbd") -> { {devid=, state=, backend_state=, fields...}, ... }
local xs = require("xenstore")
local time = require("time")
local luxen = require("luxen")
local sync = require("sync")
local schema = require("schema")
local domain = require("domain")
local domainlocks = require("domainlocks")
local records = require("records")
local xen = require("xen")
local log = require("log")
local task = require("task")

local M = {}

M.CLASSES = { "vbd", "vif", "console", "vkb", "9pfs" }
M.TIMEOUT = 10 -- seconds for a handshake step (libxl uses 10 s for close-down)

-- XenbusState (xen/include/public/io/xenbus.h): the one table of these in
-- Lua; every script and spec reads the states from here.
M.STATE = xs.XENBUS_STATE

local classes = {}

function M.register(name)
  for _, n in ipairs(M.CLASSES) do if n == name then return end end
  M.CLASSES[#M.CLASSES + 1] = name
end

--- class(name) -> declaration (raises for an unknown class or a malformed
-- declaration: misuse)
-- A declaration's hotplug, if it has one, is a function
-- (action, backend_dir, fields, domain_name) -> true | nil, err that the
-- engine calls with "add" before the handshake and "remove" when the device
-- goes (the shipped vbd and vif take theirs from scripts/hotplug.lua).
function M.class(name)
  local c = classes[name]
  if c then return c end
  local ok, decl = pcall(require, "devices." .. name)
  if not ok then error("devices: no class '" .. tostring(name) .. "': " .. tostring(decl), 2) end
  if decl.hotplug ~= nil and type(decl.hotplug) ~= "function" then
    error(string.format("devices: class '%s': hotplug must be a function (action, backend_dir, fields, domain_name), " ..
      "e.g. require(\"hotplug\").step(%q), not a %s", tostring(name), tostring(decl.hotplug), type(decl.hotplug)), 2)
  end
  classes[name] = decl
  return decl
end

--- by_config_key("disk") -> "vbd"
function M.by_config_key(key)
  for _, n in ipairs(M.CLASSES) do
    if M.class(n).config_key == key then return n end
  end
end

---------------------------------------------------------------- numbering

-- xen-vbd-interface(7): xvdX = 202<<8 | disk<<4 | part (disk and part < 16),
-- else 1<<28 | disk<<8 | part; hdX and sdX use their own majors. The limits
-- are libxl's (libxl__device_disk_dev_number, tools/libs/light/libxl_device.c):
-- xvd disks up to 2^20-1 and partitions up to 255, hd disks 0..3 and
-- partitions up to 63, sd disks and partitions up to 15; a partition number
-- has no leading zero ("xvda" alone is the whole disk).
M.VDEV_LIMITS = { xvd = { disks = 1048575, parts = 255 }, hd = { disks = 3, parts = 63 }, sd = { disks = 15, parts = 15 } }

--- vdev_devid("xvda1") -> 51713 | nil, "xvda1x: what is wrong"
function M.vdev_devid(vdev)
  local kind, letters, part
  for _, k in ipairs({ "xvd", "hd", "sd" }) do
    letters, part = vdev:match("^" .. k .. "([a-z]+)(%d*)$")
    if letters then kind = k break end
  end
  if not kind then return nil, vdev .. ": not a vdev (like xvda, hdc or sdb1)" end
  local lim = M.VDEV_LIMITS[kind]
  -- the letters are a bijective base-26 number: a=0 .. z=25, aa=26 ...;
  -- stop counting once past the limit (a long run of letters is no number)
  local d = -1
  for i = 1, #letters do
    d = (d + 1) * 26 + (letters:byte(i) - 97)
    if d > lim.disks then
      return nil, string.format("%s: disk %s is beyond %s's last, %d", vdev,
        i == #letters and string.format("%d", d) or ("'" .. letters .. "'"), kind, lim.disks)
    end
  end
  if part:sub(1, 1) == "0" then
    return nil, string.format("%s: a partition number has no leading zero (%s%s alone is the whole disk)", vdev, kind, letters)
  end
  local p = tonumber(part) or 0
  if p > lim.parts then
    return nil, string.format("%s: partition %s is beyond %s's last, %d", vdev, part, kind, lim.parts)
  end
  if kind == "xvd" then
    if d < 16 and p < 16 then return 202 * 256 + d * 16 + p end
    return 268435456 + d * 256 + p -- 1<<28
  elseif kind == "hd" then
    local majors = { [0] = 3, 3, 22, 22 }
    return majors[d] * 256 + (d % 2) * 64 + p
  end
  return 8 * 256 + d * 16 + p -- sd
end

local function random_mac()
  -- Xen's OUI, then three random octets
  local u = luxen.uuid()
  return string.format("00:16:3e:%s:%s:%s", u:sub(1, 2), u:sub(3, 4), u:sub(5, 6))
end

---------------------------------------------------------------- parsing

--- parse(class, spec [, where]) -> fields | nil, err
-- xl's syntax: comma-separated items, key=value or (in the declared order)
-- positional; a declared flag word sets its keys.
-- fits(class, key, item): item is a valid value of key, or (for a key with
-- affixes) becomes one once they are taken off
local function fits(c, key, item)
  for _, a in ipairs((c.affixes or {})[key] or {}) do
    if a.suffix and #item > #a.suffix and item:sub(-#a.suffix) == a.suffix then item = item:sub(1, -#a.suffix - 1) end
  end
  return schema.check(key, c.fields[key], item) ~= nil
end

function M.parse(name, spec, where)
  local c = M.class(name)
  where = where or c.config_key
  if type(spec) ~= "string" then return nil, where .. ": expected a spec string" end
  local raw, pos = {}, 1
  -- a field declared rest (xl's target=) takes everything after it, commas too
  for k, f in pairs(c.fields) do
    if f.rest then
      local s, e = spec:find("^%s*" .. k .. "=")
      if not s then s, e = spec:find(",%s*" .. k .. "=") end
      if s then
        raw[k] = spec:sub(e + 1)
        spec = spec:sub(1, s - 1)
      end
    end
  end
  for item in (spec .. ","):gmatch("([^,]*),") do
    item = item:match("^%s*(.-)%s*$")
    if item ~= "" then
      local k, v = item:match("^([%w_%-]+)=(.*)$")
      if k then
        if not c.fields[k] then return nil, string.format("%s: unknown %s key '%s'", where, name, k) end
        raw[k] = v
      elseif c.flags and c.flags[item] then
        for fk, fv in pairs(c.flags[item]) do raw[fk] = fv end
      else
        local key = c.positional[pos]
        if not key then return nil, string.format("%s: unexpected '%s' in %s spec", where, item, name) end
        while raw[key] ~= nil do pos = pos + 1; key = c.positional[pos] end
        -- an omitted slot: an item that is no valid value for this slot but
        -- fits a later one goes there (xl's 'phy:/dev/vg/x,xvda,w')
        while key and c.positional[pos + 1] and not fits(c, key, item) and fits(c, c.positional[pos + 1], item) do
          pos = pos + 1; key = c.positional[pos]
        end
        if not key then return nil, string.format("%s: unexpected '%s' in %s spec", where, item, name) end
        raw[key] = item
        pos = pos + 1
      end
    elseif pos <= #c.positional and not next(raw) then
      pos = pos + 1 -- a leading empty positional item leaves its slot at the default (',hdc:cdrom,r')
    end
  end
  -- declared prefixes and suffixes of positional values ("phy:/dev/x",
  -- "hdc:cdrom") set keys of their own
  for key, affixes in pairs(c.affixes or {}) do
    local v = raw[key]
    if v then
      for _, a in ipairs(affixes) do
        if a.prefix and v:sub(1, #a.prefix) == a.prefix then
          v = v:sub(#a.prefix + 1)
          for fk, fv in pairs(a.sets) do if raw[fk] == nil then raw[fk] = fv end end
        elseif a.suffix and #v > #a.suffix and v:sub(-#a.suffix) == a.suffix then
          v = v:sub(1, -#a.suffix - 1)
          for fk, fv in pairs(a.sets) do if raw[fk] == nil then raw[fk] = fv end end
        end
      end
      raw[key] = v
    end
  end
  return M.validate(name, raw, where)
end

function M.validate(name, raw, where)
  local c = M.class(name)
  local f = {}
  for k, spec in pairs(c.fields) do
    local v = raw[k]
    if v == nil then
      if spec.required then return nil, string.format("%s: %s needs %s", where, name, k) end
      v = spec.default
      if v == "$random_mac" then v = random_mac() end
    end
    if v ~= nil then
      local ok, err = schema.check(k, spec, v)
      if ok == nil then return nil, string.format("%s: %s: %s", where, k, err) end
      f[k] = ok
    end
  end
  if f.access == "ro" then f.access = "r" elseif f.access == "rw" then f.access = "w" end
  -- a class's declared consequences ("a cdrom is read-only")
  for _, rule in ipairs(c.implies or {}) do
    local hit = true
    for k, v in pairs(rule.when) do if f[k] ~= v then hit = false end end
    if hit then for k, v in pairs(rule.sets) do f[k] = v end end
  end
  -- the device number is checked now, not when the domain already exists
  if c.devid == "vdev_devid" and f.vdev then
    local devid, derr = M.vdev_devid(f.vdev)
    if not devid then return nil, string.format("%s: vdev: %s", where, derr) end
  end
  return f
end

-- Fields no two devices of a class in one domain may share, by class (a
-- class may declare its own `unique`): two vbds on one vdev are one device
-- number, two vifs with one MAC confuse the guest, the bridge and every
-- switch. An explicit devid is unique in every class.
M.UNIQUE = { vbd = { "vdev" }, vif = { "mac" } }

local function same(a, b)
  if type(a) == "string" and type(b) == "string" then return a:lower() == b:lower() end
  return a == b
end

--- clash(class, a, b) -> the field devices a and b share that they must not, or nil
function M.clash(name, a, b)
  local fields = M.class(name).unique or M.UNIQUE[name] or {}
  for _, k in ipairs(fields) do
    if a[k] ~= nil and same(a[k], b[k]) then return k end
  end
  if a.devid ~= nil and a.devid == b.devid then return "devid" end
end

---------------------------------------------------------------- layout

local function frontend_path(domid, name, devid) return string.format("/local/domain/%d/device/%s/%d", domid, name, devid) end
local function backend_path(be, domid, name, devid) return string.format("/local/domain/%d/backend/%s/%d/%d", be, name, domid, devid) end

-- computed values a declaration can name with "$"
local computed = {
  devid = function(f, devid) return tostring(devid) end,
  mode = function(f) return f.access == "r" and "r" or "w" end,
  removable = function(f) return f.devtype == "cdrom" and "1" or "0" end,
}

local function render(map, f, devid)
  local out = {}
  for node, src in pairs(map) do
    local v
    if src:sub(1, 1) == "=" then v = src:sub(2)
    elseif src:sub(1, 1) == "$" then v = computed[src:sub(2)](f, devid)
    elseif f[src] ~= nil then v = tostring(f[src]) end
    if v ~= nil then out[node] = v end
  end
  return out
end

-- computed values a libxl declaration can name, typed as libxl's JSON has them
local computed_libxl = {
  devid_int = function(f, devid) return devid end,
  readwrite = function(f) return (f.access == "w" or f.access == "rw") and 1 or 0 end,
  is_cdrom = function(f) return f.devtype == "cdrom" and 1 or 0 end,
  nictype = function(f) return f.type == "ioemu" and "vif_ioemu" or "vif" end,
}

-- libxl calls a CD-ROM removable, as the backend's removable node does
computed_libxl.removable_int = computed_libxl.is_cdrom

--- libxl(name, fields, devid) -> list_key, entry | nil: the device as
--- libxl's domain config lists it (xl list -l, xl save), from the class's
--- libxl declaration; nil for a class that declares none
function M.libxl(name, f, devid)
  local decl = M.class(name).libxl
  if not decl then return nil end
  local out = {}
  for key, src in pairs(decl.fields) do
    local v
    if src:sub(1, 1) == "$" then
      local fn = computed_libxl[src:sub(2)]
      if not fn then error(string.format("devices: class '%s': libxl field %s: no computed value %q", name, key, src), 2) end
      v = fn(f, devid)
    else
      v = f[src]
    end
    if v ~= nil and v ~= "" then out[key] = v end
  end
  return decl.list, out
end

-- the computed values' way back: each sets the class's fields from what
-- libxl's entry has (nil when libxl left the key out, as its JSON does for
-- a value at its default: a read-only disk has no readwrite)
local from_computed_libxl = {
  devid_int = function(v, f) if v ~= nil then f.devid = v end end,
  readwrite = function(v, f) f.access = (v == 1 or v == true) and "rw" or "r" end,
  is_cdrom = function(v, f) if v == 1 or v == true then f.devtype = "cdrom" end end,
  removable_int = function() end, -- follows from is_cdrom
  nictype = function(v, f) if v == "vif_ioemu" then f.type = "ioemu" end end,
}

--- from_libxl(list_key, entry) -> class, spec | nil, err: a device of
--- libxl's domain config (an entry of its "disks" or "nics") as the spec
--- string the class's config key takes, through the class's libxl
--- declaration read backwards (a restored guest's devices come from the
--- config xl save wrote)
function M.from_libxl(list_key, entry)
  for _, name in ipairs(M.CLASSES) do
    local decl = M.class(name).libxl
    if decl and decl.list == list_key then
      local f = {}
      for key, src in pairs(decl.fields) do
        local v = entry[key]
        if src:sub(1, 1) == "$" then
          local fn = from_computed_libxl[src:sub(2)]
          if not fn then error(string.format("devices: class '%s': libxl field %s: no way back from %q", name, key, src), 2) end
          fn(v, f)
        elseif v ~= nil and v ~= "" then
          f[src] = tostring(v)
        end
      end
      -- target last: xl's disk syntax lets it hold commas
      local keys = {}
      for k in pairs(f) do if k ~= "target" then keys[#keys + 1] = k end end
      table.sort(keys)
      local items = {}
      for _, k in ipairs(keys) do items[#items + 1] = k .. "=" .. tostring(f[k]) end
      if f.target then items[#items + 1] = "target=" .. f.target end
      return name, table.concat(items, ",")
    end
  end
  return nil, "no device class takes libxl's " .. tostring(list_key)
end

--- libxl_path(domid, name, devid) -> path | nil: where libxl keeps its own
--- note of a device (/libxl/D/device/KIND/DEVID), for a class that declares
--- libxl; nil for one libxl has no kind for
function M.libxl_path(domid, name, devid)
  local decl = M.class(name).libxl
  if not decl then return nil end
  return string.format("/libxl/%d/device/%s/%d", domid, decl.kind or name, devid)
end

--- layout(domid, be, name, fields, devid) -> { [path] = value }, fe_dir, be_dir, libxl_dir
-- libxl_dir (nil for a class libxl has no kind for) is libxl's note of the
-- device: frontend and backend paths and a copy of the backend's nodes, as
-- libxl__device_generic_add writes it. xl's destroy finds a domain's devices
-- there to close their backends, and xl list -l keeps only the devices of
-- the stored config that it finds there.
function M.layout(domid, be, name, f, devid)
  local c = M.class(name)
  local fe, bk = frontend_path(domid, name, devid), backend_path(be, domid, name, devid)
  local nodes, bnodes = {}, render(c.backend, f, devid)
  bnodes.frontend = fe
  bnodes["frontend-id"] = tostring(domid)
  bnodes.online = "1"
  bnodes.state = tostring(M.STATE.Initialising)
  for k, v in pairs(render(c.frontend, f, devid)) do nodes[fe .. "/" .. k] = v end
  for k, v in pairs(bnodes) do nodes[bk .. "/" .. k] = v end
  nodes[fe .. "/backend"] = bk
  nodes[fe .. "/backend-id"] = tostring(be)
  nodes[fe .. "/state"] = tostring(M.STATE.Initialising)
  local lp = M.libxl_path(domid, name, devid)
  if lp then
    for k, v in pairs(bnodes) do nodes[lp .. "/" .. k] = v end
    nodes[lp .. "/frontend"] = fe
    nodes[lp .. "/backend"] = bk
  end
  return nodes, fe, bk, lp
end

-- the devices the domain's record lists, connected or not ({} if none)
local function recorded(domid)
  local rec = records.of_domain(domid)
  return rec and rec.devices or {}
end

local function next_devid(domid, name, from)
  local used = {}
  for _, d in ipairs(xs.directory(string.format("/local/domain/%d/device/%s", domid, name)) or {}) do
    used[tonumber(d)] = true
  end
  -- a device unplugged while its backend is away keeps its devid: it comes
  -- back with it, so a new device must not take it
  for _, e in pairs(recorded(domid)) do
    if e.class == name and e.devid then used[e.devid] = true end
  end
  local i = from or 0
  while used[i] do i = i + 1 end
  return i
end

local function devid_for(domid, name, f)
  local c = M.class(name)
  if c.devid == "vdev_devid" then return M.vdev_devid(f.vdev) end
  if f.devid then return f.devid end
  return next_devid(domid, name, c.devid == "next_from_one" and 1 or 0)
end

---------------------------------------------------------------- records

-- The domain's record lists its devices: an entry exists before anything is
-- written to xenstore and goes only after the nodes are gone, so nothing is in
-- xenstore without a matching entry.

local function locks_of(domid)
  return domainlocks.get(domain.name(domid) or tostring(domid))
end

-- fail_at names a step where the next attach or detach fails, for specs of
-- the record/xenstore invariant under failure ("record", "xenstore",
-- "handshake", "close", "remove"); nil in normal use.
M.fail_at = nil
local function inject(step)
  if M.fail_at == step then
    M.fail_at = nil
    error("injected failure at " .. step, 0)
  end
end

-- fn(devices) changes the record's device table; if it returns an error
-- instead, the record is left as it was and that error returned.
local function record_update(domid, fn)
  return records.update(domid, function(rec)
    rec.devices = rec.devices or {}
    return fn(rec.devices)
  end)
end

local function key(name, devid) return name .. "/" .. devid end

---------------------------------------------------------------- handshake

local function state_of(path)
  return tonumber(xs.read_or(path .. "/state", "0")) or 0
end

-- wait until pred(frontend_state, backend_state) or timeout
local function wait_states(fe, bk, pred, timeout)
  local deadline = time.monotonic() + timeout
  local w1 = xs.watch(fe .. "/state")
  local w2 = xs.watch(bk .. "/state")
  local function close() if w1 then w1:close() end if w2 then w2:close() end end
  while true do
    local a, b = state_of(fe), state_of(bk)
    if pred(a, b) then close() return true end
    local left = deadline - time.monotonic()
    if left <= 0 then close() return nil, a, b end
    -- either watch firing means re-check; wait briefly on each in turn
    if w1 then w1:wait(math.min(left, 0.05)) end
    if w2 then w2:wait(math.min(left, 0.05)) end
  end
end

---------------------------------------------------------------- attach, detach

-- remove path's parents while they are empty, up to (not including) stop.
-- Each step is a transaction: a sibling added meanwhile makes it conflict,
-- and the retry sees the directory is no longer empty.
local function cleanup_parents(path, stop)
  local dir = path:match("^(.*)/[^/]+$")
  while dir and #dir > #stop and dir:sub(1, #stop) == stop do
    local removed = xs.transaction(function(t)
      local kids = t.directory(dir)
      if kids and #kids == 0 then return t.rm(dir) end
      return nil, "not empty"
    end)
    if not removed then return end
    dir = dir:match("^(.*)/[^/]+$")
  end
end

-- remove_device_nodes removes a device's frontend, its backend (bk may be
-- unknown: nil) and libxl's note of it (lp, nil for a class libxl has no
-- kind for), and each one's parents once empty, as libxl's path cleanup does
local function remove_device_nodes(domid, fe, bk, lp)
  xs.rm(fe)
  cleanup_parents(fe, domain.path(domid) .. "/device")
  if bk then
    xs.rm(bk)
    local stop = bk:match("^(/local/domain/%d+/backend/[^/]+)")
    if stop then cleanup_parents(bk, stop) end
  end
  if lp then
    xs.rm(lp)
    cleanup_parents(lp, "/libxl/" .. domid)
  end
end

--- attach(domid, name, fields [, opts]) -> devid | nil, err
-- opts.wait: "connected" (default, hotplug), "initwait" (at domain create,
-- before the guest runs), or false. Runs under the domain's slow lock.
function M.attach(domid, name, f, opts)
  local slow = locks_of(domid)
  return sync.with(slow, M.attach_locked, domid, name, f, opts)
end

function M.attach_locked(domid, name, f, opts)
  opts = opts or {}
  local be, err = domain.find(f.backend or "Domain-0")
  if not be then return nil, "backend " .. tostring(f.backend) .. ": " .. tostring(err) end
  local devid, derr = opts.devid, nil
  if not devid then devid, derr = devid_for(domid, name, f) end
  if not devid then return nil, derr end
  local nodes, fe, bk, lp = M.layout(domid, be, name, f, devid)
  if xs.exists(fe) then return nil, string.format("%s %d already exists in domain %d", name, devid, domid) end
  -- 1: the record first
  -- opts.entry keeps a device's identity across a replug (its configured
  -- fields, with f naming the backend it is moving to)
  local entry = opts.entry or { class = name, devid = devid, fields = f }
  entry.active = f.backend or "Domain-0"
  entry.disconnected = nil
  local ok, rerr = pcall(inject, "record")
  if ok then
    ok, rerr = record_update(domid, function(d)
      -- checked in the update the entry needs anyway: under the record's
      -- lock, so two attaches of one MAC cannot both pass
      local dup = M.duplicate(d, domid, name, f, opts.entry and devid)
      if dup then return dup end
      d[key(name, devid)] = entry
    end)
  end
  if not ok then return nil, rerr end
  luxen.crashpoint("attach:record")
  -- 2: frontend and backend in one transaction, with libxl's permissions
  ok, rerr = xs.transaction(function(t)
    -- the directories and their permissions first: the nodes written below
    -- inherit them (a node takes its parent's permissions when it is made)
    for dir, perms in pairs({ [fe] = { "n" .. domid, "r" .. be }, [bk] = { "n" .. be, "r" .. domid } }) do
      local mok, merr = t.mkdir(dir)
      if not mok then return nil, merr .. " " .. dir end
      local pok, perr = t.set_perms(dir, perms)
      if not pok then return nil, perr .. " " .. dir end
    end
    for path, v in pairs(nodes) do
      local wok, werr = t.write(path, v)
      if not wok then return nil, werr .. " " .. path end
    end
    return true
  end)
  local function undo(why)
    remove_device_nodes(domid, fe, bk, lp)
    record_update(domid, function(d)
      if opts.entry then -- a replug that failed: the device stays recorded, disconnected
        opts.entry.disconnected = why
        d[key(name, devid)] = opts.entry
      else
        d[key(name, devid)] = nil
      end
    end)
    return nil, why
  end
  luxen.crashpoint("attach:xenstore")
  if ok then ok, rerr = pcall(inject, "xenstore") end
  if not ok then return undo(string.format("%s %d: writing xenstore: %s", name, devid, tostring(rerr))) end
  local iok, ierr = pcall(inject, "handshake")
  if not iok then return undo(string.format("%s %d: %s", name, devid, ierr)) end
  -- hotplug (real Xen): what dom0 must do before the backend can connect,
  -- for a driver domain's backend too (the class's step says what)
  local c = M.class(name)
  if c.hotplug then
    local hok, herr = c.hotplug("add", bk, f, domain.name(domid) or tostring(domid))
    if not hok then
      c.hotplug("remove", bk, f, domain.name(domid) or tostring(domid))
      return undo(string.format("%s %d: %s", name, devid, tostring(herr)))
    end
  end
  -- 3: the handshake
  local want = opts.wait == nil and "connected" or opts.wait
  if want then
    local pred = want == "initwait"
      and function(_, b) return b >= M.STATE.InitWait and b <= M.STATE.Connected end
      or function(a, b) return a == M.STATE.Connected and b == M.STATE.Connected end
    luxen.progress(string.format("domain %d: %s %s: waiting for its backend (%s)", domid,
      name, f.vdev or tostring(devid), want == "initwait" and "to be ready" or "to connect"))
    local done, a, b = wait_states(fe, bk, pred, opts.timeout or M.TIMEOUT)
    luxen.progress("")
    if not done then
      return undo(string.format("%s %d: no %s within %ss (frontend state %d, backend state %d)",
        name, devid, want, tostring(opts.timeout or M.TIMEOUT), a, b))
    end
  end
  return devid
end

--- release(domid, devs [, name]) -> true
-- Undoes what dom0's hotplug set up for each device a destroyed domain's
-- record lists (a file's loop device), before its nodes go: the step finds
-- what it made in the backend's nodes. A loop device blkback still holds is
-- detached by the kernel once blkback lets go (losetup -d on a busy loop
-- sets autoclear), so this need not wait for the backend to close.
function M.release(domid, devs, name)
  local found = {}
  for _, e in pairs(devs or {}) do
    local ok, c = pcall(M.class, e.class)
    if ok and c.hotplug and not e.disconnected then found[#found + 1] = e end
  end
  table.sort(found, function(a, b) return a.devid < b.devid end)
  for _, e in ipairs(found) do
    -- the backend it is served by now, named in the record: the domain's
    -- own nodes may be going already
    local be = domain.find(e.active or (e.fields and e.fields.backend) or "Domain-0")
    if be then M.class(e.class).hotplug("remove", backend_path(be, domid, e.class, e.devid), e.fields or {}, name or tostring(domid)) end
  end
  return true
end

--- duplicate(devices, domid, name, fields [, self]) -> "what clashes" | nil
-- Whether a domain whose record lists these devices already has a
-- device of this class that fields clash with (M.clash: a MAC, a vdev),
-- connected or disconnected (it comes back when its backend does). The
-- record is asked, not xenstore: it lists every device luxen attached (an
-- entry is made before any node), where listing xenstore would be several
-- reads a device (a domain created with 100 disks, 100 x 100 of them).
-- self is the devid of a device being plugged back in, which does not
-- clash with itself.
function M.duplicate(devs, domid, name, f, self)
  -- a list, not a table keyed by devid: a vbd's devid (51712 for xvda) as
  -- a key would make gopher-lua grow the table's array part to that size
  local found = {}
  for _, e in pairs(devs) do
    if e.class == name and e.devid ~= self then found[#found + 1] = e end
  end
  table.sort(found, function(a, b) return a.devid < b.devid end)
  for _, e in ipairs(found) do
    local field = M.clash(name, e.fields or {}, f)
    if field then
      return string.format("%s: %s %s: domain %d has it already (%s %d)", name, field, tostring(f[field]), domid, name, e.devid)
    end
  end
end

--- detach(domid, name, devid [, opts]) -> true | nil, err
-- The close-down protocol: online=0 and state Closing in one transaction,
-- wait for the backend to say Closed; on timeout give up unless opts.force,
-- then remove the nodes and the record entry.
function M.detach(domid, name, devid, opts)
  local slow = locks_of(domid)
  return sync.with(slow, M.detach_locked, domid, name, devid, opts)
end

function M.detach_locked(domid, name, devid, opts)
  opts = opts or {}
  local iok, ierr = pcall(inject, "close")
  if not iok then return nil, ierr end
  local fe = frontend_path(domid, name, devid)
  local bk = xs.read(fe .. "/backend")
  if not bk then
    -- a disconnected device exists only in the record: detaching it drops that
    local had = false
    record_update(domid, function(d)
      had = d[key(name, devid)] ~= nil
      d[key(name, devid)] = nil
    end)
    if had then return true end
    return nil, string.format("domain %d has no %s %d", domid, name, devid)
  end
  xs.transaction(function(t)
    t.write(bk .. "/online", "0")
    if state_of(bk) ~= M.STATE.Closed then t.write(bk .. "/state", tostring(M.STATE.Closing)) end
    return true
  end)
  local done, a, b = wait_states(fe, bk, function(_, bs) return bs == M.STATE.Closed end, opts.timeout or M.TIMEOUT)
  if not done and not opts.force then
    return nil, string.format("%s %d: the backend did not close within %ss (backend state %d); use force",
      name, devid, tostring(opts.timeout or M.TIMEOUT), b)
  end
  luxen.crashpoint("detach:closed")
  local rok, rerr = pcall(inject, "remove")
  if not rok then return nil, rerr end -- nothing removed yet: record and xenstore agree
  local c = M.class(name)
  if c.hotplug then
    c.hotplug("remove", bk, {}, domain.name(domid) or tostring(domid))
  end
  remove_device_nodes(domid, fe, bk, M.libxl_path(domid, name, devid))
  -- the entry goes only after the nodes: never a node without an entry
  record_update(domid, function(d) d[key(name, devid)] = nil end)
  return true
end

--- unplug(domid, name, devid [, why]) -> true
-- Removes a device's nodes at once (its backend is gone or being replaced)
-- and marks it disconnected in the record, which keeps it: a replug (to the
-- restarted or a fallback backend) brings it back with the same devid.
--
-- A frontend that is to get a device at the same path again (a replug, a
-- move) must have dropped the old one first: Linux's xenbus, handling the
-- removal after the node is back, finds the node there and its old device
-- still registered, keeps that, and never probes the new one. So unplug
-- returns once the guest has let go: the nodes go, then unplug waits until
-- the event channels the frontend published are no longer held for the old
-- backend (a frontend closes them when it drops the device), up to
-- RELEASE_TIMEOUT: a guest that does not answer is not waited for longer.
-- (A dead backend is not spoken for first: telling Linux 6.1's blkfront
-- that its backend is Closing stops its queues, and its removal then waits
-- for ever on the reads queued behind them, seen in the lab.)
M.RELEASE_TIMEOUT = 10

-- the event channels a frontend published (blkfront's event-channel, one per
-- queue-N with several queues; netfront's event-channel-tx and -rx)
local PORT_NODES = { "event-channel", "event-channel-tx", "event-channel-rx" }
local function frontend_ports(fe)
  local ports = {}
  local function add(dir)
    for _, n in ipairs(PORT_NODES) do
      local p = tonumber(xs.read_or(dir .. "/" .. n, ""))
      if p then ports[#ports + 1] = p end
    end
  end
  add(fe)
  for _, k in ipairs(xs.directory(fe) or {}) do
    if k:match("^queue%-%d+$") then add(fe .. "/" .. k) end
  end
  return ports
end

-- whether domid still holds port for be (unbound for it, or bound to it)
local function holds(domid, port, be)
  local st = xen.evtchn_status(domid, port)
  if not st then return false end -- the domain is gone, or the port past its buckets
  return (st.state == "unbound" or st.state == "interdomain") and st.remote_dom == be
end

function M.unplug(domid, name, devid, why)
  -- the record says "disconnected" before the nodes go, so whoever sees the
  -- nodes gone finds the reason recorded
  record_update(domid, function(d)
    local e = d[key(name, devid)]
    if e then e.disconnected = why or "unplugged" end
  end)
  local fe = frontend_path(domid, name, devid)
  local bk = xs.read(fe .. "/backend")
  local be = tonumber(xs.read_or(fe .. "/backend-id", ""))
  local ports = frontend_ports(fe)
  remove_device_nodes(domid, fe, bk, M.libxl_path(domid, name, devid))
  if #ports > 0 and be then
    local deadline = time.monotonic() + M.RELEASE_TIMEOUT
    for _, p in ipairs(ports) do
      while holds(domid, p, be) and time.monotonic() < deadline do task.sleep(0.05) end
    end
    if time.monotonic() >= deadline then
      log.domain(domain.name(domid) or tostring(domid)).warn(
        "%s %d: the guest still holds its event channel for backend %d after %ds; going on",
        name, devid, be, M.RELEASE_TIMEOUT)
    end
  end
  return true
end

--- move(domid, name, devid, backend [, opts]) -> devid | nil, err
-- Serves a recorded device from another backend from now on (`luxen
-- block-move`): the record first, where the device's configured backend
-- changes (so it stays there across restarts of either domain), then the
-- device is unplugged and plugged into the new backend, waiting for the
-- handshake (opts.timeout). A move that does not connect leaves the device
-- recorded, disconnected with the reason, for the failover policy to retry.
function M.move(domid, name, devid, backend, opts)
  opts = opts or {}
  local be, err = domain.find(backend)
  if not be then return nil, "backend " .. tostring(backend) .. ": " .. tostring(err) end
  local entry
  local ok, rerr = record_update(domid, function(d)
    local e = d[key(name, devid)]
    if not e then return string.format("domain %d has no %s %d", domid, name, devid) end
    e.fields.backend = backend
    entry = e
  end)
  if not ok then return nil, rerr end
  M.unplug(domid, name, devid, "moving to " .. backend)
  return M.replug(domid, entry, backend, { wait = "connected", timeout = opts.timeout })
end

--- replug(domid, entry, backend_name [, opts]) -> devid | nil, err
-- Plugs a recorded device back in, served by backend_name.
function M.replug(domid, entry, backend, opts)
  opts = opts or {}
  local f = {}
  for k, v in pairs(entry.fields) do f[k] = v end
  f.backend = backend
  return M.attach(domid, entry.class, f, { devid = entry.devid, entry = entry, wait = opts.wait, timeout = opts.timeout })
end

--- list(domid, name) -> devices read back from xenstore
function M.list(domid, name)
  local out = {}
  for _, d in ipairs(xs.directory(string.format("/local/domain/%d/device/%s", domid, name)) or {}) do
    local fe = frontend_path(domid, name, d)
    local bk = xs.read(fe .. "/backend") or ""
    local e = { devid = tonumber(d), state = state_of(fe), backend_state = state_of(bk), backend = bk,
                backend_id = tonumber(xs.read_or(fe .. "/backend-id", "")) }
    local c = M.class(name)
    for node, src in pairs(c.backend) do
      if src:sub(1, 1) ~= "=" and src:sub(1, 1) ~= "$" then e[src] = xs.read(bk .. "/" .. node) end
    end
    for node, src in pairs(c.frontend) do
      if src:sub(1, 1) ~= "=" and src:sub(1, 1) ~= "$" then e[src] = e[src] or xs.read(fe .. "/" .. node) end
    end
    out[#out + 1] = e
  end
  table.sort(out, function(x, y) return x.devid < y.devid end)
  return out
end

return M
