--- devicemodel: the QEMU that emulates a domain's devices, driven over QMP.
--
-- On real Xen an HVM guest (type = "hvm") gets Debian's Xen device model,
-- qemu-system-xen with -xen-domid, started after the domain is built and
-- before it runs, as libxl starts it (tools/libs/light/libxl_dm.c): the
-- emulated IDE disks (vdev hd*) and CD-ROMs are QEMU's, its output goes to
-- the domain's qemu-dm log, and it is ready when it has written
-- /local/domain/0/device-model/<domid>/state = running. On the simulated
-- host a domain whose config names device_model_override gets that QEMU
-- (software emulation, no Xen) with one IDE CD-ROM drive per name in the
-- luxen key `cdrom` (e.g. cdrom = ["hdc"]); an HVM guest there needs one,
-- since only real Xen runs Xen's device model. Either way the QMP socket is
-- under <state>/dm/, readiness is a protocol answer (never a sleep), QEMU
-- stops when the domain is destroyed, and the domain's JSON record says
-- what it has.
--
-- QEMU serves one QMP client at a time, so luxen connects for each operation
-- and lets go at once; nothing holds the monitor between operations.
--
-- CD-ROM changes follow the two-phase pattern under two locks: the slow lock
-- (held across the QMP call) outside the fast lock (held only to update the
-- record): record the intent, tell QEMU, then record what QEMU actually has.
-- luxen opens the ISO itself and passes the descriptor (QMP add-fd), as
-- libxl does, so a QEMU that cannot open the path (dm_restrict) still can.
local qmp = require("qmp")
local xen = require("xen")
local xs = require("xenstore")
local sync = require("sync")
local log = require("log")
local time = require("time")
local luxen = require("luxen")
local domain = require("domain")
local records = require("records")
local domainlocks = require("domainlocks")
local config = require("config")

local M = {}

M.START_TIMEOUT = 30
M.COMMAND_TIMEOUT = 10

-- Debian 12's paths (packages qemu-system-xen, xen-utils-4.17, seabios);
-- libxl has the same ones built in. A site with other paths edits these.
M.QEMU_XEN = "/usr/libexec/xen-qemu-system-i386"
M.HVMLOADER = "/usr/lib/xen-4.17/boot/hvmloader"
M.BIOS = { seabios = "/usr/share/seabios/bios-256k.bin" }
-- xl's video memory defaults (MiB) by vga kind (libxl_create.c)
M.VIDEORAM = { none = 0, cirrus = 8, stdvga = 16 }

-- dm_restrict = 1 (Xen's docs/designs/qemu-deprivilege.md, libxl_dm.c): QEMU
-- runs as an unprivileged user, chrooted in an empty directory, its Xen
-- handles restricted to its own domain (-xen-domid-restrict), under libxl's
-- resource limits, on a QMP socket luxen binds and hands it. Restricted,
-- it can no longer reach xenstore, so it starts paused (-S): luxen knows it
-- is ready from QMP (query-status "prelaunch") and starts it (cont) before
-- the guest runs. It cannot open a path either: CD media go in by
-- descriptor, which every insert already does. The users are libxl's: a
-- uid per domain (range base + domid) or one shared user.
M.RESTRICT_USERS = { range = "xen-qemuuser-range-base", shared = "xen-qemuuser-shared" }
M.RESTRICT_RLIMITS = { fsize = 256 * 1024, core = 0, msgqueue = 0, locks = 0, memlock = 0 }
function M.chroot_dir(domid) return luxen.state_dir .. "/dm/root-" .. domid end

function M.socket(domid) return luxen.state_dir .. "/dm/" .. domid .. ".qmp" end
function M.log_path(name) return log.path(name):match("^(.*)/") .. "/qemu-dm-" .. name .. ".log" end
function M.xs_path(domid) return "/local/domain/0/device-model/" .. domid end

--- needed(cfg) -> whether the domain gets a device model
function M.needed(cfg) return cfg.type == "hvm" or cfg.device_model_override ~= nil end

--- runas(cfg [, domid]) -> "uid:gid" | nil, err: who a deprivileged QEMU
-- runs as (libxl__dm_runas_helper's order: device_model_user, then a uid
-- per domain from xen-qemuuser-range-base, then xen-qemuuser-shared)
function M.runas(cfg, domid)
  domid = domid or 0
  if cfg.device_model_user then
    if cfg.device_model_user == "root" then
      return nil, config.where(cfg, "device_model_user") .. "device_model_user: a deprivileged QEMU cannot run as root"
    end
    local u, err = luxen.user(cfg.device_model_user)
    if not u then return nil, string.format("%sdevice_model_user: no user %q on this host (%s)", config.where(cfg, "device_model_user"), cfg.device_model_user, tostring(err)) end
    return u.uid .. ":" .. u.gid
  end
  local base = luxen.user(M.RESTRICT_USERS.range)
  if base then return (base.uid + domid) .. ":" .. base.gid end
  local shared = luxen.user(M.RESTRICT_USERS.shared)
  if shared then return shared.uid .. ":" .. shared.gid end
  return nil, string.format("%sdm_restrict: no user to run QEMU as: add %s (e.g. `useradd --system --no-create-home " ..
    "--shell /usr/sbin/nologin %s`), or %s for a uid per domain, or set device_model_user",
    config.where(cfg, "dm_restrict"), M.RESTRICT_USERS.shared, M.RESTRICT_USERS.shared, M.RESTRICT_USERS.range)
end

--- vga(cfg) -> kind, videoram MiB (xl's defaults: cirrus, 8 MiB)
function M.vga(cfg)
  if cfg.type ~= "hvm" then return "none", 0 end
  local kind = cfg.vga or (cfg.stdvga and "stdvga") or (cfg.nographic and "none") or "cirrus"
  return kind, kind == "none" and 0 or (cfg.videoram or M.VIDEORAM[kind])
end

--- emulated(cfg, d) -> whether config device d is QEMU's rather than a PV
-- backend's: an HVM guest's IDE disks (hd*) and every CD-ROM (a PV
-- CD-ROM has no medium to change: luxen gives CD-ROMs to QEMU only)
function M.emulated(cfg, d)
  if d.class ~= "vbd" then return false end
  return d.fields.devtype == "cdrom" or (cfg.type == "hvm" and d.fields.vdev:match("^hd[a-d]$") ~= nil)
end

-- ide_index("hdc") -> 2 (QEMU's -drive index: hda..hdd)
local function ide_index(vdev) return vdev:byte(3) - ("a"):byte() end

--- check(cfg) -> true | nil, err: what the device model cannot do, before anything is made
function M.check(cfg, disks)
  if cfg.type ~= "hvm" then return true end
  if cfg.dm_restrict then
    if xen.host() ~= "xen" then
      return nil, config.where(cfg, "dm_restrict") .. "dm_restrict: the simulated host cannot deprivilege a device model " ..
        "(-xen-domid-restrict restricts Xen handles it does not have); run on Xen"
    end
    local ok, rerr = M.runas(cfg)
    if not ok then return nil, rerr end
  end
  if cfg.kernel then
    -- tried in the lab: QEMU took -kernel/-initrd, but SeaBIOS found no
    -- linuxboot option ROM under xenfv and fell through to "No bootable device"
    return nil, config.where(cfg, "kernel") .. "kernel: direct kernel boot of an HVM guest is not supported by luxen yet; boot it from a disk"
  end
  if cfg.viridian then return nil, cfg.source .. ": viridian: Hyper-V enlightenments are not supported by luxen yet" end
  if cfg.sdl then return nil, cfg.source .. ": sdl: an SDL window needs a display; luxen's device models have none (use vnc)" end
  local fw = cfg.firmware_override or M.HVMLOADER
  if xen.host() == "xen" then
    local ok, err = luxen.stat(fw)
    if not ok then return nil, cfg.source .. ": HVM firmware " .. fw .. ": " .. tostring(err) .. " (install xen-utils-4.17 or set firmware_override)" end
    local bios = M.BIOS[cfg.bios or "seabios"]
    ok, err = luxen.stat(bios)
    if not ok then return nil, cfg.source .. ": BIOS " .. bios .. ": " .. tostring(err) .. " (install seabios)" end
    local qemu = cfg.device_model_override or M.QEMU_XEN
    ok, err = luxen.stat(qemu)
    if not ok then return nil, cfg.source .. ": device model " .. qemu .. ": " .. tostring(err) .. " (install qemu-system-xen)" end
  elseif not cfg.device_model_override then
    return nil, cfg.source .. ": type = \"hvm\": the simulated host cannot run Xen's device model " ..
      "(qemu-system-xen needs a real Xen); set device_model_override to a qemu-system-x86_64 for a QMP-only QEMU, or run on Xen"
  end
  local seen = {}
  for _, d in ipairs(disks or {}) do
    local v = d.fields.vdev
    if not v:match("^hd[a-d]$") then
      return nil, string.format("%s: disk %s: an emulated %s must be hda, hdb, hdc or hdd on the IDE bus",
        cfg.source, v, d.fields.devtype == "cdrom" and "CD-ROM" or "disk")
    end
    if seen[v] then return nil, cfg.source .. ": disk " .. v .. " is given twice" end
    seen[v] = true
  end
  local kind, vram = M.vga(cfg)
  if vram >= cfg.memory then
    return nil, string.format("%smemory: %d MiB leaves nothing beside %d MiB of %s video memory", config.where(cfg, "memory"), cfg.memory, vram, kind)
  end
  return true
end

--- args(domid, cfg, disks) -> QEMU arguments. On the simulated host: a plain
-- QEMU with the CD-ROM drives; on Xen: libxl's command line for qemu-xen.
function M.args(domid, cfg, disks)
  local a = {}
  local function add(...) for _, x in ipairs({ ... }) do a[#a + 1] = x end end
  if xen.host() ~= "xen" or cfg.type ~= "hvm" then
    add("-accel", "tcg", "-M", "pc", "-S", "-nodefaults", "-display", "none")
    for _, vdev in ipairs(cfg.cdrom or {}) do
      add("-drive", "if=none,id=" .. vdev .. ",media=cdrom,readonly=on", "-device", "ide-cd,drive=" .. vdev .. ",id=" .. vdev)
    end
  else
    local kind, vram = M.vga(cfg)
    add("-xen-domid", tostring(domid), "-no-shutdown", "-nodefaults", "-no-user-config", "-name", cfg.name)
    if cfg.dm_restrict then
      add("-S", "-xen-domid-restrict", "-chroot", M.chroot_dir(domid), "-runas", assert(M.runas(cfg, domid)))
    end
    if cfg.vnc then
      add("-vnc", (cfg.vnclisten or "127.0.0.1") .. ":0,to=99")
    else
      add("-vnc", "none")
    end
    add("-display", "none", "-serial", cfg.serial or "none", "-boot", "order=" .. (cfg.boot or "cda"))
    add("-smp", string.format("%d,maxcpus=%d", cfg.vcpus, cfg.maxvcpus), "-net", "none")
    if kind == "stdvga" then add("-device", "VGA,vgamem_mb=" .. vram)
    elseif kind == "cirrus" then add("-device", "cirrus-vga,vgamem_mb=" .. vram) end
    add("-machine", "xenfv,suppress-vmdesc=on", "-m", tostring(cfg.maxmem - vram))
    for _, d in ipairs(disks or {}) do
      local f, v = d.fields, d.fields.vdev
      if f.devtype == "cdrom" then
        -- empty at start: the medium goes in through add-fd (see start)
        add("-drive", "if=none,readonly=on,id=" .. v, "-device",
          string.format("ide-cd,id=%s,drive=%s,bus=ide.%d,unit=%d", v, v, math.floor(ide_index(v) / 2), ide_index(v) % 2))
      else
        add("-drive", string.format("file=%s,if=ide,index=%d,media=disk,format=%s,cache=writeback%s",
          f.target, ide_index(v), f.format, (f.access == "r" or f.access == "ro") and ",readonly=on" or ""))
      end
    end
  end
  for _, x in ipairs(cfg.device_model_args or {}) do a[#a + 1] = x end
  return a
end

--- xenstore_nodes(domid, cfg) -> { {path, value [, perms]} }: what hvmloader
-- and QEMU read (libxl__spawn_local_dm, libxl_create.c's platform nodes)
function M.xenstore_nodes(domid, cfg)
  if xen.host() ~= "xen" or cfg.type ~= "hvm" then return {} end
  local dp = domain.path(domid)
  local n = {
    { dp .. "/hvmloader", "", { "n0", "r" .. domid } },
    { dp .. "/hvmloader/bios", cfg.bios or "seabios" },
    { dp .. "/hvmloader/allow-memory-relocate", "0" },
    { dp .. "/platform", "", { "n0", "r" .. domid } },
    { dp .. "/platform/device-model", "qemu_xen" },
    { dp .. "/platform/acpi", cfg.acpi and "1" or "0" },
    { dp .. "/platform/acpi_s3", "0" }, { dp .. "/platform/acpi_s4", "0" },
    { dp .. "/platform/acpi_laptop_slate", "0" },
    { M.xs_path(domid), "", { "n0", "r" .. domid } },
    { "/libxl/" .. domid .. "/dm-version", "qemu_xen", { "n0" } },
  }
  return n
end

-- wait_running(domid, timeout): QEMU writes state = running once its
-- machine is up (xenstore_record_dm_state); a watch says when.
local function wait_running(domid, pid, timeout)
  local path = M.xs_path(domid) .. "/state"
  local w, werr = xs.watch(path)
  if not w then return nil, werr end
  local deadline = time.monotonic() + timeout
  while true do
    local v = xs.read(path)
    if v == "running" then w:close(); return true end
    if not luxen.stat("/proc/" .. pid) then w:close(); return nil, "QEMU exited before it was running" end
    local left = deadline - time.monotonic()
    if left <= 0 then w:close(); return nil, string.format("QEMU did not write %s = running within %ds (it says %q)", path, timeout, tostring(v)) end
    w:wait(math.min(left, 1))
  end
end

--- start(domid, cfg, disks [, media]) -> {pid, socket, media, log} | nil, err
-- media is a restarted guest's record of its CD-ROMs ({[vdev] = {target=}}):
-- each drive gets the medium it last had (cd-insert, cd-eject) rather than
-- its config's, as libxl keeps a changed medium in its stored config. A
-- medium the record is unsure of (pending, unknown) is the config's again.
function M.start(domid, cfg, disks, media)
  local ok, err = M.check(cfg, disks)
  if not ok then return nil, err end
  local sock = M.socket(domid)
  local xenhvm = xen.host() == "xen" and cfg.type == "hvm"
  local bin = cfg.device_model_override or M.QEMU_XEN
  local logfile = xenhvm and M.log_path(cfg.name) or nil
  local restrict = xenhvm and cfg.dm_restrict
  local opts = nil
  if restrict then
    local root = M.chroot_dir(domid)
    os.remove(root) -- an empty one left by a QEMU killed with its host
    local mok, merr = luxen.state_mkdir(root:sub(#luxen.state_dir + 2))
    if not mok then return nil, "device model: chroot " .. root .. ": " .. tostring(merr) end
    opts = { pass_socket = true, rlimits = M.RESTRICT_RLIMITS }
  end
  local pid, perr = qmp.start_qemu(bin, sock, M.args(domid, cfg, disks), M.START_TIMEOUT, logfile, opts)
  if not pid then
    if restrict then os.remove(M.chroot_dir(domid)) end
    return nil, "device model: " .. tostring(perr)
  end
  local dm = { pid = pid, socket = sock, media = {}, log = logfile, root = restrict and M.chroot_dir(domid) or nil }
  local function fail(e) M.stop(dm); return nil, "device model: " .. e end
  if restrict then
    -- paused (-S) and cut off from xenstore: ready is what QMP says
    local m, merr = qmp.connect(sock, M.COMMAND_TIMEOUT)
    if not m then return fail(tostring(merr)) end
    local st, c, d = m:execute("query-status", nil, M.COMMAND_TIMEOUT)
    m:close()
    if not st then return fail(string.format("query-status: %s: %s", tostring(c), tostring(d))) end
    if st.status ~= "prelaunch" then return fail("QEMU is " .. tostring(st.status) .. ", not waiting to start (prelaunch)") end
    dm.paused = true
    xs.write(domain.path(domid) .. "/image/device-model-pid", tostring(pid))
  elseif xenhvm then
    local rok, rerr = wait_running(domid, pid, M.START_TIMEOUT)
    if not rok then return fail(rerr .. (logfile and (" (see " .. logfile .. ")") or "")) end
    xs.write(domain.path(domid) .. "/image/device-model-pid", tostring(pid))
  end
  local want = {}
  for _, vdev in ipairs(cfg.cdrom or {}) do dm.media[vdev] = { target = "" }; want[vdev] = "" end
  for _, d in ipairs(disks or {}) do
    if d.fields.devtype == "cdrom" then
      dm.media[d.fields.vdev] = { target = "" }
      want[d.fields.vdev] = d.fields.target or ""
    end
  end
  for vdev, m in pairs(media or {}) do
    if want[vdev] and not m.pending and not m.unknown then want[vdev] = m.target or "" end
  end
  -- initial media: by descriptor, as every later insert (no record yet: the
  -- create's rollback stops this QEMU on any failure). A remembered medium
  -- that has gone since is left out, with a warning, rather than keeping the
  -- guest from coming back; the config's own is checked before the create.
  local vdevs = {}
  for vdev, target in pairs(want) do if target ~= "" then vdevs[#vdevs + 1] = vdev end end
  table.sort(vdevs)
  for _, vdev in ipairs(vdevs) do
    local target = want[vdev]
    local remembered = media and media[vdev] and media[vdev].target == target
    if remembered and not luxen.stat(target) then
      log.domain(cfg.name).warn("CD-ROM %s: its last medium %s is gone; the drive starts empty", vdev, target)
    else
      local m, merr = qmp.connect(sock, M.COMMAND_TIMEOUT)
      if not m then return fail(tostring(merr)) end
      local iok, class, desc = M.insert(m, vdev, target)
      m:close()
      if not iok then return fail(string.format("CD-ROM %s: %s: %s", vdev, tostring(class), tostring(desc))) end
      dm.media[vdev] = { target = target }
    end
  end
  return dm
end

--- insert(monitor, vdev, file) -> true | nil, class, desc: file goes in by
-- descriptor (add-fd, then blockdev-change-medium on /dev/fdset/N): two
-- round trips, the same as libxl's after its eject
function M.insert(m, vdev, file)
  local fd, class, desc = m:add_fd(file, M.COMMAND_TIMEOUT)
  if not fd then return nil, class, desc end
  luxen.crashpoint("cd:add-fd")
  return m:execute("blockdev-change-medium", { id = vdev, filename = "/dev/fdset/" .. fd.fdset_id, format = "raw",
    ["read-only-mode"] = "read-only" }, M.COMMAND_TIMEOUT)
end

--- resume(dm) -> true | nil, err: a device model started paused (-S)
-- starts emulating (QMP cont); before the guest's first instruction, since
-- QEMU turns its ioreq server on only then. Others need nothing.
function M.resume(dm)
  if not dm or not dm.paused then return true end
  local m, merr = qmp.connect(dm.socket, M.COMMAND_TIMEOUT)
  if not m then return nil, "device model: " .. tostring(merr) end
  local ok, c, d = m:execute("cont", nil, M.COMMAND_TIMEOUT)
  m:close()
  if not ok then return nil, string.format("device model: cont: %s: %s", tostring(c), tostring(d)) end
  dm.paused = nil
  return true
end

--- stop(dm) -> killed
function M.stop(dm)
  if not dm then return false end
  local killed, err = qmp.kill_qemu(dm.pid, dm.socket)
  if dm.root then os.remove(dm.root) end -- empty: QEMU could write nothing there
  return killed, err
end

-- the domain's slow and fast locks (shared with the device engine)
function M.locks(name) return domainlocks.get(name) end

--- media(monitor) -> { [vdev] = file or "" } as QEMU reports it (query-block)
function M.media(m)
  local blocks, class, desc = m:execute("query-block", nil, M.COMMAND_TIMEOUT)
  if not blocks then return nil, tostring(class) .. ": " .. tostring(desc) end
  local out, fdsets = {}, nil
  for _, b in ipairs(blocks) do
    local vdev = (b.qdev or ""):match("([^/]+)$") or b.device
    local file = b.inserted and b.inserted.file or ""
    local set = file:match("^/dev/fdset/(%d+)$")
    if set then
      -- a medium passed by descriptor: its add-fd opaque names the file
      if not fdsets then
        local sets, c2, d2 = m:execute("query-fdsets", nil, M.COMMAND_TIMEOUT)
        if not sets then return nil, tostring(c2) .. ": " .. tostring(d2) end
        fdsets = {}
        for _, fs in ipairs(sets) do
          for _, fd in ipairs(fs.fds or {}) do
            if fd.opaque then fdsets[tostring(fs["fdset-id"])] = fd.opaque:gsub("^raw:", "") end
          end
        end
      end
      file = fdsets[set] or file
    end
    out[vdev] = file
  end
  return out
end

-- change(target, vdev, file): insert file ("" ejects) in the two phases.
local function change(target, vdev, file)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local name = domain.name(domid) or tostring(domid)
  local uuid = records.uuid_of(domid)
  local rec = uuid and records.get(uuid)
  if not rec or not rec.dm then return nil, "domain " .. name .. " has no device model" end
  if not rec.dm.media[vdev] then
    local names = {}
    for k in pairs(rec.dm.media) do names[#names + 1] = k end
    table.sort(names)
    return nil, string.format("domain %s has no CD-ROM drive %s (it has: %s)", name, vdev, table.concat(names, ", "))
  end
  if file ~= "" then
    local ok, ferr = luxen.stat(file)
    if not ok then return nil, "cd-insert: " .. file .. ": " .. tostring(ferr) end
  end
  local dlog = log.domain(name)
  local slow, fast = M.locks(name)
  return sync.with(slow, function()
    local function update(fn)
      return sync.with(fast, function()
        local r = assert(records.get(uuid), "record vanished")
        fn(r)
        assert(records.save(r))
      end)
    end
    -- phase 1: the record says what we are about to do
    update(function(r) r.dm.media[vdev] = { target = r.dm.media[vdev].target, pending = file } end)
    luxen.crashpoint("cd:intent")
    local m, merr = qmp.connect(rec.dm.socket, M.COMMAND_TIMEOUT)
    local ok, class, desc
    if m then
      if file == "" then
        ok, class, desc = m:execute("eject", { id = vdev, force = true }, M.COMMAND_TIMEOUT)
      else
        ok, class, desc = M.insert(m, vdev, file)
      end
    else
      class, desc = "unreachable", merr
    end
    luxen.crashpoint("cd:qemu")
    -- phase 2: the record says what QEMU actually has
    local actual, qerr
    if m then actual, qerr = M.media(m); m:close() end
    update(function(r)
      if actual then
        r.dm.media[vdev] = { target = actual[vdev] or "" }
      else
        r.dm.media[vdev] = { target = r.dm.media[vdev].target, unknown = "device model unreachable: " .. tostring(qerr or desc) }
      end
    end)
    if not ok then
      dlog.warn("%s %s: %s: %s", file == "" and "cd-eject" or "cd-insert", vdev, tostring(class), tostring(desc))
      return nil, string.format("%s %s: %s: %s", file == "" and "cd-eject" or "cd-insert", vdev, tostring(class), tostring(desc))
    end
    dlog.info("%s %s %s", file == "" and "ejected" or "inserted", vdev, file)
    return true
  end)
end

--- settle(rec) -> changed, err: after a CD-ROM change was cut short (its
-- maker killed between the two phases), the record takes what QEMU has,
-- and descriptor sets no drive uses (an add-fd whose change never came)
-- are given back. For reconcile; nil, err when QEMU does not answer.
function M.settle(rec)
  local stale = false
  for _, e in pairs(rec.dm.media or {}) do
    if e.pending ~= nil or e.unknown ~= nil then stale = true end
  end
  if not stale then return false end
  local m, merr = qmp.connect(rec.dm.socket, M.COMMAND_TIMEOUT)
  if not m then return nil, tostring(merr) end
  local actual, aerr = M.media(m)
  if not actual then m:close(); return nil, aerr end
  local blocks = m:execute("query-block", nil, M.COMMAND_TIMEOUT) or {}
  local sets = m:execute("query-fdsets", nil, M.COMMAND_TIMEOUT) or {}
  local used = {}
  for _, b in ipairs(blocks) do
    local n = (b.inserted and b.inserted.file or ""):match("^/dev/fdset/(%d+)$")
    if n then used[n] = true end
  end
  for _, fs in ipairs(sets) do
    if not used[tostring(fs["fdset-id"])] then m:execute("remove-fd", { ["fdset-id"] = fs["fdset-id"] }, M.COMMAND_TIMEOUT) end
  end
  m:close()
  local _, fast = M.locks(rec.name)
  return sync.with(fast, function()
    local r = records.get(rec.uuid)
    if not r or not r.dm then return false end
    for vdev in pairs(r.dm.media) do r.dm.media[vdev] = { target = actual[vdev] or "" } end
    local ok, serr = records.save(r)
    if not ok then return nil, serr end
    rec.dm = r.dm
    return true
  end)
end

function M.cd_insert(target, vdev, file) return change(target, vdev, file) end
function M.cd_eject(target, vdev) return change(target, vdev, "") end

return M
