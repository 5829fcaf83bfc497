--- hotplug: what dom0 does for a device's backend before it can connect, on
--- real Xen (the work Xen's /etc/xen/scripts/block and vif-bridge do). Each
--- step runs a program through proc.run, so the scheduler never blocks, and
--- what it prints goes to the domain's log. The simulated host's backend
--- driver needs none of this. A site edits this file to change it.
--
-- A class declares its step with `hotplug = require("hotplug").step("block")`
-- (vbd) or "vif": the devices engine (a library module) calls what the class
-- gives it and never requires this file itself, so this file, or a site's
-- copy of it, is what runs.
local xs = require("xenstore")
local xen = require("xen")
local log = require("log")
local proc = require("proc")

local M = {}

local function run(dlog, argv)
  local r, err = proc.run(argv, { timeout = 30 })
  if not r then return nil, table.concat(argv, " ") .. ": " .. tostring(err) end
  local out = (r.stdout .. r.stderr):gsub("%s+$", "")
  dlog.info("hotplug: %s -> %d%s", table.concat(argv, " "), r.code, out ~= "" and (": " .. out) or "")
  if r.code ~= 0 then return nil, table.concat(argv, " ") .. " exited " .. r.code .. ": " .. out end
  return r.stdout:gsub("%s+$", "")
end

-- what blkback opens, major:minor in hex, and that the hotplug is done: one
-- transaction, for dom0's backends and a driver domain's alike
local function publish(bk, mm, dev)
  local ok, err = xs.transaction(function(t)
    t.write(bk .. "/physical-device", mm)
    t.write(bk .. "/physical-device-path", dev)
    return t.write(bk .. "/hotplug-status", "connected")
  end)
  if not ok then return nil, err end
  return true
end

-- block: a file target gets a loop device; blkback opens physical-device
M.block = {}
function M.block.add(bk, f, dlog)
  local dev = f.target
  local st = require("luxen").stat(dev)
  if not st then return nil, "block: " .. dev .. " does not exist" end
  if not dev:match("^/dev/") then
    -- `losetup -f` names a free device, then the file is attached to it (the
    -- portable way: busybox's losetup has no --show)
    local loop, err
    for _ = 1, 3 do -- another attach may take the device in between
      loop, err = run(dlog, { "losetup", "-f" })
      if not loop then return nil, err end
      local argv = { "losetup", loop, dev }
      if f.access == "r" then argv = { "losetup", "-r", loop, dev } end
      local ok, aerr = run(dlog, argv)
      if ok then break end
      err, loop = aerr, nil
    end
    if not loop then return nil, err end
    dev = loop
  end
  local mm, err = run(dlog, { "stat", "-L", "-c", "%t:%T", dev })
  if not mm then return nil, err end
  return publish(bk, mm, dev)
end

function M.block.remove(bk, f, dlog)
  local dev = xs.read(bk .. "/physical-device-path")
  if dev and dev:match("^/dev/loop") then run(dlog, { "losetup", "-d", dev }) end
  return true
end

-- vif: netback makes vif<domid>.<devid> when it sees the backend; bring it up
-- and put it in its bridge when that bridge exists
M.vif = {}
function M.vif.add(bk, f, dlog)
  local domid, devid = bk:match("/backend/vif/(%d+)/(%d+)$")
  local ifname = f.vifname or ("vif" .. domid .. "." .. devid)
  for _ = 1, 50 do
    if require("luxen").stat("/sys/class/net/" .. ifname) then break end
    require("task").sleep(0.1)
  end
  local ok, err = run(dlog, { "ip", "link", "set", ifname, "up" })
  if not ok then return nil, err end
  if f.bridge and require("luxen").stat("/sys/class/net/" .. f.bridge .. "/bridge") then
    run(dlog, { "ip", "link", "set", ifname, "master", f.bridge })
  else
    dlog.warn("hotplug: bridge %s does not exist; %s is up but not bridged", tostring(f.bridge), ifname)
  end
  xs.write(bk .. "/hotplug-status", "connected")
  return true
end

function M.vif.remove() return true end

-- A backend in a driver domain (backend=NAME) has its hotplug done here
-- too, by dom0, rather than by an agent in the driver domain (xl runs `xl
-- devd` there): dom0 holds the device's record, so it is dom0 that refills a
-- restarted driver domain's backend, and the driver domain needs nothing but
-- its kernel's backend drivers. What dom0 cannot do is look inside the
-- driver domain, so a block target there must be a device whose number Linux
-- fixes (devices.txt): blkback opens physical-device, major:minor in hex.
local FIXED_MAJORS = {
  { "^/dev/ram(%d+)$", function(n) return 1, n end },
  { "^/dev/loop(%d+)$", function(n) return 7, n end },
  { "^/dev/sd([a-p])$", function(l) return 8, (l:byte() - 97) * 16 end },
  { "^/dev/xvd([a-p])$", function(l) return 202, (l:byte() - 97) * 16 end },
}

M.remote = { block = {}, vif = {} }
function M.remote.block.add(bk, f, dlog)
  local target = f.target or ""
  for _, m in ipairs(FIXED_MAJORS) do
    local cap = target:match(m[1])
    if cap then
      local major, minor = m[2](tonumber(cap) or cap)
      local mm = string.format("%x:%x", major, minor)
      local ok, err = publish(bk, mm, target)
      if not ok then return nil, err end
      dlog.info("hotplug: %s in the driver domain is %s (physical-device, written by dom0)", target, mm)
      return true
    end
  end
  return nil, string.format("block: target %q: a disk served by a driver domain must be one of its devices " ..
    "with a fixed number (/dev/ramN, /dev/loopN, /dev/sdX, /dev/xvdX): dom0 writes its physical-device", target)
end
function M.remote.block.remove() return true end
-- the driver domain brings its vif up itself (it is its network); dom0
-- only says the hotplug is done, which netback waits for
function M.remote.vif.add(bk)
  return xs.write(bk .. "/hotplug-status", "connected")
end
function M.remote.vif.remove() return true end

--- run(step, action, bk, fields, domain_name) -> true | nil, err
function M.run(step, action, bk, f, name)
  if xen.host() ~= "xen" or not step then return true end
  local be = tonumber(bk:match("^/local/domain/(%d+)/backend/") or "0")
  local s = be == 0 and M[step] or M.remote[step]
  if not s or not s[action] then return nil, "hotplug: no step " .. tostring(step) .. "." .. tostring(action) end
  return s[action](bk, f, log.domain(name))
end

--- step(name) -> function(action, bk, fields, domain_name) -> true | nil, err
-- What a device class declares as its hotplug. It calls M.run when the
-- device is attached or detached, not when the class is declared, so a
-- change made to this module's table later (a spec's, a site's) is seen.
function M.step(name)
  return function(action, bk, f, domain_name) return M.run(name, action, bk, f, domain_name) end
end

return M
