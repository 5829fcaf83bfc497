--- lifecycle: create, destroy, shutdown, reboot, pause and unpause domains.
--
-- This file is the toolstack's domain lifecycle, in Lua so a site can change
-- it: copy it to your script directory (/etc/luxen/scripts/lifecycle.lua) and
-- edit. Every function returns its result, or nil and an error message.
--
--   local lifecycle = require("lifecycle")
--   lifecycle.create(cfg_or_path [, {paused=, overrides=}]) -> domid | nil, err
--   lifecycle.destroy(name_or_domid [, {keep_record=}]) -> true | nil, err
--   lifecycle.shutdown(target [, {wait=, timeout=, reason=}]) -> true | nil, err
--   lifecycle.reboot(target) ; lifecycle.pause(target) ; lifecycle.unpause(target)
-- The per-domain JSON records are the library module records (records.get,
-- records.list, ...); lifecycle.record and lifecycle.records are aliases.
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local task = require("task")
local time = require("time")
local luxen = require("luxen")
local config = require("config")
local domain = require("domain")
local devices = require("devices")
local records = require("records")
local libxlcfg = require("libxlcfg")
local devicemodel = require("devicemodel")

local M = {}

-- libxl gives a domain this much above maxmem for its own overhead (LIBXL_MAXMEM_CONSTANT)
M.MAXMEM_SLACK_KB = 1024

-- creates under way in this process, by uuid: reconcile leaves them be
M.creating = {}
-- uuids a destroy in this process is ending now: uuid -> how many
M.destroying = {}
-- restarts under way in this process, by domain name: {uuid=, cancelled=}
-- (a destroy of the name cancels it: the administrator's word wins)
M.restarting = {}
-- restarts begun in this process, by domain name: a destroy by name looks
-- again when one began while it worked
M.restart_seq = {}
-- uuids a destroy asked for (not a restart's own) is ending here: a restart
-- that begins meanwhile gives way to it
M.destroy_requested = {}
-- Every create under way on the host has an intent in the host's xenstore,
-- CREATING/<uuid> = "<pid> <start>" of the process making it, written before
-- the domain exists and removed when the create has finished (or has rolled
-- back). It is the one mark of an unfinished create: a domain whose uuid has
-- an intent whose maker is gone was cut short; any other domain is finished,
-- whatever any state directory says.
M.CREATING = luxen.nodes.creating
-- Every save under way has one too, SAVING/<uuid> = "<pid> <start> <step>
-- <file>" (step: asked, then writing once the file is being written),
-- from before the guest is asked to suspend until it runs again or is
-- destroyed: a save whose maker is gone left its guest suspended (or asked
-- to suspend), and reconcile resumes it.
M.SAVING = luxen.nodes.saving
M.saving = {} -- uuids this process is saving
M.SHUTDOWN_TIMEOUT = 60
-- how long a destroy waits for a zombie to be released before it clears
-- what a late writer (xenconsoled) put back under its xenstore path
M.LATE_WRITER_WAIT = 5

function M.intent_path(uuid) return M.CREATING .. "/" .. uuid end

--- intent_maker(uuid) -> {pid=, alive=} | nil : who is creating uuid, and
-- whether that create can still finish (its process runs; in this process,
-- the create is still under way here)
function M.intent_maker(uuid)
  local v = xs.read(M.intent_path(uuid))
  if not v then return nil end
  local pid, start = v:match("^(%d+) ?(%S*)$")
  pid = tonumber(pid)
  if not pid then return { pid = -1, alive = false } end
  local function alive()
    if pid == luxen.pid and start == luxen.pid_start then return M.creating[uuid] == true end
    return luxen.alive(pid, start)
  end
  if alive() then return { pid = pid, alive = true } end
  -- A create that finished while the intent was read (here, or in a process
  -- that then exited) had dropped its intent before it forgot the uuid or
  -- exited: read again, an intent still there is one a maker left behind.
  -- Taken on the first read alone, a finished domain looked half-made, and
  -- reconcile destroyed it.
  if xs.read(M.intent_path(uuid)) ~= v then return M.intent_maker(uuid) end
  return { pid = pid, alive = alive() }
end

--- making(uuid) -> bool : a create or restart of uuid is under way, here or
-- in a live process, or a destroy of it here. Asked right before touching
-- anything of uuid's: in this process the answer needs no yield.
function M.making(uuid)
  if M.creating[uuid] or M.destroying[uuid] then return true end
  local m = M.intent_maker(uuid)
  return m ~= nil and m.alive
end

--- hold_intent(uuid) -> true | nil, err : marks uuid as being created by
-- this process, as create does first. A restart holds it from before it
-- destroys the old domain until its create has finished (create with
-- opts.intent_held), so that a reconcile in that gap sees a create under
-- way, not a record whose domain is gone.
function M.hold_intent(uuid)
  local other = M.intent_maker(uuid)
  if other then
    return nil, string.format(other.alive and "uuid %s is being created already, by pid %d" or
      "a create of uuid %s by pid %d was cut short: run `luxen reconcile` first", uuid, other.pid)
  end
  M.creating[uuid] = true
  local ok, err, detail = xs.write(M.intent_path(uuid), luxen.pid .. " " .. luxen.pid_start)
  if not ok then
    M.creating[uuid] = nil
    return nil, "xenstore " .. M.intent_path(uuid) .. ": " .. tostring(err) .. (detail and (": " .. detail) or "")
  end
  return true
end

--- release_intent(uuid): the create of uuid has finished or given up
function M.release_intent(uuid)
  xs.rm(M.intent_path(uuid))
  M.creating[uuid] = nil
end

---------------------------------------------------------------- records

-- A domain's record (its validated config plus what luxen knows about it) is
-- kept by the library module records, which the devices engine, the device
-- model, reconcile and the policies use without loading this file. These are
-- aliases of its functions, kept for site scripts written against
-- lifecycle.record and friends; new code requires records.
M.save_record = records.save
M.record = records.get
M.remove_record = records.remove
M.records = records.list

local function plain_config(cfg)
  local c = {}
  for k, v in pairs(cfg) do if k ~= "lines" and k ~= "origins" then c[k] = v end end
  return c
end

---------------------------------------------------------------- console log

-- xenconsoled (started with --log=guest) keeps each guest's console in this
-- file; luxen copies what a domain printed into the domain's own log when it
-- is destroyed, so one file tells the domain's whole story.
M.CONSOLE_LOG_DIR = "/var/log/xen"

-- Xen's PV shim (xen-shim, from xen-utils-4.17): a build of Xen that runs
-- as a PVH guest and runs one PV guest inside, so the PV kernel gets the PV
-- ABI (start_info, its own page tables, PV MMU hypercalls) from the shim
-- while the outer domain is PVH. xl offers it as type = "pvh" with
-- pvshim = 1; luxen also runs type = "pv" through it by default, since it
-- has no native PV builder, and the shim is the isolation Xen itself
-- recommends for PV guests (it was made for XSA-254: a PV guest in a shim
-- cannot read the host's memory through Meltdown). libxl's defaults:
M.PVSHIM = "/usr/lib/xen-4.17/boot/xen-shim"
M.PVSHIM_CMDLINE = "pv-shim console=xen,pv"

--- shim(cfg) -> {path, cmdline} | false | nil, err: whether the guest runs
-- in the PV shim, and with what
function M.shim(cfg)
  if cfg.type == "pv" and cfg.pvshim == false then
    return nil, config.where(cfg, "pvshim") .. "pvshim: luxen has no native PV builder: a type = \"pv\" guest runs in " ..
      "Xen's PV shim (pvshim = 1, luxen's default for PV); remove pvshim = 0, or use type = \"pvh\""
  end
  if not (cfg.type == "pv" or cfg.pvshim) then return false end
  if cfg.type == "hvm" then
    return nil, config.where(cfg, "pvshim") .. "pvshim: the PV shim runs PV guests (type = \"pv\" or \"pvh\"), not HVM ones"
  end
  if not cfg.kernel then return nil, cfg.source .. ": kernel: a PV guest in the shim needs a kernel" end
  local cmdline = cfg.pvshim_cmdline or M.PVSHIM_CMDLINE
  if cfg.pvshim_extra then cmdline = cmdline .. " " .. cfg.pvshim_extra end
  return { path = cfg.pvshim_path or M.PVSHIM, cmdline = cmdline }
end

local function console_log_path(name) return M.CONSOLE_LOG_DIR .. "/guest-" .. name .. ".log" end

local function console_log_size(name)
  local f = io.open(console_log_path(name))
  if not f then return 0 end
  local n = f:seek("end")
  f:close()
  return n or 0
end

local function copy_console(name, from)
  local f = io.open(console_log_path(name))
  if not f then return end
  f:seek("set", from or 0)
  local text = f:read("*a") or ""
  f:close()
  log.domain(name).lines(text, "console: ")
end

---------------------------------------------------------------- create

--- config_devices(cfg [, recorded]) -> { {class=, fields=}, ... } in a stable order.
-- A restarted domain brings back what its record lists (hot-plugged devices
-- included); a new one gets what its config lists.
function M.config_devices(cfg, recorded)
  local out = {}
  if recorded then
    local keys = {}
    for k in pairs(recorded) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do
      out[#out + 1] = { class = recorded[k].class, fields = recorded[k].fields, devid = recorded[k].devid }
    end
    return out
  end
  for _, class in ipairs(devices.CLASSES) do
    for _, f in ipairs(cfg[devices.class(class).config_key] or {}) do
      out[#out + 1] = { class = class, fields = f }
    end
  end
  return out
end

local function perms_ro(domid) return { "n0", "r" .. domid } end -- dom0 owns, guest reads
local function perms_rw(domid) return { "n" .. domid } end       -- guest owns

-- The xenstore skeleton libxl writes for a new domain (libxl__domain_make),
-- sent as one batch: xenstored applies it in order, one round trip instead
-- of one a node (forty-odd of them).
--
-- The three roots (/local/domain/D, /vm/UUID, /libxl/D) are made first,
-- outside the transaction (write_roots): making a node changes its parent's
-- list of children, and xenstored counts that as a write to the parent, so
-- every create's transaction would conflict with every other's on
-- /local/domain, /vm and /libxl. Seen in the lab with 200 creates at once
-- against the real xenstored: most transactions retried dozens of times,
-- some gave up after 64 (EAGAIN), and the round took ten minutes. With the
-- roots made before, each transaction touches only its own domain's nodes.
-- A crash between the two leaves the roots and the create intent, which
-- reconcile cleans up as any half-made create.
local function write_roots(domid, uuid)
  local dp, vp, lp = domain.path(domid), "/vm/" .. uuid, "/libxl/" .. domid
  local _, err, detail = xs.batch({
    -- first write, last removal (xenwatch multithreading, remove_nodes); it
    -- also tells luxen's domains from other toolstacks', which do not write it
    { "write", "/local/domain/0/mtwatch/" .. domid, tostring(luxen.pid) },
    { "write", dp, "" }, { "set_perms", dp, perms_ro(domid) },
    { "write", vp, "" }, { "set_perms", vp, perms_ro(domid) },
    { "write", lp, "" }, { "set_perms", lp, { "n0" } },
  })
  if err then return nil, err, detail end
  return true
end

-- set_affinity pins each vCPU to the config's cpus (hard) and cpus_soft
-- (soft), as libxl does before the domain first runs; a CPU the host does
-- not have is the config's mistake, named with its line.
local function set_affinity(domid, cfg)
  if not cfg.cpus and not cfg.cpus_soft then return true end
  local pi, e1 = xen.physinfo()
  if not pi then return nil, e1 end
  for _, key in ipairs({ "cpus", "cpus_soft" }) do
    for _, l in pairs(cfg[key] and (cfg[key].per or { cfg[key].all }) or {}) do
      local last = l[#l]
      -- "all" is every CPU there may be: the host's are what it means
      if last >= pi.nr_cpus and not (l[1] == 0 and last == 1023) then
        return nil, string.format("%s%s: CPU %d does not exist (this host has %d, 0-%d)",
          config.where(cfg, key), key, last, pi.nr_cpus, pi.nr_cpus - 1)
      end
    end
  end
  local function pick(key, v)
    local c = cfg[key]
    if not c then return nil end
    return c.all or c.per[v + 1]
  end
  for v = 0, cfg.maxvcpus - 1 do
    local hard, soft = pick("cpus", v), pick("cpus_soft", v)
    if hard or soft then
      local ok, e, d = xen.set_vcpu_affinity(domid, { vcpu = v, hard = hard, soft = soft })
      if not ok then return nil, string.format("vcpu %d: %s%s", v, tostring(e), d and (": " .. d) or "") end
    end
  end
  return true
end

local function write_skeleton(domid, uuid, cfg)
  local dp, vp = domain.path(domid), "/vm/" .. uuid
  local steps = {
    { dp .. "/vm", vp }, { dp .. "/name", cfg.name }, { dp .. "/domid", tostring(domid) },
    { dp .. "/control", "", perms_ro(domid) },
    { dp .. "/control/shutdown", "", perms_rw(domid) },
    { dp .. "/control/feature-poweroff", "", perms_rw(domid) },
    { dp .. "/control/feature-reboot", "", perms_rw(domid) },
    { dp .. "/control/feature-suspend", "", perms_rw(domid) },
    { dp .. "/control/sysrq", "", perms_rw(domid) },
    { dp .. "/memory/static-max", tostring(cfg.maxmem * 1024) },
    { dp .. "/memory/target", tostring(cfg.memory * 1024) },
    { dp .. "/memory/videoram", tostring(select(2, devicemodel.vga(cfg)) * 1024) },
    { dp .. "/data", "", perms_rw(domid) }, { dp .. "/drivers", "", perms_rw(domid) },
    { dp .. "/feature", "", perms_rw(domid) }, { dp .. "/attr", "", perms_rw(domid) },
    { dp .. "/error", "", perms_rw(domid) }, { dp .. "/device", "", perms_ro(domid) },
    { vp .. "/uuid", uuid }, { vp .. "/name", cfg.name },
    { vp .. "/start_time", string.format("%.2f", time.now()) },
    -- what the domain is to libxl: a PV guest in the shim is a PVH domain
    { "/libxl/" .. domid .. "/type", cfg.type == "pv" and "pvh" or cfg.type, { "n0" } },
  }
  for i = 0, cfg.maxvcpus - 1 do
    steps[#steps + 1] = { dp .. "/cpu/" .. i .. "/availability", i < cfg.vcpus and "online" or "offline" }
  end
  for _, n in ipairs(devicemodel.xenstore_nodes(domid, cfg)) do steps[#steps + 1] = n end
  local reqs = {}
  for _, s in ipairs(steps) do
    reqs[#reqs + 1] = { "write", s[1], s[2] }
    if s[3] then reqs[#reqs + 1] = { "set_perms", s[1], s[3] } end
  end
  -- one transaction: a watcher never sees half a skeleton
  local _, err, detail = xs.atomic(reqs)
  if err then return nil, err, detail end
  return true
end

--- remove_nodes(domid [, uuid [, rec]]): remove everything create may have
-- made, the mtwatch marker last: with Linux's xenwatch multithreading
-- (xen_mtwatch) dom0 keeps a watch thread per domain from that node's
-- creation to its removal, so it is the first write of a create and the last
-- removal of a destroy.
function M.remove_nodes(domid, uuid, rec, foreign)
  -- one batch, removed in its order (mtwatch last); a node that is not
  -- there is no error worth more than the others' removal
  local rms = {}
  local function rm(path) rms[#rms + 1] = { "rm", path } end
  -- backend directories live in the backend domains' trees
  for _, class in ipairs(devices.CLASSES) do
    rm("/local/domain/0/backend/" .. class .. "/" .. domid)
  end
  for _, d in pairs(rec and rec.devices or {}) do
    local bname = d.active or (d.fields and d.fields.backend)
    local be = bname and domain.find(bname)
    if be and be ~= 0 then rm("/local/domain/" .. be .. "/backend/" .. d.class .. "/" .. domid) end
  end
  rm(domain.path(domid))
  if uuid then rm("/vm/" .. uuid) end
  rm("/libxl/" .. domid)
  rm(devicemodel.xs_path(domid))
  rm("/local/domain/0/mtwatch/" .. domid)
  -- another toolstack's domain: the backend class directories its devices
  -- were in go too once empty, and dom0's backend directory with them, as
  -- libxl's path cleanup removes them
  -- (luxen's own stay: parents every create of its reuses)
  local had = {}
  if foreign then
    local probe = {}
    for i, class in ipairs(devices.CLASSES) do probe[i] = { "exists", "/local/domain/0/backend/" .. class .. "/" .. domid } end
    local there = xs.batch(probe)
    for i, class in ipairs(devices.CLASSES) do
      if there[i] == true then had[#had + 1] = "/local/domain/0/backend/" .. class end
    end
  end
  xs.batch(rms)
  if #had > 0 then
    local ls = {}
    for i, d in ipairs(had) do ls[i] = { "directory", d } end
    local kids = xs.batch(ls)
    local empty = {}
    for i, d in ipairs(had) do
      if type(kids[i]) == "table" and #kids[i] == 0 then empty[#empty + 1] = { "rm", d } end
    end
    if #empty > 0 then
      xs.batch(empty)
      -- and dom0's backend directory, once they were its last
      local left = xs.directory("/local/domain/0/backend")
      if left and #left == 0 then xs.rm("/local/domain/0/backend") end
    end
  end
end

-- joined("create web", e1, e2) -> "create web: e1: e2", leaving out empty parts
local function joined(msg, ...)
  local parts = { msg }
  for _, p in ipairs({ ... }) do if p and p ~= "" then parts[#parts + 1] = tostring(p) end end
  return table.concat(parts, ": ")
end

--- create(cfg_or_path [, opts]) -> domid | nil, err
-- opts.paused leaves it paused; opts.overrides are "key=value" strings;
-- opts.uuid and opts.restarts carry a restarted domain's identity and history,
-- opts.devices its recorded PV devices, opts.media its CD-ROMs' last media;
-- opts.intent_held: the caller holds uuid's intent already (hold_intent: a restart);
-- opts.restore: a save file the domain's memory and CPU state come from
-- instead of a kernel (restore: the kernel is not loaded, nor checked).
function M.create(cfg, opts)
  opts = opts or {}
  local err
  if type(cfg) == "string" then
    cfg, err = config.load(cfg, opts.overrides)
    if not cfg then return nil, err end
  elseif type(cfg) == "table" and not cfg.source then
    cfg, err = config.from_table(cfg, "table")
    if not cfg then return nil, err end
  end
  local dlog = log.domain(cfg.name)
  if domain.find(cfg.name) then
    return nil, string.format("%s: a domain named '%s' already exists", cfg.source, cfg.name)
  end
  if cfg.kernel and xen.host() ~= "xen" then
    dlog.info("simulated host: kernel %s is checked but not executed; a simulated guest runs instead", cfg.kernel)
  end
  -- what can be checked without Xen is checked before anything is created
  local shim, serr = false, nil
  if not opts.restore then
    shim, serr = M.shim(cfg)
    if shim == nil then return nil, serr end
  end
  if cfg.kernel and cfg.type ~= "hvm" and not opts.restore then
    local k, _, detail
    if shim then
      -- the shim is the PVH kernel; it loads the PV kernel itself (any
      -- compression Xen reads), so that only needs to be there
      k, _, detail = xen.inspect_kernel(shim.path, luxen.state_dir .. "/cache")
      if not k then return nil, string.format("%s: PV shim %s: %s (install xen-utils-4.17 or set pvshim_path)", cfg.source, shim.path, tostring(detail)) end
      local st, ferr = luxen.stat(cfg.kernel)
      if not st then return nil, config.where(cfg, "kernel") .. joined("kernel " .. cfg.kernel, ferr) end
      k = { high = k.high + st.size }
    else
      k, _, detail = xen.inspect_kernel(cfg.kernel, luxen.state_dir .. "/cache")
    end
    if not k then return nil, config.where(cfg, "kernel") .. joined("kernel", detail) end
    local rd = 0
    if cfg.ramdisk then
      local st, ferr = luxen.stat(cfg.ramdisk)
      if not st then return nil, joined(cfg.source .. ": ramdisk " .. cfg.ramdisk, ferr) end
      rd = st.size
    end
    local need = k.high + rd + 64 * 1024 -- kernel image, ramdisk, boot info
    if need > cfg.memory * 1024 * 1024 then
      return nil, string.format("%smemory: %d MiB is too small for the kernel and ramdisk (%d MiB needed)",
        config.where(cfg, "memory"), cfg.memory, math.ceil(need / 1048576))
    end
  elseif cfg.ramdisk and not cfg.kernel then
    return nil, cfg.source .. ": ramdisk: a ramdisk needs a kernel"
  end
  -- an HVM guest's IDE disks and CD-ROMs are its device model's, the rest PV
  -- (a restart brings back the PV devices its record lists, hot-plugged
  -- ones included; the emulated ones are the config's, which the record
  -- does not hold)
  local devlist, emulated = {}, {}
  for _, d in ipairs(M.config_devices(cfg)) do
    if devicemodel.emulated(cfg, d) then emulated[#emulated + 1] = d end
  end
  for _, d in ipairs(M.config_devices(cfg, opts.devices)) do
    if not devicemodel.emulated(cfg, d) then devlist[#devlist + 1] = d end
  end
  if devicemodel.needed(cfg) then
    local ok, derr = devicemodel.check(cfg, emulated)
    if not ok then return nil, derr end
  elseif #emulated > 0 then
    return nil, cfg.source .. ": disk " .. emulated[1].fields.vdev .. ": a CD-ROM needs a device model (type = \"hvm\")"
  end
  if xen.host() == "xen" then
    for _, d in ipairs(devlist) do
      if not devices.class(d.class).hotplug then
        return nil, cfg.source .. ": " .. d.class .. " devices are not supported on real Xen by this luxen yet (vbd and vif are)"
      end
    end
  end
  local uuid = opts.uuid or cfg.uuid or luxen.uuid()
  local t0 = time.monotonic()

  -- The intent names the uuid the domain will carry and this process, before
  -- the domain exists: killed anywhere before the create finished, even
  -- between createdomain and the first xenstore write, luxen leaves an
  -- intent whose maker is gone, and that is how a later reconcile knows the
  -- domain for a half-made one of luxen's.
  -- (A restart holds it already: opts.intent_held.)
  if not (opts.intent_held and M.creating[uuid]) then
    local held, herr = M.hold_intent(uuid)
    if not held then return nil, joined(cfg.source .. ": create " .. cfg.name, herr) end
  end
  local function done() M.release_intent(uuid) end
  -- every guest luxen builds is an HVM container: PVH, HVM, or PV in the shim
  local called, domid, e1, e2 = pcall(xen.create, { uuid = uuid, hvm = true, hap = true,
    device_model = cfg.type == "hvm", msr_relaxed = cfg.msr_relaxed, max_vcpus = cfg.maxvcpus })
  if not called or not domid then done() end
  if not called then error(domid, 0) end
  if not domid then return nil, joined(cfg.source .. ": create " .. cfg.name, e1, e2) end
  luxen.crashpoint("create:domain")

  -- from here on a failure must leave nothing behind
  local dm -- the device model, once started
  local ok, ferr = pcall(function()
    local function must(what, ok, e, d)
      if not ok then error(joined(what, e, d), 0) end
      return ok
    end
    must("xenstore roots", write_roots(domid, uuid))
    must("xenstore skeleton", write_skeleton(domid, uuid, cfg))
    luxen.crashpoint("create:skeleton")
    must("max_mem", xen.set_max_mem(domid, cfg.maxmem * 1024 + M.MAXMEM_SLACK_KB))
    must("max_vcpus", xen.set_max_vcpus(domid, cfg.maxvcpus))
    must("vcpu affinity", set_affinity(domid, cfg))
    if cfg.cpu_weight or cfg.cap then
      local cur = must("scheduler", xen.sched_get(domid))
      must("cpu_weight/cap", xen.sched_set(domid, { scheduler = cur.scheduler, weight = cfg.cpu_weight, cap = cfg.cap or cur.cap }))
    end
    -- an HVM guest's video memory is QEMU's, out of the guest's memory (libxl__build_hvm)
    local _, vram = devicemodel.vga(cfg)
    local hvm = cfg.type == "hvm"
    local spec = {
      type = cfg.type, memory_kb = (cfg.memory - vram) * 1024, maxmem_kb = cfg.maxmem * 1024,
      vcpus = cfg.vcpus, max_vcpus = cfg.maxvcpus, kernel = not hvm and cfg.kernel or nil, ramdisk = not hvm and cfg.ramdisk or nil,
      cmdline = not hvm and cfg.cmdline or nil, cache_dir = luxen.state_dir .. "/cache",
      firmware = hvm and (cfg.firmware_override or devicemodel.HVMLOADER) or nil,
      bios = hvm and devicemodel.BIOS[cfg.bios or "seabios"] or nil,
    }
    if shim then
      -- libxl__domain_firmware's order: the shim is the kernel, the PV
      -- kernel module 0 with its command line, the ramdisk module 1
      spec.type, spec.kernel, spec.cmdline, spec.ramdisk = "pvh", shim.path, shim.cmdline, nil
      spec.modules = { { path = cfg.kernel, cmdline = cfg.cmdline } }
      if cfg.ramdisk then spec.modules[2] = { path = cfg.ramdisk } end
    end
    local built
    if opts.restore then
      -- the guest's memory and CPU state, with new event channels for its rings
      luxen.progress(string.format("restore %s: loading %s", cfg.name, opts.restore))
      built = must("restore", xen.restore(domid, { path = opts.restore, maxmem_kb = cfg.maxmem * 1024, vcpus = cfg.vcpus,
        header_read = opts.restore_stream }))
      opts.restored = built
    else
      luxen.progress(string.format("create %s: building the domain%s", cfg.name,
        spec.kernel and (" (loading " .. spec.kernel .. ")") or ""))
      built = must("build", xen.build(domid, spec))
    end
    luxen.progress("")
    -- an empty domain (no kernel, on real Xen) has no xenstore ring to introduce
    if built.store_port ~= 0 then
      -- the store ring, and the console nodes xenconsoled looks for
      -- (libxl_console.c), in one transaction
      local dp = domain.path(domid)
      local cp = dp .. "/console"
      local _, e, detail = xs.atomic({
        { "write", dp .. "/store/port", tostring(built.store_port) },
        { "write", dp .. "/store/ring-ref", tostring(built.store_gfn) },
        { "write", cp .. "/limit", "1048576" }, { "write", cp .. "/type", "xenconsoled" },
        { "write", cp .. "/output", "pty" }, { "write", cp .. "/tty", "" },
        { "write", cp .. "/port", tostring(built.console_port) },
        { "write", cp .. "/ring-ref", tostring(built.console_gfn) },
        { "write", cp .. "/backend-id", "0" }, { "set_perms", cp .. "/backend-id", { "n" .. domid } },
      })
      if e then error(joined("store and console", e, detail), 0) end
      must("introduce", xs.introduce(domid, built.store_gfn, built.store_port))
    end
    if devicemodel.needed(cfg) then
      luxen.progress("create " .. cfg.name .. ": starting the device model (QEMU)")
      dm = must("device model", devicemodel.start(domid, cfg, emulated, opts.media))
      luxen.progress("")
    end
    luxen.crashpoint("create:built")
    local rec = {
      name = cfg.name, uuid = uuid, domid = domid, config = plain_config(cfg),
      created = time.now(), restarts = opts.restarts or {},
      console_offset = console_log_size(cfg.name), dm = dm,
    }
    must("record", records.save(rec))
    -- devices: the backend must be waiting (InitWait) before the guest runs
    for _, d in ipairs(devlist) do
      must(d.class, devices.attach(domid, d.class, d.fields, { wait = "initwait", devid = d.devid }))
    end
    -- the config as libxl keeps it, for xl list -l, xl save and xl destroy
    -- (with the devices that attach added to the record; without any, the
    -- record is rec as saved, and is not read back)
    must("libxl config", libxlcfg.store(domid, #devlist > 0 and records.get(uuid) or rec))
    -- a destroy that raced this create may have missed the record: make sure
    -- the domain still exists now that everything it owns is recorded
    must("domain", xen.info(domid))
    if not opts.paused then
      -- a device model started paused runs before the guest's first instruction
      if dm and dm.paused then
        must("device model", devicemodel.resume(dm))
        must("record", records.update(domid, function(r) r.dm.paused = nil end))
      end
      must("unpause", xen.unpause(domid))
    end
  end)
  if not ok then
    dlog.error("create failed, rolling back: %s", ferr)
    if dm then devicemodel.stop(dm) end
    xen.destroy(domid)
    local rec = records.get(uuid)
    -- a restore of a guest migrating from this host: the record and /vm
    -- node of its uuid are the source domain's until it has handed over
    local theirs = rec and rec.domid ~= domid and (xen.info(rec.domid) or {}).uuid == uuid
    if theirs then rec = nil else records.remove(uuid) end
    libxlcfg.remove(domid, uuid)
    M.remove_nodes(domid, not theirs and uuid or nil, rec)
    done() -- last: until here a reconcile can finish the rollback
    return nil, joined(cfg.source .. ": create " .. cfg.name, ferr)
  end
  done()
  dlog.info("%s domain %s (domid %d, uuid %s, %d MiB, %d vcpus) in %.3fs%s",
    opts.restore and ("restored from " .. opts.restore .. ":") or "created", cfg.name, domid, uuid, cfg.memory,
    cfg.vcpus, time.monotonic() - t0, opts.paused and ", paused" or "")
  return domid
end

---------------------------------------------------------------- destroy

-- destroy_domain: the body of destroy, once the domain is known
local function destroy_domain(domid, name, uuid, opts, tty_seen)
  local t0 = time.monotonic()
  -- each phase's time goes in the domain's log: what a slow destroy spent it on
  local spent, last = {}, t0
  local function phase(what)
    local now = time.monotonic()
    spent[#spent + 1] = string.format("%s %.3fs", what, now - last)
    last = now
  end
  if name then task.cancel_group("domain:" .. name) end -- its handlers die with it
  -- QEMU first, as libxl does: it maps guest memory, and a domain whose
  -- pages are mapped lingers as a zombie after destroydomain
  local early = uuid and records.get(uuid)
  if early and early.dm and early.domid == domid then devicemodel.stop(early.dm) end
  phase("handlers and device model")
  local ok, e1, e2 = xen.destroy(domid)
  if not ok and e1 ~= "ESRCH" then return nil, joined("destroy domain " .. domid, e1, e2) end
  -- XEN_DOMCTL_destroydomain, freeing the domain's memory
  phase("the hypervisor's part")
  luxen.crashpoint("destroy:hypervisor")
  -- read the record after the domain is gone: a create racing this destroy
  -- either recorded its device model by now or finds its domain dead and rolls back
  local rec = uuid and records.get(uuid)
  -- a record naming another running domain of this uuid is that domain's:
  -- the guest migrated to this host runs there, and its record, its /vm
  -- node and its device model stay
  local theirs = rec and rec.domid ~= domid and (xen.info(rec.domid) or {}).uuid == uuid
  if rec and rec.dm and not theirs then devicemodel.stop(rec.dm) end
  if rec and name then copy_console(name, rec.console_offset) end
  phase("console log")
  if uuid and not opts.keep_record and not theirs then records.remove(uuid) end
  libxlcfg.remove(domid, uuid)
  phase("record")
  -- luxen marks each domain it makes (mtwatch); one without is another
  -- toolstack's, whose nodes go as that toolstack's destroy removes them
  -- (one whose record names another domid is too: a guest luxen made that
  -- xl saved and restored carries luxen's uuid, but xl made this domain)
  local foreign = (not rec or rec.domid ~= domid) and not xs.exists("/local/domain/0/mtwatch/" .. domid)
  -- what dom0's hotplug made for its devices (a file's loop device) goes
  -- too, found through the backend nodes, so before they do
  if rec and rec.devices then devices.release(domid, rec.devices, name) end
  M.remove_nodes(domid, not theirs and uuid or nil, rec, foreign)
  -- a record of an earlier domain of this uuid (xl saved it and restored it
  -- as this one) goes with what is left of that domain's, as reconcile
  -- would remove it: unless its domid holds another domain by now
  if rec and rec.domid ~= domid and not xen.info(rec.domid) then
    M.remove_nodes(rec.domid)
    libxlcfg.remove(rec.domid, uuid)
  end
  phase("xenstore")
  -- xenconsoled writes console/tty once, the first time it sees the domain,
  -- and may still be on its way there when a destroy follows a create at
  -- once: its write then lands after the removal above, and the node would
  -- outlive the domain. It maps the console page before it writes, and that
  -- mapping keeps the domain a zombie until xenconsoled has seen it die; so
  -- once the domain is gone, xenconsoled is done with it and its late node
  -- can go. A domain whose tty is written already (create leaves it empty,
  -- as libxl does, for xenconsoled to fill) has nothing more coming.
  if not tty_seen and xen.info(domid) then
    luxen.progress(string.format("destroy %s: waiting for the domain's memory to be released", name or tostring(domid)))
    local gone = domain.wait_gone(domid, M.LATE_WRITER_WAIT)
    luxen.progress("")
    if not gone then
      log.domain(name or tostring(domid)).warn("domain %d still a zombie %ds after its destroy (a backend or xenconsoled holds its memory)", domid, M.LATE_WRITER_WAIT)
    elseif xs.exists(domain.path(domid)) and not xen.info(domid) then
      xs.rm(domain.path(domid))
    end
    phase("the zombie's release")
  end
  if name then
    log.domain(name).info("destroyed domain %s (domid %d) in %.3fs (%s)",
      name, domid, time.monotonic() - t0, table.concat(spent, ", "))
  end
  return true
end


-- bump(counts, key, by): a count of work under way, gone at zero
local function bump(counts, key, by)
  counts[key] = (counts[key] or 0) + by
  if counts[key] == 0 then counts[key] = nil end
end

-- destroy_once: one look-up and destroy of target
local function destroy_once(target, opts)
  -- a restart of it under way here is cancelled: between the old domain's
  -- end and the new one's start there is no domain of that name to find,
  -- and the destroy has done its work once the restart gives up
  local function cancel_restart(n)
    local r = not opts.keep_record and n and M.restarting[n]
    if r then r.cancelled = true end
    return r
  end
  local restarting = cancel_restart(tostring(target))
  local domid, err = domain.find(target)
  if not domid then
    -- a restart under way (begun before or during the look-up) is
    -- between its old domain and its new one: cancelled, it makes none
    if restarting or cancel_restart(tostring(target)) then return true end
    return nil, err
  end
  if domid == 0 then return nil, "refusing to destroy Domain-0" end
  -- its name and its /vm link (the record's uuid) in one round trip
  local dp = domain.path(domid)
  local ids = xs.batch({ { "read", dp .. "/name" }, { "read", dp .. "/vm" }, { "read", dp .. "/console/tty" } })
  local name = ids[1] or nil
  local uuid = ids[2] and ids[2]:match("^/vm/(.+)$") or nil
  local requested = uuid and not opts.keep_record
  if uuid then
    -- a reconcile in this process leaves it to this destroy meanwhile
    bump(M.destroying, uuid, 1)
    if requested then bump(M.destroy_requested, uuid, 1) end
  end
  -- one that began while the domain was looked up (by the name asked for
  -- too: a restart's own destroy may have taken the node already)
  cancel_restart(name)
  cancel_restart(tostring(target))
  local r = { pcall(destroy_domain, domid, name, uuid, opts, type(ids[3]) == "string" and ids[3] ~= "") }
  if uuid then
    bump(M.destroying, uuid, -1)
    if requested then bump(M.destroy_requested, uuid, -1) end
  end
  if not r[1] then error(r[2], 0) end
  return r[2], r[3]
end

--- destroy(target [, opts]) -> true | nil, err
-- opts.keep_record keeps the JSON record (a restart is about to reuse it).
-- A destroy by name wins over a restart of that name in this process (the
-- supervisor's): one under way is cancelled, and when one began while this
-- looked the domain up or ended it, it looks again, until none did.
function M.destroy(target, opts)
  opts = opts or {}
  if opts.keep_record or tonumber(target) then return destroy_once(target, opts) end
  local name = tostring(target)
  local ok, err
  for _ = 1, 10 do
    local seq = M.restart_seq[name] or 0
    ok, err = destroy_once(target, opts)
    if (M.restart_seq[name] or 0) == seq then return ok, err end
    if not M.restarting[name] and not domain.find(name) then return true end
  end
  return ok, err
end

---------------------------------------------------------------- shutdown, reboot

-- hvm_guest(domid) -> is_hvm: an HVM guest (a device model's), by
-- libxl's /libxl/<domid>/type, which luxen writes for its domains as xl
-- does for its own (luxen's record when it is missing)
local function hvm_guest(domid)
  local t = xs.read("/libxl/" .. domid .. "/type")
  if not t then
    local rec = records.of_domain(domid)
    t = rec and rec.config and rec.config.type
  end
  return t == "hvm"
end

-- without_pv(domid, target, what, force): an HVM guest whose PV drivers have
-- not started (HVM_PARAM_CALLBACK_IRQ is 0) watches no control/shutdown, as
-- libxl__domain_pvcontrol_available finds. Without force that is the error
-- xl gives. With force (xl's -F) a poweroff presses the guest's ACPI power
-- button, for its OS to shut down; a reboot resets it, as a reset button
-- would: Xen stops it at once with reason reboot and its on_reboot follows.
-- (xl's -F sends XEN_DOMCTL_SENDTRIGGER_RESET, which Xen 4.17 on x86
-- refuses with ENOSYS; QEMU's system_reset comes to the same shutdown.)
-- Returns true when the guest was told so, false when it has PV drivers
-- (or is not HVM), nil, err when it cannot be told.
local function without_pv(domid, target, what, force)
  local hvm = hvm_guest(domid)
  if not hvm then return false end
  local cb, e1, e2 = xen.hvm_param(domid, "callback_irq")
  if not cb then return nil, joined("reading HVM_PARAM_CALLBACK_IRQ", e1, e2) end
  if cb ~= 0 then return false end
  local button = what == "reboot" and "reset it" or "press its ACPI power button"
  if not force then
    return nil, string.format("domain %s has no PV drivers (an HVM guest whose HVM_PARAM_CALLBACK_IRQ is 0), so it " ..
      "cannot be asked to %s through xenstore; use -F to %s", tostring(target), what == "reboot" and "reboot" or "shut down", button)
  end
  local ok, err, detail
  if what == "reboot" then
    ok, err, detail = xen.shutdown(domid, "reboot")
  else
    ok, err, detail = xen.send_trigger(domid, "power")
  end
  if not ok then
    return nil, string.format("domain %s has no PV drivers; -F could not %s: %s", tostring(target), button, joined(what, err, detail))
  end
  log.domain(domain.name(domid) or tostring(domid)).info("%s requested: no PV drivers, so -F: %s", what,
    what == "reboot" and "reset (shut down with reason reboot)" or "ACPI power button pressed")
  return true
end

local function request(target, what, force)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if domid == 0 then return nil, "refusing to " .. what .. " Domain-0 from luxen" end
  local info = xen.info(domid)
  if info and info.shutdown then return nil, "domain " .. target .. " has already shut down (" .. info.shutdown_reason .. ")" end
  local acpi, aerr = without_pv(domid, target, what, force)
  if acpi == nil then return nil, aerr end
  if acpi then return domid end
  local ok, e1, e2 = xs.write(domain.path(domid) .. "/control/shutdown", what)
  if not ok then return nil, joined(what .. " request", e1, e2) end
  log.domain(domain.name(domid) or tostring(domid)).info("%s requested", what)
  return domid
end

--- shutdown(target [, {wait=true, timeout=60, force=false}]) -> domid | nil, err
-- Asks the guest to power off through control/shutdown. With wait, returns
-- once the guest has shut down (nil, "timeout" if it does not in time). An
-- HVM guest without PV drivers is refused, unless force (xl's -F): its ACPI
-- power button is pressed then (for a reboot it is reset).
function M.shutdown(target, opts)
  opts = opts or {}
  local domid, err = request(target, opts.reason or "poweroff", opts.force)
  if not domid then return nil, err end
  if opts.wait then
    luxen.progress(string.format("waiting for %s to shut down", tostring(target)))
    local info, werr = domain.wait_shutdown(domid, opts.timeout or M.SHUTDOWN_TIMEOUT)
    luxen.progress("")
    if not info and werr ~= "gone" then
      return nil, string.format("domain %s did not shut down within %ds (%s)", tostring(target), opts.timeout or M.SHUTDOWN_TIMEOUT, werr)
    end
  end
  return domid
end

--- reboot(target [, opts]) -> domid | nil, err
function M.reboot(target, opts)
  opts = opts or {}
  opts.reason = "reboot"
  return M.shutdown(target, opts)
end

---------------------------------------------------------------- save

M.SUSPEND_TIMEOUT = 60 -- libxl waits as long for a guest to suspend

--- pre_save(domid, rec) -> true | nil, err: a site's check before a guest
-- is suspended for a save or a migration (set it in a script that
-- requires lifecycle); an error stops it with nothing done.
M.pre_save = nil

-- resume_in_place(domid): the suspended guest runs on, its suspend
-- cancelled; xenstored is told too, so that its next shutdown is seen
function M.resume_in_place(domid)
  local ok, e1, e2 = xen.resume(domid)
  if not ok then return nil, joined("resume", e1, e2) end
  local rok, rerr = xs.resume(domid)
  if not rok then return nil, "xenstore resume: " .. tostring(rerr) end
  return true
end

--- saver(uuid) -> {pid=, alive=, step=, file=} | nil : who is saving uuid, how far
function M.saver(uuid)
  local v = xs.read(M.SAVING .. "/" .. uuid)
  if not v then return nil end
  local pid, start, step, file = v:match("^(%d+) (%S*) (%S+) (.*)$")
  pid = tonumber(pid)
  if not pid then return { pid = -1, alive = false } end
  local s = { pid = pid, step = step, file = file }
  if pid == luxen.pid and start == luxen.pid_start then s.alive = M.saving[uuid] == true
  else s.alive = luxen.alive(pid, start) end
  return s
end

local function save_intent(uuid, step, path)
  return xs.write(M.SAVING .. "/" .. uuid, string.format("%d %s %s %s", luxen.pid, luxen.pid_start, step, path))
end

local save_body

--- save(target, path [, {keep=, paused=, timeout=}]) -> {bytes=, pfns=, pages=, seconds=, suspend_seconds=} | nil, err
-- xl save: asks the guest to suspend (control/shutdown = "suspend"), writes
-- it to path in xl's format, with libxl's config of it, and destroys it, as
-- xl does. keep (xl save -c) leaves it running in place instead, paused
-- (paused=true, -p) or not. A save that fails resumes the guest, and says
-- so; nothing is left half-written (the file is removed).
-- A save cut short (its process killed) is undone by reconcile: the guest
-- runs on (SAVING).
function M.save(target, path, opts)
  opts = opts or {}
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if domid == 0 then return nil, "refusing to save Domain-0" end
  local uuid = records.uuid_of(domid)
  if not uuid then return save_body(domid, path, opts) end -- refused there: not luxen's
  local other = M.saver(uuid)
  if other and other.alive then
    return nil, string.format("domain %s is being saved already, to %s by pid %d", tostring(target), tostring(other.file), other.pid)
  end
  -- the intent first: a save cut short anywhere after it is reconcile's to undo
  local ok, e1, e2 = save_intent(uuid, "asked", path)
  if not ok then return nil, joined("xenstore " .. M.SAVING, e1, e2) end
  M.saving[uuid] = true
  local called, res, serr = pcall(save_body, domid, path, opts, uuid)
  M.saving[uuid] = nil
  xs.rm(M.SAVING .. "/" .. uuid)
  if not called then error(res, 0) end
  return res, serr
end

save_body = function(domid, path, opts, uuid)
  local name = domain.name(domid) or tostring(domid)
  local rec = records.of_domain(domid)
  if not rec or not rec.config then
    return nil, string.format("domain %s was not made by luxen (it has no record of it): save it with xl save", name)
  end
  if rec.config.type == "hvm" then
    return nil, string.format("domain %s is an HVM guest: luxen cannot save a device model's state yet (PVH guests only)", name)
  end
  local info = xen.info(domid)
  if info and info.shutdown then return nil, string.format("domain %s has already shut down (%s)", name, tostring(info.shutdown_reason)) end
  if M.pre_save then
    local ok, perr = M.pre_save(domid, rec)
    if not ok then return nil, string.format("domain %s: pre_save: %s", name, tostring(perr)) end
  end
  local encoded, cfg = pcall(require("json").encode, libxlcfg.config(rec, domid), true)
  if not encoded then return nil, "libxl config: " .. tostring(cfg) end
  local dlog = log.domain(name)
  local timeout = opts.timeout or M.SUSPEND_TIMEOUT
  local t0 = time.monotonic()
  local ctl = domain.path(domid) .. "/control/shutdown"
  local ok, e1, e2 = xs.write(ctl, "suspend")
  if not ok then return nil, joined("suspend request", e1, e2) end
  luxen.crashpoint("save:requested")
  dlog.info("save to %s: suspend requested", path)
  luxen.progress(string.format("waiting for %s to suspend", name))
  local sinfo, werr = domain.wait_shutdown(domid, timeout)
  luxen.progress("")
  if not sinfo then
    -- as libxl: withdraw a request the guest did not take up
    if xs.read(ctl) == "suspend" then xs.write(ctl, "") end
    return nil, string.format("domain %s did not suspend within %ss (%s); it runs on", name, tostring(timeout), tostring(werr))
  end
  if sinfo.shutdown_reason ~= "suspend" then
    return nil, string.format("domain %s shut down (%s) instead of suspending; nothing was saved", name, tostring(sinfo.shutdown_reason))
  end
  local suspended = time.monotonic() - t0
  luxen.crashpoint("save:suspended")
  -- from here a file at path is this save's (before, it may be anyone's)
  if uuid then
    local iok, ie1, ie2 = save_intent(uuid, "writing", path)
    if not iok then
      local rok, rerr = M.resume_in_place(domid)
      return nil, string.format("domain %s: xenstore %s: %s; %s", name, M.SAVING, joined(ie1, ie2),
        rok and "it was resumed and runs on" or ("it stays suspended, as resuming it failed (" .. tostring(rerr) .. "): destroy it"))
    end
  end
  luxen.progress(string.format("saving %s to %s", name, path))
  local res, se1, se2 = xen.save(domid, { path = path, config = cfg })
  luxen.progress("")
  if res then luxen.crashpoint("save:written") end
  if not res then
    local serr = joined("save to " .. path, se1, se2)
    local rok, rerr = M.resume_in_place(domid)
    if not rok then
      dlog.error("%s; resuming it failed: %s", serr, tostring(rerr))
      return nil, string.format("domain %s: %s; it stays suspended, as resuming it failed (%s): destroy it", name, serr, tostring(rerr))
    end
    dlog.error("%s; resumed", serr)
    return nil, string.format("domain %s: %s; it was resumed and runs on", name, serr)
  end
  res.suspend_seconds = suspended
  if opts.keep or opts.paused then
    if opts.paused then xen.pause(domid) end
    local rok, rerr = M.resume_in_place(domid)
    if not rok then
      return nil, string.format("domain %s was saved to %s but stays suspended: %s", name, path, tostring(rerr))
    end
  else
    local dok, derr = M.destroy(domid)
    if not dok then return nil, string.format("domain %s was saved to %s but its destroy failed: %s", name, path, tostring(derr)) end
  end
  res.seconds = time.monotonic() - t0
  dlog.info("saved to %s: %d bytes, %d pages in %.2fs (%s)", path, res.bytes, res.pages, res.seconds,
    opts.keep and "it runs on" or opts.paused and "it is paused" or "destroyed")
  return res
end

-- pre_restore(path, cfg) -> true | nil, err: a site's check before a
-- restore makes anything (nil: none). cfg is the config the domain will
-- get, already checked; an error stops the restore.
M.pre_restore = nil

--- restore(path [, {config=, overrides=, paused=}]) -> domid, {seconds=, pages=, pfns=} | nil, err
-- xl restore: a domain made again from a save file (luxen's or xl's), with
-- the name, uuid and devices of the config saved in it, or of config (a
-- config file, as xl restore CONFIG FILE takes one). The guest carries on
-- where it was saved; its devices get new backends, which it reconnects to.
-- A restore that fails leaves nothing behind, as a failed create.
function M.restore(path, opts)
  opts = opts or {}
  -- (a migration's receiver: opts.stream, path is the connection, read on
  -- from after the header; opts.incoming, the guest's source still runs on
  -- this host or another, and this domain is NAME--incoming until it hands over)
  local text, err = luxen.save_config(path)
  if not text then return nil, "restore: " .. tostring(err) end
  local ok, saved, derr = pcall(require("json").decode, text)
  if not ok or type(saved) ~= "table" then
    return nil, string.format("restore: %s: the config in its header: %s", path, tostring(ok and derr or saved))
  end
  local cfg
  if opts.config then
    cfg, err = config.load(opts.config, opts.overrides)
    if not cfg then return nil, err end
    -- the guest saved is the one restored: its uuid, unless the config names one
    if not cfg.uuid and type(saved.c_info) == "table" and saved.c_info.uuid then
      local u, uerr = config.check("uuid", config.schema.uuid, saved.c_info.uuid)
      if not u then return nil, string.format("restore: %s: the config in its header: uuid: %s", path, uerr) end
      cfg.uuid = u
    end
  else
    local t, terr = libxlcfg.to_config(saved)
    if not t then return nil, string.format("restore: %s: the config in its header: %s", path, terr) end
    -- its kernel is not loaded again (the guest's memory is): one that is
    -- not on this host is no reason to refuse, only to warn
    local kernel, ramdisk
    if t.kernel and not luxen.stat(t.kernel) then
      kernel, ramdisk, t.kernel, t.ramdisk = t.kernel, t.ramdisk, nil, nil
    end
    cfg, err = config.from_table(t, opts.stream and "the migration stream's config" or (path .. " (the config saved in it)"))
    if not cfg then return nil, "restore: " .. err end
    if kernel then
      cfg.kernel, cfg.ramdisk = kernel, ramdisk
      log.domain(cfg.name).warn("restore: kernel %s is not on this host: the guest runs, but its reboot will fail until it is", kernel)
    end
  end
  if cfg.type == "hvm" then
    return nil, string.format("restore: %s: an HVM guest: luxen cannot restore a device model's state yet (PVH guests only)", cfg.source)
  end
  if opts.incoming then cfg.name = cfg.name .. "--incoming" end
  if M.pre_restore then
    local ok, perr = M.pre_restore(path, cfg)
    if not ok then return nil, string.format("restore %s: pre_restore: %s", cfg.name, tostring(perr)) end
  end
  -- a record of this uuid is of the domain that was saved: still running
  -- (save -c), it stops this restore; gone (save destroys it, and xl's
  -- save does not run luxen's destroy), what is left of it goes now
  local old = cfg.uuid and records.get(cfg.uuid)
  local source = old and old.domid and opts.incoming and (xen.info(old.domid) or {}).uuid == cfg.uuid
  if old and old.domid and not source then
    local info = xen.info(old.domid)
    if info and info.uuid == cfg.uuid then
      return nil, string.format("restore: %s: domain %s (domid %d) has uuid %s and runs: destroy it first, or restore a copy under another uuid",
        cfg.source, tostring(domain.name(old.domid) or old.name), old.domid, cfg.uuid)
    end
    -- its domid may be another domain's by now: only a free one's nodes go
    if not info then M.remove_nodes(old.domid, cfg.uuid, old) end
    libxlcfg.remove(old.domid, cfg.uuid)
    records.remove(cfg.uuid)
    log.domain(cfg.name).info("restore: cleared what was left of domid %d, the domain saved", old.domid)
  end
  local t0 = time.monotonic()
  local copts = { paused = opts.paused, restore = path, restore_stream = opts.stream }
  local domid, cerr = M.create(cfg, copts)
  if not domid then return nil, cerr end
  local r = copts.restored or {}
  return domid, { seconds = time.monotonic() - t0, pages = r.pages, pfns = r.pfns }
end

---------------------------------------------------------------- migrate

-- A live migration (xl migrate) in steps, each the sender's or the
-- receiver's; cmd/luxen carries xl's protocol messages between them over
-- the transport (ssh, or -s's command), and calls these in order:
--   sender    migrate_send: the stream, live rounds, suspend, the rest
--   receiver  restore { stream = true, incoming = true, paused = true }
--   sender    migrate_away: the source gives up its name
--   receiver  migrate_commit: the guest takes its name and runs
--   sender    migrate_done (or migrate_back when the receiver failed)
-- On one host the two domains share a uuid for a while; the record of it is
-- the receiver's from its restore on, and the sender keeps a copy to put
-- back if the migration fails.
M.migrating = {} -- domid -> { rec, name, uuid }: sources between send and done

-- migrate_intent: the source's SAVING intent, so that a sender killed
-- mid-migration leaves a guest reconcile resumes
local function migrate_intent(uuid, path) return save_intent(uuid, "migrating", path) end

--- migrate_send(target, path [, {timeout=}]) -> info | nil, err
-- The guest's stream to path (the transport's pipe) while it runs, with
-- log-dirty rounds; then it is asked to suspend and the rest is sent.
-- info: {domid, uuid, rounds, dirty (the last round's pages), final (pages
-- sent while suspended), bytes, live_seconds, suspended_at (time.monotonic)}.
-- A failure leaves the guest running.
function M.migrate_send(target, path, opts)
  opts = opts or {}
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if domid == 0 then return nil, "refusing to migrate Domain-0" end
  local name = domain.name(domid) or tostring(domid)
  local rec = records.of_domain(domid)
  if not rec or not rec.config then
    return nil, string.format("domain %s was not made by luxen (it has no record of it): migrate it with xl migrate", name)
  end
  if rec.config.type == "hvm" then
    return nil, string.format("domain %s is an HVM guest: luxen cannot migrate a device model's state yet (PVH guests only)", name)
  end
  local info = xen.info(domid)
  if not info or info.shutdown then return nil, string.format("domain %s is not running", name) end
  if M.pre_save then
    local ok, perr = M.pre_save(domid, rec)
    if not ok then return nil, string.format("domain %s: pre_save: %s", name, tostring(perr)) end
  end
  local uuid = rec.uuid
  local other = M.saver(uuid)
  if other and other.alive then return nil, string.format("domain %s is being saved already, by pid %d", name, other.pid) end
  local encoded, cfg = pcall(require("json").encode, libxlcfg.config(rec, domid), true)
  if not encoded then return nil, "libxl config: " .. tostring(cfg) end
  local ok, e1, e2 = migrate_intent(uuid, path)
  if not ok then return nil, joined("xenstore " .. M.SAVING, e1, e2) end
  M.saving[uuid] = true
  local dlog = log.domain(name)
  local function fail(msg)
    M.saving[uuid] = nil
    xs.rm(M.SAVING .. "/" .. uuid)
    dlog.error("migrate: %s", msg)
    return nil, string.format("domain %s: %s", name, msg)
  end
  local t0 = time.monotonic()
  luxen.progress(string.format("migrate %s: sending its memory while it runs", name))
  local live, le1, le2 = xen.save(domid, { path = path, config = cfg, phase = "live" })
  luxen.progress("")
  if not live then return fail(joined("sending memory", le1, le2) .. "; it runs on") end
  local live_s = time.monotonic() - t0
  dlog.info("migrate: %d rounds after the first, %d pages dirtied in the last, %.2fs", live.rounds, live.dirty, live_s)
  luxen.crashpoint("migrate:live")
  local ctl = domain.path(domid) .. "/control/shutdown"
  local t_ask = time.monotonic()
  ok, e1, e2 = xs.write(ctl, "suspend")
  if not ok then
    xen.save(domid, { phase = "abort" })
    return fail(joined("suspend request", e1, e2) .. "; it runs on")
  end
  luxen.progress(string.format("migrate %s: waiting for it to suspend", name))
  local sinfo, werr = domain.wait_shutdown(domid, opts.timeout or M.SUSPEND_TIMEOUT)
  luxen.progress("")
  if not sinfo or sinfo.shutdown_reason ~= "suspend" then
    if xs.read(ctl) == "suspend" then xs.write(ctl, "") end
    xen.save(domid, { phase = "abort" })
    return fail(sinfo and ("it shut down (" .. tostring(sinfo.shutdown_reason) .. ") instead of suspending")
      or string.format("it did not suspend within %ss (%s); it runs on", tostring(opts.timeout or M.SUSPEND_TIMEOUT), tostring(werr)))
  end
  luxen.crashpoint("migrate:suspended")
  local fin, fe1, fe2 = xen.save(domid, { phase = "finish" })
  if not fin then
    local rok, rerr = M.resume_in_place(domid)
    return fail(joined("sending the last pages and CPU state", fe1, fe2) ..
      (rok and "; it was resumed and runs on" or ("; it stays suspended, as resuming it failed (" .. tostring(rerr) .. "): destroy it")))
  end
  M.migrating[domid] = { rec = rec, name = name, uuid = uuid }
  return { domid = domid, uuid = uuid, rounds = live.rounds, dirty = live.dirty, final = fin.dirty, bytes = fin.bytes,
    pages = fin.pages, live_seconds = live_s, suspended_at = t_ask }
end

--- migrate_away(domid) -> true | nil, err: the receiver has the guest,
-- paused: the source takes the name NAME--migratedaway (in xenstore only:
-- its record may be the receiver's now), so the guest can have its name there
function M.migrate_away(domid)
  local m = M.migrating[domid]
  if not m then return nil, "domain " .. tostring(domid) .. " is not migrating from here" end
  local ok, e1, e2 = xs.write(domain.path(domid) .. "/name", m.name .. "--migratedaway")
  if not ok then return nil, joined("rename", e1, e2) end
  return true
end

--- migrate_done(domid) -> true | nil, err: the guest runs at the receiver;
-- the source is destroyed (a record the receiver's domain took over stays)
function M.migrate_done(domid)
  local m = M.migrating[domid]
  if not m then return nil, "domain " .. tostring(domid) .. " is not migrating from here" end
  M.migrating[domid] = nil
  local ok, err = M.destroy(domid)
  M.saving[m.uuid] = nil
  xs.rm(M.SAVING .. "/" .. m.uuid)
  log.domain(m.name).info("migrated away (domid %d destroyed)", domid)
  if not ok then return nil, "the guest runs at the receiver, but destroying the source failed: " .. tostring(err) end
  return true
end

--- migrate_back(domid, why) -> true | nil, err: the receiver failed: the
-- source takes its name and record back and runs on
function M.migrate_back(domid, why)
  local m = M.migrating[domid]
  if not m then return nil, "domain " .. tostring(domid) .. " is not migrating from here" end
  M.migrating[domid] = nil
  xs.write(domain.path(domid) .. "/name", m.name)
  local cur = records.get(m.uuid)
  if not cur or cur.domid ~= domid then records.save(m.rec) end
  libxlcfg.store(domid, m.rec)
  local ok, err = M.resume_in_place(domid)
  M.saving[m.uuid] = nil
  xs.rm(M.SAVING .. "/" .. m.uuid)
  log.domain(m.name).warn("migration failed (%s): %s", tostring(why), ok and "resumed here, it runs on" or ("resuming failed: " .. tostring(err)))
  if not ok then return nil, "resuming the source failed: " .. tostring(err) .. ": destroy it" end
  return true
end

--- migrate_commit(domid) -> true | nil, err: the receiver's incoming domain
-- (NAME--incoming, paused) takes its name and runs
function M.migrate_commit(domid)
  local name = domain.name(domid) or ""
  local base = name:match("^(.*)%-%-incoming$")
  if not base then return nil, string.format("domain %s is not an incoming migration", name) end
  local ok, err = M.rename(domid, base)
  if not ok then return nil, err end
  ok, err = M.unpause(domid)
  if not ok then return nil, err end
  return true
end

---------------------------------------------------------------- pause

---------------------------------------------------------------- rename, config-update

--- rename(target, new_name) -> true | nil, err
-- xl rename: the domain's name in xenstore (its own node and /vm's, in one
-- transaction, as libxl_domain_rename writes them) and in its record, so a
-- restart keeps the new name. Its log goes on under the new name, and each
-- of the two logs says so.
function M.rename(target, new_name)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if domid == 0 then return nil, "refusing to rename Domain-0" end
  local v, verr = config.check("name", config.schema.name, new_name)
  if not v then return nil, "new name: " .. verr end
  local old = domain.name(domid)
  if old == new_name then return true end
  if domain.find(new_name) then return nil, string.format("a domain named '%s' already exists", new_name) end
  if M.restarting[old] then return nil, string.format("domain %s is being restarted: rename it once it is back", old) end
  local dp = domain.path(domid)
  local ok, terr = xs.transaction(function(t)
    -- checked again inside: two renames (or a create) racing for the name
    for _, id in ipairs(t.directory("/local/domain") or {}) do
      if id ~= tostring(domid) and t.read("/local/domain/" .. id .. "/name") == new_name then
        return nil, string.format("a domain named '%s' already exists", new_name)
      end
    end
    local vm = t.read(dp .. "/vm")
    t.write(dp .. "/name", new_name)
    if vm then t.write(vm .. "/name", new_name) end
    return true
  end)
  if not ok then return nil, "rename: " .. tostring(terr) end
  local uuid = records.uuid_of(domid)
  if uuid and records.get(uuid) then
    local rok, rerr = records.update(domid, function(r)
      r.name = new_name
      r.config.name = new_name
    end)
    if not rok then return nil, "rename: the record: " .. tostring(rerr) end
    local lok, lerr = libxlcfg.store(domid, records.get(uuid))
    if not lok then return nil, "rename: " .. tostring(lerr) end
  end
  log.domain(old or tostring(domid)).info("renamed to %s (domid %d)", new_name, domid)
  log.domain(new_name).info("renamed from %s (domid %d)", tostring(old), domid)
  return true
end

--- config_update(target, path [, overrides]) -> true | nil, err
-- xl config-update: the config the domain gets at its next restart (the
-- running domain is not changed). Its devices then come from this config,
-- as with xl: ones hot-plugged since are not brought back.
function M.config_update(target, path, overrides)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if domid == 0 then return nil, "Domain-0's config is not luxen's" end
  local uuid = records.uuid_of(domid)
  if not (uuid and records.get(uuid)) then
    return nil, string.format("domain %s was not made by luxen (no record): there is no config of luxen's to update", tostring(target))
  end
  local cfg, cerr = config.load(path, overrides)
  if not cfg then return nil, cerr end
  local name = domain.name(domid)
  if cfg.name ~= name then
    return nil, string.format("%sname: the config names '%s', the domain is '%s' (rename the domain to change its name)",
      config.where(cfg, "name"), cfg.name, tostring(name))
  end
  local plain = plain_config(cfg)
  local ok, uerr = records.update(domid, function(r)
    plain.uuid = r.config.uuid
    r.config = plain
    r.config_updated = true -- the restart takes its devices from it
  end)
  if not ok then return nil, "config-update: the record: " .. tostring(uerr) end
  -- libxl's copy too, as xl config-update stores it
  local lok, lerr = libxlcfg.store(domid, records.get(uuid))
  if not lok then return nil, "config-update: " .. tostring(lerr) end
  log.domain(name).info("config updated from %s: it applies at the next restart", cfg.source)
  return true
end

function M.pause(target)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local ok, e1, e2 = xen.pause(domid)
  if not ok then return nil, joined("pause", e1, e2) end
  return true
end

function M.unpause(target)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  -- a guest created paused whose device model waits too (dm_restrict): QEMU first
  local uuid = records.uuid_of(domid)
  local rec = uuid and records.get(uuid)
  if rec and rec.dm and rec.dm.paused then
    local rok, rerr = devicemodel.resume(rec.dm)
    if not rok then return nil, rerr end
    local sok, serr = records.update(domid, function(r) r.dm.paused = nil end)
    if not sok then return nil, serr end
  end
  local ok, e1, e2 = xen.unpause(domid)
  if not ok then return nil, joined("unpause", e1, e2) end
  return true
end

return M
