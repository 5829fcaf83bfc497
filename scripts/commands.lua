--- commands: what the `luxen` CLI subcommands do, as Lua. The Go CLI parses
--- arguments and calls these; their output is the CLI's output.
local xen = require("xen")
local log = require("log")
local json = require("json")
local domain = require("domain")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")

local M = {}

-- how long `luxen create` waits for a running guest's devices to connect
M.CONNECT_TIMEOUT = 30

--- unconnected(domid, timeout) -> { "vbd 51712 (xvda): frontend 1, backend 2", ... }
-- waits until every device of the domain is Connected at both ends, or the
-- timeout passes, and names the ones that are not. A frontend that gave up
-- (Closing or Closed: Linux's xenbus_dev_fatal, e.g. the guest's xenstore
-- quota spent) is not waited for, and its reason is quoted.
function M.unconnected(domid, timeout)
  local devices, xs, time = require("devices"), require("xenstore"), require("time")
  local S = devices.STATE
  local deadline = time.monotonic() + timeout
  local w = xs.watch(domain.path(domid) .. "/device")
  local function check()
    local out, waiting = {}, false
    for _, class in ipairs(devices.CLASSES) do
      for _, d in ipairs(devices.list(domid, class)) do
        if d.state ~= S.Connected or d.backend_state ~= S.Connected then
          local failed = d.state == S.Closing or d.state == S.Closed
          waiting = waiting or not failed
          local why = failed and xs.read(domain.path(domid) .. "/error/device/" .. class .. "/" .. d.devid .. "/error")
          out[#out + 1] = string.format("%s %d%s: frontend %d, backend %d%s", class, d.devid,
            d.vdev and (" (" .. d.vdev .. ")") or "", d.state, d.backend_state,
            failed and (", failed: " .. (why or "the guest closed it")) or "")
        end
      end
    end
    return out, waiting
  end
  local left, waiting = check()
  while waiting and time.monotonic() < deadline do
    if w then w:wait(math.min(0.5, deadline - time.monotonic())) else require("task").sleep(0.05) end
    left, waiting = check()
  end
  if w then w:close() end
  return left
end

--- dry_create(path, overrides): create -n, the config as create would use
--- it, as JSON; nothing is made
function M.dry_create(path, overrides)
  local cfg, err = require("config").load(path, overrides)
  if not cfg then return nil, err end
  local out = {}
  for k, v in pairs(cfg) do
    if k ~= "lines" and k ~= "origins" then out[k] = v end
  end
  print(json.encode(out, true))
  return true
end

function M.create(path, overrides, paused, quiet)
  local domid, err = lifecycle.create(path, { overrides = overrides, paused = paused })
  if not domid then return nil, err end
  local name = domain.name(domid) or "?"
  -- a device the guest never connects is reported, not hidden behind "created"
  local left = paused and {} or M.unconnected(domid, M.CONNECT_TIMEOUT)
  if #left > 0 then
    return nil, string.format("created %s (domid %d), but %d device(s) did not connect within %ds " ..
      "(XenbusState %d is connected): %s. The domain is running; check the guest's drivers and " ..
      "its xenstore quota (a guest owns its devices' nodes), or destroy it",
      name, domid, #left, M.CONNECT_TIMEOUT, require("devices").STATE.Connected, table.concat(left, "; "))
  end
  if quiet then return domid end
  print(string.format("created %s (domid %d)%s", name, domid, paused and ", paused" or ""))
  if require("luxen").host ~= "sim" and not supervisor.running() then
    io.stderr:write("note: no supervisor runs on this host (--no-supervisor): `luxen shutdown` and `luxen reboot`\n" ..
      "apply the restart policy themselves, but a poweroff, reboot or crash started inside the guest is\n" ..
      "not acted on until `luxen supervise` runs\n")
  end
  return domid
end

function M.destroy(target)
  return lifecycle.destroy(target)
end

-- Without a supervisor, the command that asked for the shutdown waits for it
-- and applies the restart policy itself, as xl's per-domain daemon would.
local function apply_policy_here(domid, target, timeout)
  local info, err = domain.wait_shutdown(domid, timeout)
  if not info then
    if err == "gone" then return true end
    return nil, string.format("domain %s did not shut down within %ss", tostring(target), tostring(timeout))
  end
  local action, perr = require("policies.restart").handle(domid)
  if not action then return nil, perr end
  return action
end

--- shutdown_all(wait, reason, timeout, force): xl shutdown -a, every
--- domain but dom0 at once, each as shutdown does one; the failures named
--- together
function M.shutdown_all(wait, reason, timeout, force)
  local doms, e, d = domain.list()
  if not doms then return failed(e, d) end
  local task = require("task")
  local tasks, names = {}, {}
  for _, dm in ipairs(doms) do
    if dm.domid ~= 0 and not dm.info.shutdown and not dm.info.dying then
      names[#names + 1] = dm.name
      tasks[#tasks + 1] = task.spawn(function() return M.shutdown(tostring(dm.domid), wait, reason, timeout, force) end)
    end
  end
  local bad = {}
  for i, t in ipairs(tasks) do
    local ok, ok2, err = task.join(t)
    if not ok or not ok2 then bad[#bad + 1] = names[i] .. ": " .. tostring(ok and err or ok2) end
  end
  if #bad > 0 then return nil, table.concat(bad, "; ") end
  return true
end

-- shutdown_wait: what shutdown waits for once the guest was asked
local function shutdown_wait(domid, target, wait, reason, timeout)
  if supervisor.running() then
    if wait then
      local ok, werr
      if reason == "reboot" then
        ok, werr = domain.wait_shutdown(domid, timeout)
        if ok or werr == "gone" then ok = true end
      else
        ok, werr = domain.wait_gone(domid, timeout)
      end
      if werr == "timeout" then
        return nil, string.format("domain %s did not %s within %ss", tostring(target), reason == "reboot" and "reboot" or "shut down", tostring(timeout))
      end
      if not ok then return nil, "waiting for " .. tostring(target) .. ": " .. tostring(werr) end
    end
    return true
  end
  local action, perr = apply_policy_here(domid, target, timeout)
  if not action then return nil, perr end
  return true
end

--- shutdown(target, wait, reason, timeout, force): xl shutdown/reboot; force
--- is -F (an HVM guest without PV drivers gets an ACPI button press)
function M.shutdown(target, wait, reason, timeout, force)
  timeout = timeout or lifecycle.SHUTDOWN_TIMEOUT
  local domid, err = lifecycle.shutdown(target, { reason = reason, wait = false, force = force })
  if not domid then return nil, err end
  local luxen = require("luxen")
  luxen.progress(string.format("waiting for %s to %s", tostring(target), reason == "reboot" and "reboot" or "shut down"))
  local ok, werr = shutdown_wait(domid, target, wait, reason, timeout)
  luxen.progress("")
  return ok, werr
end

-- block-attach NAME SPEC ; network-attach NAME [SPEC...]
-- libxl's copy of a domain's config follows its devices (xl list -l shows
-- hot-plugged ones, xl save carries them); the device is there either way,
-- so a copy that cannot be written is a warning
local function refresh_libxl(domid)
  local rec = require("records").of_domain(domid)
  if not rec then return end
  local ok, err = require("libxlcfg").store(domid, rec)
  if not ok then require("log").warn("domid %d: %s", domid, tostring(err)) end
end

function M.attach(class, target, spec)
  local devices = require("devices")
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local f, perr = devices.parse(class, spec, devices.class(class).config_key)
  if not f then return nil, perr end
  local devid, aerr = devices.attach(domid, class, f)
  if not devid then return nil, aerr end
  refresh_libxl(domid)
  print(string.format("%s %d attached to %s", class, devid, target))
  return devid
end

-- the device a user names: a devid, a vdev (vbd) or a MAC (vif)
local function devid_of(domid, class, which)
  local devices = require("devices")
  local devid = tonumber(which)
  if devid then return devid end
  for _, d in ipairs(devices.list(domid, class)) do
    if d.vdev == which or d.mac == which then return d.devid end
  end
  if class == "vbd" then return devices.vdev_devid(which) end
end

-- block-detach NAME VDEV|DEVID ; network-detach NAME DEVID|MAC
function M.detach(class, target, which, force)
  local devices = require("devices")
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local devid = devid_of(domid, class, which)
  if not devid then return nil, string.format("%s has no %s %s", target, class, which) end
  local ok, derr = devices.detach(domid, class, devid, { force = force })
  if ok then refresh_libxl(domid) end
  return ok, derr
end

-- block-move NAME VDEV BACKEND ; network-move NAME DEVID|MAC BACKEND
function M.move(class, target, which, backend)
  local devices = require("devices")
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local devid = devid_of(domid, class, which)
  if not devid then return nil, string.format("%s has no %s %s", target, class, which) end
  local ok, merr = devices.move(domid, class, devid, backend)
  if not ok then return nil, merr end
  refresh_libxl(domid)
  print(string.format("%s %d of %s now served by %s", class, devid, target, backend))
  return true
end

-- connections [NAME]: every recorded device, the backend its configuration
-- names (held by dom0, in the domain's record), its fallback, the backend
-- serving it now and its state
function M.connections(target)
  local devices = require("devices")
  local want
  if target then
    local domid, err = domain.find(target)
    if not domid then return nil, err end
    want = domid
  end
  print(string.format("%-16s %-5s %-18s %-16s %-16s %-16s %s", "Domain", "Class", "Device", "Backend", "Fallback",
    "Serving", "State"))
  local recs = require("records").list()
  table.sort(recs, function(a, b) return tostring(a.name) < tostring(b.name) end)
  for _, rec in ipairs(recs) do
    if not want or rec.domid == want then
      local entries, listed = {}, {} -- listed: class -> its devices in xenstore, read once a domain
      for _, e in pairs(rec.devices or {}) do entries[#entries + 1] = e end
      table.sort(entries, function(a, b) return a.class .. a.devid < b.class .. b.devid end)
      for _, e in ipairs(entries) do
        local f = e.fields or {}
        local state, serving = "disconnected: " .. tostring(e.disconnected), "-"
        if not e.disconnected then
          serving = e.active or f.backend or "Domain-0"
          state = "not in xenstore"
          listed[e.class] = listed[e.class] or devices.list(rec.domid, e.class)
          for _, d in ipairs(listed[e.class]) do
            if d.devid == e.devid then
              local up = devices.STATE.Connected
              state = (d.state == up and d.backend_state == up) and "connected"
                or string.format("connecting (%d/%d)", d.state, d.backend_state)
            end
          end
        end
        print(string.format("%-16s %-5s %-18s %-16s %-16s %-16s %s", rec.name, e.class, f.vdev or f.mac or tostring(e.devid),
          f.backend or "Domain-0", f.fallback or "-", serving, state))
      end
    end
  end
  return true
end

function M.devlist(class, target)
  local devices = require("devices")
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if class == "vbd" then
    print(string.format("%-8s %-6s %-6s %-5s %-5s %s", "Vdev", "BE", "DevID", "State", "BE-st", "Target"))
    for _, d in ipairs(devices.list(domid, class)) do
      print(string.format("%-8s %-6d %-6d %-5d %-5d %s", d.vdev or "?", d.backend_id or 0, d.devid, d.state, d.backend_state, d.target or ""))
    end
  else
    print(string.format("%-6s %-6s %-18s %-5s %-5s %s", "Idx", "BE", "Mac Addr.", "State", "BE-st", "Bridge"))
    for _, d in ipairs(devices.list(domid, class)) do
      print(string.format("%-6d %-6d %-18s %-5d %-5d %s", d.devid, d.backend_id or 0, d.mac or "", d.state, d.backend_state, d.bridge or ""))
    end
  end
  return true
end

function M.cd_insert(target, vdev, file) return require("devicemodel").cd_insert(target, vdev, file) end
function M.cd_eject(target, vdev) return require("devicemodel").cd_eject(target, vdev) end

function M.reconcile()
  local acted = require("reconcile").run()
  for _, a in ipairs(acted) do print(a) end
  if #acted == 0 then print("nothing to reconcile") end
  return true
end

function M.pause(target) return lifecycle.pause(target) end
function M.unpause(target) return lifecycle.unpause(target) end

function M.list(as_json, names, verbose, long)
  local doms, err, detail = domain.list()
  if not doms then return nil, tostring(err) .. (detail and (": " .. detail) or "") end
  if names and #names > 0 then
    local want, out = {}, {}
    for _, n in ipairs(names) do
      local id, ferr = domain.find(n)
      if not id then return nil, ferr end
      want[id] = true
    end
    for _, d in ipairs(doms) do if want[d.domid] then out[#out + 1] = d end end
    doms = out
  end
  if long then
    print(json.encode(require("libxlcfg").list_long(doms), true))
  elseif as_json then
    local rows = {}
    for _, d in ipairs(doms) do
      rows[#rows + 1] = { domid = d.domid, name = d.name, uuid = d.uuid, state = d.state,
        memory_mib = d.mem_mib, vcpus = d.vcpus, cpu_time = d.cpu_time,
        shutdown_reason = d.info.shutdown_reason or json.null }
    end
    print(json.encode(rows, true))
  else
    print(domain.format_list(doms, verbose))
  end
  return true
end

function M.info()
  local pi, err, detail = xen.physinfo()
  if not pi then return nil, tostring(err) .. ": " .. tostring(detail) end
  local hi, herr, hdetail = xen.host_info()
  if not hi then return nil, tostring(herr) .. ": " .. tostring(hdetail) end
  local ver = xen.version()
  local luxen = require("luxen")
  local un = luxen.uname or {}
  local mb = function(pages) return math.floor(pages * hi.pagesize / 1048576) end
  -- xl's virt_caps: directio is named for the guest types it serves
  local has, caps = {}, {}
  for _, c in ipairs(pi.capabilities) do has[c] = true end
  for _, c in ipairs({ "pv", "hvm", "hvm_directio", "pv_directio", "hap", "shadow", "iommu_hap_pt_share",
                       "vmtrace", "vpmu", "gnttab-v1", "gnttab-v2" }) do
    local base = c:match("^(%a+)_directio$")
    if (base and has.directio and has[base]) or has[c] then caps[#caps + 1] = " " .. c end
  end
  local major, minor, extra = ver:match("^(%d+)%.(%d+)(.*)$")
  -- xl info's fields, in its order, then luxen's own
  local rows = {
    { "host", un.nodename }, { "release", un.release }, { "version", un.version }, { "machine", un.machine },
    { "nr_cpus", pi.nr_cpus }, { "max_cpu_id", pi.max_cpu_id }, { "nr_nodes", pi.nr_nodes },
    { "cores_per_socket", pi.cores_per_socket }, { "threads_per_core", pi.threads_per_core },
    { "cpu_mhz", string.format("%d.%03d", math.floor(pi.cpu_khz / 1000), pi.cpu_khz % 1000) },
    { "hw_caps", pi.hw_caps }, { "virt_caps", table.concat(caps), raw = true },
    { "total_memory", math.floor(pi.total_kb / 1024) }, { "free_memory", math.floor(pi.free_kb / 1024) },
    { "sharing_freed_memory", mb(hi.sharing_freed_pages) }, { "sharing_used_memory", mb(hi.sharing_shared_pages) },
    { "outstanding_claims", math.floor(pi.outstanding_kb / 1024) }, { "free_cpus", hi.free_cpus },
    { "xen_major", major }, { "xen_minor", minor }, { "xen_extra", extra }, { "xen_version", ver },
    { "xen_caps", hi.capabilities }, { "xen_scheduler", hi.scheduler }, { "xen_pagesize", hi.pagesize },
    { "platform_params", "virt_start=" .. hi.virt_start },
    { "xen_changeset", hi.changeset }, { "xen_commandline", hi.commandline },
    { "cc_compiler", hi.compiler }, { "cc_compile_by", hi.compile_by },
    { "cc_compile_domain", hi.compile_domain }, { "cc_compile_date", hi.compile_date },
    { "build_id", hi.build_id }, { "xend_config_format", 4 },
    { "luxen_version", luxen.version }, { "luxen_host", luxen.host },
    { "state_dir", luxen.state_dir }, { "log_dir", log.dir() },
  }
  local sup = supervisor.running()
  rows[#rows + 1] = { "supervisor", sup and string.format("pid %d (uid %s) since %s%s", sup.pid, tostring(sup.uid),
    tostring(sup.since), sup.socket ~= "" and (", socket " .. sup.socket) or "") or "none" }
  for _, r in ipairs(rows) do
    -- "%-23s: value", as xl; virt_caps brings its own leading spaces
    print(string.format("%-23s:%s%s", r[1], r.raw and "" or " ", tostring(r[2] or "")))
  end
  return true
end

-- xl's print_bitmap: "all" for every CPU of the host, else ranges "0-1,3"
local function cpuset(l, nr)
  if #l >= nr then
    local all = true
    for i = 0, nr - 1 do if l[i + 1] ~= i then all = false end end
    if all then return "all" end
  end
  local parts, i = {}, 1
  while i <= #l do
    local j = i
    while l[j + 1] == l[j] + 1 do j = j + 1 end
    parts[#parts + 1] = j > i and (l[i] .. "-" .. l[j]) or tostring(l[i])
    i = j + 1
  end
  return #parts > 0 and table.concat(parts, ",") or "none"
end

local function failed(e, d) return nil, tostring(e) .. (d and (": " .. d) or "") end

--- vcpu_list(names): xl vcpu-list's table, every domain's vCPUs or the named ones'
function M.vcpu_list(names)
  local pi, e, d = xen.physinfo()
  if not pi then return failed(e, d) end
  local doms
  doms, e, d = domain.list()
  if not doms then return failed(e, d) end
  if names and #names > 0 then
    local want, out = {}, {}
    for _, n in ipairs(names) do
      local id, ferr = domain.find(n)
      if not id then return nil, ferr end
      want[id] = true
    end
    for _, dm in ipairs(doms) do if want[dm.domid] then out[#out + 1] = dm end end
    doms = out
  end
  print(string.format("%-32s %5s %5s %5s %5s %9s %s", "Name", "ID", "VCPU", "CPU", "State", "Time(s)", "Affinity (Hard / Soft)"))
  for _, dm in ipairs(doms) do
    for v = 0, dm.info.max_vcpu_id do
      local vi = xen.vcpu_info(dm.domid, v)
      local aff = xen.vcpu_affinity(dm.domid, v)
      if vi and aff then -- a domain going away mid-listing is left out, as xl does
        print(string.format("%-32s %5d %5d %5s %5s%s%s  %9.1f  %s / %s", dm.name, dm.domid, v,
          vi.online and tostring(vi.cpu) or "-", vi.running and "r" or "-", vi.blocked and "b" or "-",
          vi.online and "-" or "p", vi.cpu_time, cpuset(aff.hard, pi.nr_cpus), cpuset(aff.soft, pi.nr_cpus)))
      end
    end
  end
  return true
end

--- vcpu_pin(target, vcpu, hard, soft): xl vcpu-pin. vcpu is a number or
--- "all"; hard and soft are xl CPU lists, "-" (or soft left out) for "as it is".
--- Not kept across a restart: the config's cpus is, as with xl.
function M.vcpu_pin(target, vcpu, hard, soft)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local info, e, d = xen.info(domid)
  if not info then return failed(e, d) end
  local schema = require("schema")
  local function list(what, s)
    if s == nil or s == "-" then return nil end
    local l, perr = schema.cpus(s)
    if not l then error(what .. ": " .. perr, 0) end
    return l
  end
  local ok, h, s = pcall(function() return list("hard affinity", hard), list("soft affinity", soft) end)
  if not ok then return nil, h end
  if not h and not s then return nil, "nothing to pin: give a hard or a soft CPU list" end
  local first, last = tonumber(vcpu), tonumber(vcpu)
  if vcpu == "all" then
    first, last = 0, info.max_vcpu_id
  elseif not first or first ~= math.floor(first) or first < 0 then
    return nil, string.format("vcpu %q: expected a number or all", tostring(vcpu))
  elseif first > info.max_vcpu_id then
    return nil, string.format("vcpu %d: %s has vcpus 0-%d", first, target, info.max_vcpu_id)
  end
  local pi = xen.physinfo()
  for _, l in ipairs({ h or {}, s or {} }) do
    -- xl's "all" is every CPU there may be; beyond that a CPU the host lacks
    if #l > 0 and l[#l] >= pi.nr_cpus and #l ~= 1024 - l[1] then
      return nil, string.format("CPU %d does not exist (this host has %d, 0-%d)", l[#l], pi.nr_cpus, pi.nr_cpus - 1)
    end
  end
  for v = first, last do
    local set, se, sd = xen.set_vcpu_affinity(domid, { vcpu = v, hard = h, soft = s })
    if not set then return failed(string.format("vcpu %d: %s", v, tostring(se)), sd) end
  end
  return true
end

-- xl's uptime_to_string: "[N day(s), ]H:MM:SS", or without seconds (short)
local function uptime_string(secs, short)
  secs = math.floor(secs)
  local s, m, h, d = secs % 60, math.floor(secs / 60) % 60, math.floor(secs / 3600) % 24, math.floor(secs / 86400)
  local days = d > 0 and string.format("%d day%s, ", d, d == 1 and "" or "s") or ""
  if short then return days .. string.format("%2d:%02d", h, m) end
  return days .. string.format("%2d:%02d:%02d", h, m, s)
end

--- uptime(short, names): xl uptime: each domain's time since its start
--- (/vm/UUID/start_time, which libxl and luxen write); dom0's is the host's
--- on real Xen. A domain with no start time is left out, as xl does.
function M.uptime(short, names)
  local xs = require("xenstore")
  local doms, e, d = domain.list()
  if not doms then return failed(e, d) end
  if names and #names > 0 then
    local want, out = {}, {}
    for _, n in ipairs(names) do
      local id, ferr = domain.find(n)
      if not id then return nil, ferr end
      want[id] = true
    end
    for _, dm in ipairs(doms) do if want[dm.domid] then out[#out + 1] = dm end end
    doms = out
  end
  local now = require("time").now()
  if not short then print(string.format("%-33s %4s %s", "Name", "ID", "Uptime")) end
  for _, dm in ipairs(doms) do
    local up
    local vm = xs.read(domain.path(dm.domid) .. "/vm")
    local st = vm and tonumber(xs.read(vm .. "/start_time") or "")
    if st then
      up = math.max(0, now - st)
    elseif dm.domid == 0 and require("luxen").host == "xen" then
      local f = io.open("/proc/uptime")
      up = f and tonumber((f:read("*l") or ""):match("^[%d.]+"))
      if f then f:close() end
    end
    if up then
      if short then
        print(string.format(" %s up %s, %s (%d)", os.date("%H:%M:%S", math.floor(now)), uptime_string(up, true), dm.name, dm.domid))
      else
        print(string.format("%-33s %4d %s", dm.name, dm.domid, uptime_string(up)))
      end
    end
  end
  return true
end

--- dmesg(clear): xl dmesg, the hypervisor's console ring; -c empties it
function M.dmesg(clear)
  local text, e, d = xen.read_console(clear)
  if not text then return failed(e, d) end
  -- print, not io.write: a supervisor's request output goes where its
  -- task's prints go (back to the client)
  if text ~= "" then print((text:gsub("\n$", ""))) end
  return true
end

--- sched(which, target, weight, cap): xl sched-credit / sched-credit2. With
--- neither weight nor cap, lists the domains' (or target's) parameters;
--- otherwise sets them on target. which must be the host's scheduler.
function M.sched(which, target, weight, cap)
  local doms, e, d = domain.list()
  if not doms then return failed(e, d) end
  local want
  if target and target ~= "" then
    local id, ferr = domain.find(target)
    if not id then return nil, ferr end
    want = id
  end
  if weight or cap then
    if not want then return nil, "-w and -c need a domain (-d NAME)" end
    local cur, ge, gd = xen.sched_get(want)
    if not cur then return failed(ge, gd) end
    if cur.scheduler ~= which then
      return nil, string.format("the host's scheduler is %s: use sched-%s", cur.scheduler, cur.scheduler)
    end
    local ok, se, sd = xen.sched_set(want, { scheduler = which, weight = weight, cap = cap or cur.cap })
    if not ok then return failed(se, sd) end
    return true
  end
  local host, he, hd = xen.sched_get(want or 0)
  if not host then return failed(he, hd) end
  if host.scheduler ~= which then
    return nil, string.format("the host's scheduler is %s: use sched-%s", host.scheduler, host.scheduler)
  end
  print(string.format("%-33s %4s %6s %4s", "Name", "ID", "Weight", "Cap"))
  for _, dm in ipairs(doms) do
    if not want or dm.domid == want then
      local p, pe, pd = xen.sched_get(dm.domid)
      if not p then return failed(pe, pd) end
      if p.scheduler ~= which then
        return nil, string.format("the host's scheduler is %s: use sched-%s", p.scheduler, p.scheduler)
      end
      print(string.format("%-33s %4d %6d %4d", dm.name, dm.domid, p.weight, p.cap))
    end
  end
  return true
end

--- top_sample() -> { host = {total_kb, free_kb, nr_cpus, cpu_mhz, version}, doms = {...} }:
--- one sample for `luxen top` (xl top's xentop), which works out CPU % from two
function M.top_sample()
  local pi, err, detail = xen.physinfo()
  if not pi then return nil, tostring(err) .. ": " .. tostring(detail) end
  local doms, lerr, ldetail = domain.list()
  if not doms then return nil, tostring(lerr) .. ": " .. tostring(ldetail) end
  local out = {}
  for i, d in ipairs(doms) do
    out[i] = { name = d.name, domid = d.domid, state = d.state, cpu_time = d.cpu_time, vcpus = d.vcpus,
      mem_kb = d.info.memory_kb, maxmem_kb = (d.info.max_pages or 0) * 4,
      shutdown = d.info.shutdown or false, dying = d.info.dying or false, paused = d.info.paused or false,
      running = d.info.running or false, blocked = d.info.blocked or false,
      crashed = d.info.shutdown_reason == "crash" }
  end
  return { host = { total_kb = pi.total_kb, free_kb = pi.free_kb, nr_cpus = pi.nr_cpus, cpu_mhz = pi.cpu_mhz,
    version = xen.version() }, doms = out }
end

--- rename(target, new_name): xl rename
function M.rename(target, new_name) return lifecycle.rename(target, new_name) end

--- save(target, file, keep, paused): xl save [-c] [-p]
function M.save(target, file, keep, paused)
  local res, err = lifecycle.save(target, file, { keep = keep, paused = paused })
  if not res then return nil, err end
  print(string.format("saved %s to %s: %.1f MiB, %d pages, in %.2fs (suspend %.2fs)", tostring(target), file,
    res.bytes / 1048576, res.pages, res.seconds, res.suspend_seconds))
  return true
end

--- restore(file, config, paused, overrides): xl restore [-p] [CONFIG] FILE
function M.restore(file, cfg, paused, overrides)
  local domid, res = lifecycle.restore(file, { config = cfg, paused = paused, overrides = overrides })
  if not domid then return nil, res end
  print(string.format("restored %s (domid %d) from %s: %.1f MiB in %.2fs%s", domain.name(domid) or "?", domid, file,
    (res.pages or 0) * 4096 / 1048576, res.seconds, paused and ", paused" or ""))
  return domid
end

-- xl migrate's steps, called by cmd/luxen's migrate and migrate-receive
-- between the protocol messages (see lifecycle's migrate section)
M.migration = nil -- the sender's: what migrate_send returned

function M.migrate_send(target, path)
  local info, err = lifecycle.migrate_send(target, path)
  if not info then return nil, err end
  info.name = tostring(target)
  M.migration = info
  return info.domid
end

function M.migrate_away(domid) return lifecycle.migrate_away(domid) end

function M.migrate_back(domid, why)
  local ok, err = lifecycle.migrate_back(domid, why)
  if not ok then return nil, err end
  return nil, "migration failed: " .. tostring(why) .. "; the domain was resumed here and runs on"
end

--- migrate_done(domid, target): the source goes; what it took is printed
function M.migrate_done(domid, target)
  local m = M.migration or {}
  local ok, err = lifecycle.migrate_done(domid)
  if not ok then return nil, err end
  print(string.format("migrated %s to %s: %.1f MiB in %d rounds after the first (%.2fs while it ran); %d pages sent while suspended; " ..
    "%.2fs from the suspend request to the receiver's report", tostring(m.name or domid), tostring(target), (m.bytes or 0) / 1048576,
    m.rounds or 0, m.live_seconds or 0, m.final or 0, require("time").monotonic() - (m.suspended_at or require("time").monotonic())))
  return true
end

function M.migrate_receive(path)
  local domid, res = lifecycle.restore(path, { stream = true, incoming = true, paused = true })
  if not domid then return nil, res end
  return domid
end

function M.migrate_commit(domid) return lifecycle.migrate_commit(domid) end

--- config_update(target, path, overrides): xl config-update
function M.config_update(target, path, overrides)
  local ok, err = lifecycle.config_update(target, path, overrides)
  if not ok then return nil, err end
  print(string.format("the config of %s is updated; it applies at the domain's next restart", tostring(target)))
  return true
end

--- domid(name) / domname(domid): xl's, printing the one for the other
function M.domid(name)
  local id = tonumber(name) and nil or domain.find(name)
  if not id then return nil, string.format("no domain named '%s'", tostring(name)) end
  print(id)
  return true
end

function M.domname(id)
  local n = tonumber(id)
  if not n then return nil, string.format("%q is not a domain id", tostring(id)) end
  for _, d in ipairs(assert(domain.list())) do
    if d.domid == n then print(d.name); return true end
  end
  return nil, string.format("no domain with id %d", n)
end

-- xl's parse_mem_size_kb: a number with an optional unit b, k, m, g or t;
-- no unit is MiB
local function mem_kb(s)
  local n, unit = tostring(s):match("^(%d+)([bBkKmMgGtT]?)$")
  if not n then return nil, string.format("%q is not a memory size (a number with an optional unit b, k, m, g or t)", tostring(s)) end
  local mult = ({ b = 1 / 1024, k = 1, m = 1024, g = 1024 ^ 2, t = 1024 ^ 3, [""] = 1024 })[unit:lower()]
  return math.floor(tonumber(n) * mult)
end

--- mem_max(target, mem): xl mem-max: the most memory the domain may have
--- (the hypervisor's limit and memory/static-max); not below its target.
function M.mem_max(target, mem)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local kb, merr = mem_kb(mem)
  if not kb then return nil, merr end
  local xs = require("xenstore")
  local dp = domain.path(domid)
  local tgt = tonumber(xs.read(dp .. "/memory/target") or "")
  if tgt and kb < tgt then
    return nil, string.format("%d KiB is below the domain's memory target %d KiB: lower it first (mem-set)", kb, tgt)
  end
  local ok, e, d = xen.set_max_mem(domid, kb + lifecycle.MAXMEM_SLACK_KB)
  if not ok then return failed(e, d) end
  local wok, werr = xs.write(dp .. "/memory/static-max", tostring(kb))
  if not wok then return nil, "memory/static-max: " .. tostring(werr) end
  return true
end

--- vcpu_set(target, n [, ignore_host]): xl vcpu-set, the number of vCPUs
--- online. A PV or PVH guest is told through cpu/N/availability, which its
--- kernel follows (Linux's xen cpu hotplug), all in one transaction; the
--- record's and libxl's configs follow, so a restart keeps the number, as
--- xl's does. More vCPUs than the host has CPUs is refused unless
--- ignore_host, as xl refuses it without --ignore-host.
function M.vcpu_set(target, n, ignore_host)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  if domid == 0 then return nil, "vcpu-set of Domain-0 is not luxen's: dom0's vCPUs are the hypervisor's boot setting" end
  local info, e, d = xen.info(domid)
  if not info then return failed(e, d) end
  local want = tonumber(n)
  local max = info.max_vcpu_id + 1
  if not want or want ~= math.floor(want) or want < 1 then
    return nil, string.format("vcpu-set: %q: expected a number of vCPUs, 1 or more", tostring(n))
  end
  if want > max then
    return nil, string.format("vcpu-set: %s has at most %d vCPUs (its maxvcpus); it cannot have %d", tostring(target), max, want)
  end
  local pi = xen.physinfo()
  if not ignore_host and pi and want > pi.nr_cpus then
    return nil, string.format("vcpu-set: %d vCPUs is more than this host's %d CPUs (--ignore-host to overcommit)", want, pi.nr_cpus)
  end
  local rec = require("records").of_domain(domid)
  if rec and rec.config and rec.config.type == "hvm" then
    return nil, "vcpu-set of an HVM guest needs QEMU's CPU hotplug, which luxen does not drive yet"
  end
  local xs = require("xenstore")
  local dp = domain.path(domid)
  local ok, terr = xs.transaction(function(t)
    for v = 0, max - 1 do
      local wok, werr = t.write(dp .. "/cpu/" .. v .. "/availability", v < want and "online" or "offline")
      if not wok then return nil, werr end
    end
    return true
  end)
  if not ok then return nil, "cpu availability: " .. tostring(terr) end
  if rec then
    require("records").update(domid, function(r) r.config.vcpus = want end)
  end
  refresh_libxl(domid)
  return true
end

--- mem_set(target, mem): xl mem-set: the guest's balloon target
--- (memory/target), at most its static-max.
function M.mem_set(target, mem)
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local kb, merr = mem_kb(mem)
  if not kb then return nil, merr end
  local xs = require("xenstore")
  local dp = domain.path(domid)
  local max = tonumber(xs.read(dp .. "/memory/static-max") or "")
  if max and kb > max then
    return nil, string.format("%d KiB is above the domain's maximum %d KiB: raise it first (mem-max)", kb, max)
  end
  local ok, werr = xs.write(dp .. "/memory/target", tostring(kb))
  if not ok then return nil, "memory/target: " .. tostring(werr) end
  return true
end

--- tasks(): every task of this process with its domain group and line (run
--- by a supervisor for `luxen tasks`: what each domain's scripts are doing)
function M.tasks()
  local text = require("task").dump():gsub("\n$", "")
  print(text)
  return true
end

return M
