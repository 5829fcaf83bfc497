-- helpers shared by the specs: tree snapshots for leak checks, waits, temp files.
local xs = require("xenstore")
local task = require("task")
local time = require("time")
local luxen = require("luxen")
local domain = require("domain")

local M = {}

--- snapshot([root]) -> { [path] = value } of the whole xenstore tree below root
function M.snapshot(root)
  root = root or "/"
  local out = {}
  local function walk(p)
    local v = xs.read(p)
    out[p] = v or ""
    for _, k in ipairs(xs.directory(p) or {}) do
      walk(p == "/" and ("/" .. k) or (p .. "/" .. k))
    end
  end
  walk(root)
  return out
end

--- diff(before, after) -> "" when equal, else one line per difference
function M.diff(a, b)
  local lines = {}
  local keys = {}
  for k in pairs(a) do keys[k] = true end
  for k in pairs(b) do keys[k] = true end
  local sorted = {}
  for k in pairs(keys) do sorted[#sorted + 1] = k end
  table.sort(sorted)
  for _, k in ipairs(sorted) do
    if a[k] == nil then lines[#lines + 1] = "+ " .. k .. " = " .. string.format("%q", b[k])
    elseif b[k] == nil then lines[#lines + 1] = "- " .. k
    elseif a[k] ~= b[k] then lines[#lines + 1] = "~ " .. k .. ": " .. string.format("%q -> %q", a[k], b[k]) end
  end
  return table.concat(lines, "\n")
end

function M.assert_tree_unchanged(before, what)
  local d = M.diff(before, M.snapshot())
  if d ~= "" then error((what or "xenstore tree changed") .. ":\n" .. d, 2) end
end

--- records() -> names of the JSON records in the state directory
function M.records()
  return luxen.state_list("domains") or {}
end

--- wait_booted(domid [, timeout]): the guest advertises all its control
--- features (poweroff, reboot, suspend: a simulated guest writes them in that
--- order, last thing in its boot) and every device it has has settled
--- (Connected at both ends, or given up by the guest): the tree is still after
--- this. A simulated guest connects its devices beside its feature writes,
--- so the features alone left a snapshot racing a backend's 2 -> 4.
function M.wait_booted(domid, timeout)
  local devices = require("devices")
  local S = devices.STATE
  local deadline = time.monotonic() + (timeout or 10)
  -- what is still missing, "" when nothing is
  local function missing()
    local out = {}
    for _, f in ipairs({ "feature-poweroff", "feature-suspend" }) do
      local v, err = xs.read_or(domain.path(domid) .. "/control/" .. f, "")
      if v ~= "1" then out[#out + 1] = string.format("control/%s is %q%s", f, tostring(v), err and (" (" .. err .. ")") or "") end
    end
    for _, class in ipairs(devices.CLASSES) do
      for _, d in ipairs(devices.list(domid, class)) do
        if not ((d.state == S.Connected and d.backend_state == S.Connected) or d.state >= S.Closing) then
          out[#out + 1] = string.format("%s %s: frontend %s, backend %s", class, tostring(d.devid), tostring(d.state), tostring(d.backend_state))
        end
      end
    end
    return table.concat(out, "; ")
  end
  local left = missing()
  while left ~= "" do
    if time.monotonic() > deadline then error("domain " .. domid .. " did not boot: " .. left, 2) end
    task.sleep(0.01)
    left = missing()
  end
  return true
end

--- wait_until(pred [, timeout [, what]]): pred() holds within timeout
--- seconds (default 10); raises naming what if not
function M.wait_until(pred, timeout, what)
  local deadline = time.monotonic() + (timeout or 10)
  while not pred() do
    if time.monotonic() > deadline then error((what or "condition") .. ": not within " .. (timeout or 10) .. "s", 2) end
    task.sleep(0.01)
  end
  return true
end

--- cli_supervisor(log_name) -> stop(): a `luxen supervise` process, as a
--- host runs one (the command line's commands go to it); its output goes to
--- the state's tmp/LOG_NAME. stop() ends it and waits for its marker to go.
function M.cli_supervisor(log_name)
  local supervisor = require("supervisor")
  local log_file = luxen.state_dir .. "/tmp/" .. log_name
  M.sh("luxen supervise < /dev/null > " .. log_file .. " 2>&1 &")
  local m
  local ok, err = pcall(M.wait_until, function()
    m = supervisor.running()
    return m and m.socket ~= "" and luxen.stat(m.socket) ~= nil
  end, 60, "luxen supervise answering")
  if not ok then error(tostring(err) .. "; its output:\n" .. M.sh("cat " .. log_file), 2) end
  return function()
    M.sh("kill -INT " .. m.pid)
    M.wait_until(function() return not supervisor.running() end, 60, "luxen supervise stopped")
  end
end

--- vdev(i) -> xvda .. xvdz, xvdaa, xvdab, ... for i = 0, 1, ... (the
--- extended numbering of xen-vbd-interface(7) covers the two-letter names)
function M.vdev(i)
  local s, n = "", i + 1
  while n > 0 do
    local r = (n - 1) % 26
    s = string.char(97 + r) .. s
    n = math.floor((n - 1 - r) / 26)
  end
  return "xvd" .. s
end

--- file(name, text) -> path of a file with that text in the state directory
function M.file(name, text)
  assert(luxen.state_write("tmp/" .. name, text))
  return luxen.state_dir .. "/tmp/" .. name
end

--- console(name) -> what the guest has written to its console log so far
-- ("" before the log exists)
function M.console(name)
  local f = io.open(require("lifecycle").CONSOLE_LOG_DIR .. "/guest-" .. name .. ".log")
  if not f then return "" end
  local s = f:read("*a")
  f:close()
  return s
end

--- domids() -> set of live domids
function M.domids()
  local out = {}
  for _, d in ipairs(require("xen").list()) do out[d.domid] = d end
  return out
end

--- connected(domid) -> true once the guest's first vbd (xvda) and vif are
--- connected, frontend and backend (XenbusState 4)
function M.connected(domid)
  local dp = domain.path(domid)
  for _, fe in ipairs({ dp .. "/device/vbd/51712", dp .. "/device/vif/0" }) do
    if xs.read(fe .. "/state") ~= "4" then return false end
    local be = xs.read(fe .. "/backend")
    if not be or xs.read(be .. "/state") ~= "4" then return false end
  end
  return true
end

function M.count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

-- real Xen (the lab) --------------------------------------------------------

--- sh(cmd [, timeout]) -> what cmd printed (stdout and stderr); raises if it
--- could not be run
function M.sh(cmd, timeout)
  local r = assert.ok(require("proc").run(cmd .. " 2>&1", { timeout = timeout or 300 }))
  return r.stdout
end

--- xl_names() -> the names `xl list` shows, sorted, comma-separated
function M.xl_names()
  local names = {}
  for line in M.sh("xl list"):gmatch("[^\n]+") do
    local n = line:match("^(%S+)%s+%d+")
    if n then names[#names + 1] = n end
  end
  table.sort(names)
  return table.concat(names, ",")
end

--- wait_console(name, pattern [, timeout [, count]]): pattern appears count
--- times on the guest's console; raises with the console's tail if not
function M.wait_console(name, pattern, timeout, count)
  timeout = timeout or 180
  local deadline = time.monotonic() + timeout
  count = count or 1
  while time.monotonic() < deadline do
    local n = 0
    for _ in M.console(name):gmatch(pattern) do n = n + 1 end
    if n >= count then return true end
    task.sleep(0.5)
  end
  error(string.format("%s: %d x %q not on the console within %ds; console:\n%s", name, count, pattern, timeout,
    M.console(name):sub(-1500)), 2)
end

--- wait_name_gone(name [, timeout]): no domain has the name, and Xen has let
--- go of every dying domain (`xl list` shows no "(null)")
function M.wait_name_gone(name, timeout)
  local deadline = time.monotonic() + (timeout or 60)
  while domain.find(name) do
    if time.monotonic() > deadline then error(name .. " still exists", 2) end
    task.sleep(0.2)
  end
  while M.xl_names():find("(null)", 1, true) do
    if time.monotonic() > deadline then error("a dying domain lingers", 2) end
    task.sleep(0.2)
  end
end

--- LAB_CPUS: the physical CPUs of the lab's Linux guests (xl.cfg's cpus).
--- Under QEMU's multi-threaded TCG, a PVH or HVM vCPU that Xen moves between
--- the lab's two CPUs now and then triple-faults early in its boot (in one
--- lab boot: 7 of 12 boots faulted unpinned, 0 of 12 pinned to CPU 1, three
--- at a time, the same kernel). Pinned, a vCPU never moves.
M.LAB_CPUS = "1"

--- refused_create(cfg, pattern): lifecycle.create(cfg) fails with an error
--- matching pattern and leaves no domain, record or xenstore node behind
function M.refused_create(cfg, pattern)
  local before = M.snapshot()
  local id, err = require("lifecycle").create(cfg)
  assert.is_nil(id, "created")
  assert.matches(pattern, err)
  assert.is_nil(require("domain").find(cfg.name), "no domain left")
  assert.equal(0, #M.records(), "no record left")
  M.assert_tree_unchanged(before, "xenstore after the refused create")
end

return M
