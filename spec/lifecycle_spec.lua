-- hosts: sim
-- The domain lifecycle on the embedded host: create, list, pause, shutdown,
-- destroy, and that a create/destroy cycle leaves no trace.
local xs = require("xenstore")
local xen = require("xen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local helpers = require("helpers")
local luxen = require("luxen")
local task = require("task")

describe("create and destroy", function()
  it("leave only the long-lived parents behind after the first cycle", function()
    -- The first create on a fresh host makes /vm, /libxl and dom0's mtwatch
    -- directory, which stay (as with libxl on any Xen host), and luxen's
    -- directory of creates under way; nothing else may.
    local fresh = helpers.snapshot()
    assert.ok(lifecycle.create({ name = "first", memory = 64 }))
    assert.ok(lifecycle.destroy("first"))
    assert.equal("+ /libxl = \"\"\n+ /local/domain/0/mtwatch = \"\"\n+ /tool/luxen = \"\"\n+ /tool/luxen/creating = \"\"\n+ /vm = \"\"",
      helpers.diff(fresh, helpers.snapshot()))
  end)

  it("leave the xenstore tree, the records and the domain list exactly as before", function()
    local before = helpers.snapshot()
    local doms = helpers.count(helpers.domids())
    local domid = assert.ok(lifecycle.create({ name = "leak", memory = 64 }))
    helpers.wait_booted(domid)
    assert.equal(1, #helpers.records())
    assert.ok(lifecycle.destroy("leak"))
    helpers.assert_tree_unchanged(before)
    assert.equal(0, #helpers.records())
    assert.equal(doms, helpers.count(helpers.domids()))
  end)

  it("clear a console tty xenconsoled writes after the removal, once the zombie it kept is gone", function()
    -- On Xen, a destroy right after a create can overtake xenconsoled: it
    -- has mapped the console page (which keeps the domain a zombie) and
    -- writes console/tty after the destroy removed the domain's tree. The
    -- simulated host has no xenconsoled and no zombies, so both are played
    -- here: xen.info reports the domain until the late write is done.
    local before = helpers.snapshot()
    local domid = assert.ok(lifecycle.create({ name = "late", memory = 64 }))
    local path = domain.path(domid)
    local real_info, held = xen.info, true
    xen.info = function(d, ...)
      local i = real_info(d, ...)
      if d == domid and held and not i then return { domid = d, dying = true } end
      return i
    end
    local writer = task.spawn(function()
      while xs.exists(path) do task.sleep(0.005) end
      xs.write(path .. "/console/tty", "/dev/pts/9")
      held = false -- xenconsoled saw it die and unmapped: the domain goes
    end)
    local ok, err = pcall(lifecycle.destroy, "late")
    writer:join()
    xen.info = real_info
    assert.truthy(ok, err)
    assert.falsy(xs.exists(path), path .. " written after the destroy outlived the domain")
    helpers.assert_tree_unchanged(before)
  end)

  it("writes libxl's skeleton with the guest's permissions", function()
    local domid = assert.ok(lifecycle.create({ name = "skel", memory = 64, vcpus = 2 }))
    local dp = domain.path(domid)
    assert.equal("skel", xs.read(dp .. "/name"))
    assert.equal(tostring(domid), xs.read(dp .. "/domid"))
    assert.equal(tostring(64 * 1024), xs.read(dp .. "/memory/target"))
    assert.equal("online", xs.read(dp .. "/cpu/1/availability"))
    local vm = xs.read(dp .. "/vm")
    assert.matches("^/vm/%x+%-", vm)
    assert.equal("skel", xs.read(vm .. "/name"))
    assert.same({ "n0", "r" .. domid }, xs.get_perms(dp))
    assert.same({ "n" .. domid }, xs.get_perms(dp .. "/control/shutdown"))
    assert.equal(tostring(require("luxen").pid), xs.read("/local/domain/0/mtwatch/" .. domid), "the marker names the creating process")
    assert.ok(lifecycle.destroy(domid))
    assert.falsy(xs.exists("/local/domain/0/mtwatch/" .. domid))
  end)

  it("refuses a second domain with the same name", function()
    assert.ok(lifecycle.create({ name = "twin", memory = 64 }))
    local id, err = lifecycle.create({ name = "twin", memory = 64 })
    assert.is_nil(id)
    assert.contains("a domain named 'twin' already exists", err)
    assert.ok(lifecycle.destroy("twin"))
  end)

  it("creates paused with paused=true, and pause/unpause work", function()
    local domid = assert.ok(lifecycle.create({ name = "p", memory = 64 }, { paused = true }))
    assert.truthy(xen.info(domid).paused)
    assert.ok(lifecycle.unpause("p"))
    assert.falsy(xen.info(domid).paused)
    assert.ok(lifecycle.pause(domid))
    assert.matches("^..p", xen.info(domid).state)
    assert.ok(lifecycle.destroy("p"))
  end)

  it("a create the host cannot fit fails with ENOMEM and leaves nothing", function()
    local before = helpers.snapshot()
    local doms = helpers.count(helpers.domids())
    local id, err = lifecycle.create({ name = "huge", memory = 64 * 1024 })
    assert.is_nil(id)
    assert.contains("ENOMEM", err)
    assert.contains("huge", err)
    helpers.assert_tree_unchanged(before, "failed create left xenstore nodes")
    assert.equal(doms, helpers.count(helpers.domids()), "failed create left a domain")
    assert.equal(0, #helpers.records())
  end)
end)

describe("list", function()
  it("prints xl's columns with Domain-0 first", function()
    local domid = assert.ok(lifecycle.create({ name = "listed", memory = 96, vcpus = 3 }))
    helpers.wait_booted(domid)
    local text = domain.format_list(assert.ok(domain.list()))
    local lines = {}
    for l in text:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.equal("Name                                        ID   Mem VCPUs\tState\tTime(s)", lines[1])
    assert.matches("^Domain%-0 +0 +%d+ +%d+ +r%-%-%-%-%- +%d+%.%d$", lines[2])
    assert.matches("^listed +" .. domid .. " +96 +3 +%-b%-%-%-%- +%d+%.%d$", lines[3])
    assert.ok(lifecycle.destroy("listed"))
  end)
end)

describe("shutdown", function()
  it("asks the guest through control/shutdown and the guest powers off", function()
    local domid = assert.ok(lifecycle.create({ name = "off", memory = 64, on_poweroff = "preserve" }))
    helpers.wait_booted(domid)
    assert.ok(lifecycle.shutdown("off", { wait = true, timeout = 5 }))
    local info = xen.info(domid)
    assert.truthy(info.shutdown)
    assert.equal("poweroff", info.shutdown_reason)
    assert.equal("---s--", info.state)
    assert.equal("", xs.read(domain.path(domid) .. "/control/shutdown"), "the guest acknowledges by clearing the request")
    assert.ok(lifecycle.destroy(domid))
  end)

  it("times out on a guest that never answers, and destroy still works", function()
    local domid = assert.ok(lifecycle.create({ name = "deaf", memory = 64 }))
    helpers.wait_booted(domid)
    assert.ok(require("sim").guest(domid, "hang"))
    local ok, err = lifecycle.shutdown("deaf", { wait = true, timeout = 0.3 })
    assert.is_nil(ok)
    assert.contains("did not shut down within", err)
    assert.ok(lifecycle.destroy("deaf"))
    assert.is_nil(domain.find("deaf"))
  end)

  it("refuses Domain-0", function()
    local ok, err = lifecycle.destroy(0)
    assert.is_nil(ok)
    assert.contains("Domain-0", err)
  end)
end)

describe("reconcile", function()
  local function mentions(acted, domid)
    for _, msg in ipairs(acted) do
      if msg:find("domid " .. domid .. " has no name", 1, true) then return true end
    end
    return false
  end

  it("reports a nameless domain nobody is creating, and leaves it alone", function()
    local reconcile = require("reconcile")
    local domid = assert.ok(xen.create({}))
    local acted = reconcile.run()
    assert.truthy(mentions(acted, domid), "not reported:\n" .. table.concat(acted, "\n"))
    assert.ok(xen.info(domid))
    assert.ok(xen.destroy(domid))
  end)

  -- a pid that has exited
  local function dead_pid() return assert.ok(require("proc").run("echo $$")).stdout:match("%d+") end

  it("destroys a domain whose create intent names a dead process, and drops stale intents", function()
    -- what a kill between createdomain and the first xenstore write leaves
    local reconcile = require("reconcile")
    local uuid, orphan = luxen.uuid(), luxen.uuid()
    local domid = assert.ok(xen.create({ uuid = uuid }))
    local dead = dead_pid()
    assert.ok(xs.write(lifecycle.intent_path(uuid), dead))
    assert.ok(xs.write(lifecycle.intent_path(orphan), dead)) -- killed before Xen made it
    local acted = reconcile.run()
    assert.is_nil(xen.info(domid), "destroyed")
    assert.falsy(mentions(acted, domid))
    assert.contains("domid " .. domid .. " (no name yet) was being created by pid " .. dead, table.concat(acted, "\n"))
    assert.falsy(xs.exists(lifecycle.intent_path(uuid)))
    assert.falsy(xs.exists(lifecycle.intent_path(orphan)))
  end)

  it("leaves a domain alone while its create is under way, here or in a live process", function()
    local reconcile = require("reconcile")
    -- this process, its create hypercall out
    local here = luxen.uuid()
    local id1 = assert.ok(xen.create({ uuid = here }))
    assert.ok(xs.write(lifecycle.intent_path(here), luxen.pid .. " " .. luxen.pid_start))
    lifecycle.creating[here] = true
    -- another process that is still running (this one's parent shell)
    local there = luxen.uuid()
    local id2 = assert.ok(xen.create({ uuid = there }))
    local sleeper = assert.ok(require("proc").run("sleep 30 >/dev/null 2>&1 & echo $!")).stdout:match("%d+")
    assert.ok(xs.write(lifecycle.intent_path(there), sleeper))
    local ok, acted = pcall(reconcile.run)
    lifecycle.creating[here] = nil
    require("proc").run("kill " .. sleeper)
    assert.truthy(ok, tostring(acted))
    assert.ok(xen.info(id1), "a create under way here is left alone")
    assert.ok(xen.info(id2), "a create under way in a live process is left alone")
    assert.falsy(mentions(acted, id1))
    assert.falsy(mentions(acted, id2))
    assert.truthy(xs.exists(lifecycle.intent_path(here)))
    assert.truthy(xs.exists(lifecycle.intent_path(there)))
    for _, u in ipairs({ here, there }) do xs.rm(lifecycle.intent_path(u)) end
    assert.ok(xen.destroy(id1))
    assert.ok(xen.destroy(id2))
  end)

  it("never destroys a finished domain, even with its record gone: the record is rebuilt", function()
    -- the data-loss bug: a reconcile that did not see a domain's record (it
    -- looked in another state directory) destroyed it, running
    local reconcile = require("reconcile")
    local domid = assert.ok(lifecycle.create({ name = "kept", memory = 48, vcpus = 2,
      disk = { "/img/kept.raw,raw,xvda,rw" } }))
    helpers.wait_booted(domid)
    local uuid = xen.info(domid).uuid
    local before = lifecycle.record(uuid)
    assert.ok(lifecycle.remove_record(uuid))
    local acted = table.concat(reconcile.run(), "\n")
    assert.ok(xen.info(domid), "the running domain was destroyed")
    assert.falsy(xen.info(domid).shutdown)
    assert.contains("kept (domid " .. domid .. ") had no record: rebuilt from xenstore", acted)
    local rec = assert.ok(lifecycle.record(uuid))
    assert.equal("kept", rec.name)
    assert.equal(domid, rec.domid)
    assert.equal(48, rec.config.memory)
    assert.equal(2, rec.config.vcpus)
    assert.matches("^record lost; rebuilt from xenstore", rec.rebuilt)
    local vbd = rec.devices["vbd/51712"]
    assert.truthy(vbd, "the disk is in the rebuilt record")
    assert.equal("/img/kept.raw", vbd.fields.target)
    assert.same(before.devices["vbd/51712"].fields.target, vbd.fields.target)
    -- a second reconcile finds nothing to do
    assert.same({}, reconcile.run())
    assert.ok(lifecycle.destroy(domid))
  end)

  it("run beside creates and restarts never takes a live domain's record or nodes", function()
    -- reconcile listed the hypervisor's domains, then the records: a create
    -- that saved its record in between looked like a record whose domain was
    -- gone, and lost its record, /vm node and /local/domain tree while it
    -- ran (simulated guests then "did not boot": their feature nodes were gone)
    local reconcile = require("reconcile")
    local policy = require("policies.restart")
    local stop, passes, errs, did = false, 0, {}, {}
    local rec_task = task.spawn(function()
      while not stop do
        local ok, acted = pcall(reconcile.run)
        if not ok then errs[#errs + 1] = tostring(acted) end
        for _, a in ipairs(ok and acted or {}) do did[#did + 1] = a end
        passes = passes + 1
        task.yield()
      end
    end)
    local function intact(id, what)
      local uuid = assert(xen.info(id), what .. ": domain gone").uuid
      assert.truthy(lifecycle.record(uuid), what .. ": record lost")
      assert.equal("/vm/" .. uuid, xs.read(domain.path(id) .. "/vm"), what .. ": /local/domain/" .. id .. " lost")
      assert.truthy(xs.exists("/vm/" .. uuid), what .. ": /vm/" .. uuid .. " lost")
    end
    local ok, err = pcall(function()
    for i = 1, 40 do
      local id = assert.ok(lifecycle.create({ name = "rc" .. i, memory = 16, on_reboot = "restart", restart_limit = 100 }))
      intact(id, "rc" .. i .. " created")
      helpers.wait_booted(id)
      assert.ok(xen.shutdown(id, "reboot"))
      assert.equal("restart", assert.ok(policy.handle(id)))
      local id2 = assert.ok(domain.find("rc" .. i))
      intact(id2, "rc" .. i .. " restarted")
      helpers.wait_booted(id2)
      assert.ok(lifecycle.destroy(id2))
    end
    end)
    stop = true
    if not ok then error(tostring(err) .. "\nreconcile did:\n" .. table.concat(did, "\n"), 0) end
    task.join(rec_task)
    assert.same({}, errs)
    assert.same({}, did, "reconcile found nothing to do")
    assert.truthy(passes > 40, "reconcile ran " .. passes .. " times")
    assert.equal(0, #helpers.records())
  end, { timeout = 120 })

  it("a destroy that races a restart wins, wherever it lands", function()
    -- seen in the lab: a guest the supervisor was restarting (a triple fault)
    -- while an administrator destroyed it; between the old domain's end and
    -- the new one's start the destroy found no domain, failed, and the
    -- restart brought the guest back
    local policy = require("policies.restart")
    local outcomes = {}
    for i = 1, 30 do
      local name = "race" .. i
      local id = assert.ok(lifecycle.create({ name = name, memory = 16, on_reboot = "restart", restart_limit = 100 }))
      helpers.wait_booted(id)
      assert.ok(xen.shutdown(id, "reboot"))
      local restarter = task.spawn(function() return policy.handle(id) end)
      local destroyer = task.spawn(function()
        for _ = 1, i - 1 do task.yield() end -- lands at a different step each time
        return lifecycle.destroy(name)
      end)
      local _, action = task.join(restarter)
      local _, ok, err = task.join(destroyer)
      assert.truthy(ok, name .. ": the destroy failed: " .. tostring(err))
      outcomes[tostring(action)] = true
      -- nothing of it is left, and nothing brings it back
      helpers.wait_until(function() return domain.find(name) == nil end, 5, name .. " gone")
      task.sleep(0.05)
      assert.is_nil(domain.find(name), name .. " came back")
      assert.is_nil(lifecycle.restarting[name])
    end
    assert.equal(0, #helpers.records(), "records left")
    local seen = {}
    for k in pairs(outcomes) do seen[#seen + 1] = k end
    table.sort(seen)
    print("      restart outcomes: " .. table.concat(seen, ", "))
  end, { timeout = 120 })

  it("reports a domain another toolstack made, and leaves it alone", function()
    -- as xl makes it: named, no record, no luxen marker, no luxen intent
    local reconcile = require("reconcile")
    local domid = assert.ok(xen.create({}))
    assert.ok(xs.write(domain.path(domid) .. "/name", "xl-made"))
    local acted = table.concat(reconcile.run(), "\n")
    assert.contains("domid " .. domid .. " (xl-made) was not made by luxen (no record, no luxen marker): left alone", acted)
    assert.ok(xen.info(domid))
    assert.equal(0, #helpers.records(), "no record made for it")
    assert.ok(xen.destroy(domid))
    xs.rm(domain.path(domid))
  end)

  it("refuses a create whose uuid a live or cut-short create holds", function()
    local uuid = luxen.uuid()
    assert.ok(xs.write(lifecycle.intent_path(uuid), dead_pid()))
    local id, err = lifecycle.create({ name = "dup", memory = 16, uuid = uuid })
    assert.is_nil(id)
    assert.contains("was cut short: run `luxen reconcile` first", err)
    assert.is_nil(domain.find("dup"))
    xs.rm(lifecycle.intent_path(uuid))
  end)
end)
