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
  local ok, werr = xs.transaction(function(t)
    t.write(bk .. "/physical-device", mm)
    t.write(bk .. "/physical-device-path", dev)
    return t.write(bk .. "/hotplug-status", "connected")
  end)
  if not ok then return nil, werr end
  return true
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

--- run(step, action, bk, fields, domain_name) -> true | nil, err
function M.run(step, action, bk, f, name)
  if xen.host() ~= "xen" or not step then return true end
  local s = M[step]
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
