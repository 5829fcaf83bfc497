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

function M.create(path, overrides, paused)
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
local function apply_policy_here(domid, timeout)
  local info, err = domain.wait_shutdown(domid, timeout)
  if not info then
    if err == "gone" then return true end
    return nil, "domain did not shut down within " .. timeout .. "s"
  end
  local action, perr = require("policies.restart").handle(domid)
  if not action then return nil, perr end
  return action
end

function M.shutdown(target, wait, reason, timeout)
  timeout = timeout or lifecycle.SHUTDOWN_TIMEOUT
  local domid, err = lifecycle.shutdown(target, { reason = reason, wait = false })
  if not domid then return nil, err end
  if supervisor.running() then
    if wait then
      local ok, werr
      if reason == "reboot" then
        ok, werr = domain.wait_shutdown(domid, timeout)
        if ok or werr == "gone" then ok = true end
      else
        ok, werr = domain.wait_gone(domid, timeout)
      end
      if not ok then return nil, "waiting for " .. tostring(target) .. ": " .. tostring(werr) end
    end
    return true
  end
  local action, perr = apply_policy_here(domid, timeout)
  if not action then return nil, perr end
  return true
end

-- block-attach NAME SPEC ; network-attach NAME [SPEC...]
function M.attach(class, target, spec)
  local devices = require("devices")
  local domid, err = domain.find(target)
  if not domid then return nil, err end
  local f, perr = devices.parse(class, spec, devices.class(class).config_key)
  if not f then return nil, perr end
  local devid, aerr = devices.attach(domid, class, f)
  if not devid then return nil, aerr end
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
  return devices.detach(domid, class, devid, { force = force })
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

function M.list(as_json, names)
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
  if as_json then
    local rows = {}
    for _, d in ipairs(doms) do
      rows[#rows + 1] = { domid = d.domid, name = d.name, uuid = d.uuid, state = d.state,
        memory_mib = d.mem_mib, vcpus = d.vcpus, cpu_time = d.cpu_time,
        shutdown_reason = d.info.shutdown_reason or json.null }
    end
    print(json.encode(rows, true))
  else
    print(domain.format_list(doms))
  end
  return true
end

function M.info()
  local pi, err, detail = xen.physinfo()
  if not pi then return nil, tostring(err) .. ": " .. tostring(detail) end
  local ver = xen.version()
  local luxen = require("luxen")
  local rows = {
    { "host", luxen.host },
    { "nr_cpus", pi.nr_cpus }, { "nr_nodes", pi.nr_nodes },
    { "cores_per_socket", pi.cores_per_socket }, { "threads_per_core", pi.threads_per_core },
    { "cpu_mhz", pi.cpu_mhz },
    { "total_memory", math.floor(pi.total_kb / 1024) }, { "free_memory", math.floor(pi.free_kb / 1024) },
    { "xen_version", ver },
    { "luxen_version", luxen.version },
    { "state_dir", luxen.state_dir }, { "log_dir", log.dir() },
  }
  local sup = supervisor.running()
  rows[#rows + 1] = { "supervisor", sup and string.format("pid %d (uid %s) since %s%s", sup.pid, tostring(sup.uid),
    tostring(sup.since), sup.socket ~= "" and (", socket " .. sup.socket) or "") or "none" }
  for _, r in ipairs(rows) do print(string.format("%-23s: %s", r[1], tostring(r[2]))) end
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
