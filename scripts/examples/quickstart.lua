-- quickstart: the domain lifecycle on whatever host luxen runs on (the
-- embedded simulated host when there is no Xen):
--
--   go run ./cmd/luxen run scripts/examples/quickstart.lua
--
-- It creates three domains (two xl.cfg files and a Lua table config) at once,
-- lists them as `xl list` does, shuts one down cleanly, reboots one (its
-- on_reboot=restart policy brings it back with a new domid and the same name),
-- crashes one (on_crash=destroy), and prints what happened. Each domain's log
-- is under the state directory's log/ folder.
local task = require("task")
local log = require("log")
local luxen = require("luxen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")

local here = luxen.script_dir
local function step(fmt, ...) print(string.format("==> " .. fmt, ...)) end
local function must(v, err, ...)
  if v == nil then error(tostring(err), 2) end
  return v, err, ...
end

-- the supervisor runs the restart policies when a domain shuts down
supervisor.start()

step("creating web, db and cache at once on the %s host", luxen.host)
local configs = { here .. "/web.cfg", here .. "/db.lua", here .. "/cache.cfg" }
local creators = {}
for i, path in ipairs(configs) do
  creators[i] = task.spawn(function() return must(lifecycle.create(path)) end)
end
local ids = {}
for i, t in ipairs(creators) do
  local ok, domid = task.join(t)
  if not ok then error(domid, 0) end
  ids[i] = domid
end
local web, db, cache = ids[1], ids[2], ids[3]

-- wait for a guest to boot: a booted guest advertises control/feature-poweroff
local xs = require("xenstore")
local function wait_booted(id)
  local deadline = require("time").monotonic() + 30
  while xs.read_or(domain.path(id) .. "/control/feature-poweroff", "") ~= "1" do
    if require("time").monotonic() > deadline then error("domain " .. id .. " did not boot") end
    task.sleep(0.02)
  end
end
for _, id in ipairs(ids) do wait_booted(id) end
print(domain.format_list(must(domain.list())))

step("shutting down web (domid %d) cleanly", web)
must(lifecycle.shutdown("web", { wait = true, timeout = 30 }))
must(domain.wait_gone(web, 10))
print("    web powered off and was destroyed (on_poweroff=destroy)")

step("rebooting db (domid %d)", db)
must(lifecycle.reboot("db"))
local newdb = must(domain.wait_name("db", 30, db))
wait_booted(newdb) -- the name appears while the restart is still building it
print(string.format("    db came back as domid %d (on_reboot=restart: same name, new domid)", newdb))

step("crashing cache (domid %d) from inside the guest", cache)
local ok, sim = pcall(require, "sim")
if ok then
  must(sim.guest(cache, "crash"))
else
  must(require("xen").shutdown(cache, "crash")) -- on real Xen: the same shutdown reason
end
must(domain.wait_gone(cache, 10))
print("    cache crashed and was destroyed (on_crash=destroy)")

print(domain.format_list(must(domain.list())))

step("cleaning up")
must(lifecycle.destroy("db"))
print(string.format("per-domain logs: %s/{web,db,cache}.log", log.dir()))
for _, name in ipairs({ "web", "db", "cache" }) do
  print("  " .. log.path(name))
end
