-- hosts: sim
-- Many lifecycles at once in one Lua state: no deadlock, no leak, and one
-- domain's stuck handler or runaway script never delays another domain.
local xs = require("xenstore")
local xen = require("xen")
local task = require("task")
local time = require("time")
local domain = require("domain")
local lifecycle = require("lifecycle")
local helpers = require("helpers")

describe("200 domains created and destroyed by 200 tasks at once", function()
  it("all succeed and leave nothing behind", function()
    -- warm up once so the long-lived parents (/vm, /libxl, mtwatch) exist
    assert.ok(lifecycle.create({ name = "warm", memory = 16 }))
    assert.ok(lifecycle.destroy("warm"))
    local before = helpers.snapshot()
    local doms = helpers.count(helpers.domids())
    local tasks = {}
    local t0 = time.monotonic()
    for i = 1, 200 do
      tasks[i] = task.spawn(function()
        local name = "c" .. i
        local id = assert.ok(lifecycle.create({ name = name, memory = 16 }))
        helpers.wait_booted(id)
        task.yield()
        assert.ok(lifecycle.destroy(name))
        return id
      end)
    end
    local seen = {}
    for i = 1, 200 do
      local ok, id = task.join(tasks[i])
      assert.truthy(ok, "task " .. i .. ": " .. tostring(id))
      seen[id] = (seen[id] or 0) + 1
    end
    local elapsed = time.monotonic() - t0
    helpers.assert_tree_unchanged(before, "leaked xenstore nodes")
    assert.equal(doms, helpers.count(helpers.domids()), "leaked domains")
    assert.equal(0, #helpers.records(), "leaked records")
    print(string.format("      200 concurrent create+boot+destroy cycles: %.2fs", elapsed))
  end, { timeout = 60 })
end)

describe("isolation between domains", function()
  it("a handler stuck in one domain's task group does not delay another domain's create", function()
    local a = assert.ok(lifecycle.create({ name = "stuck-a", memory = 16 }))
    -- a handler for domain a that never returns: it waits on a watch nobody fires
    local stuck = task.spawn_in("domain:stuck-a", "stuck handler", function()
      local w = xs.watch("/never/fires")
      w:wait() -- initial event
      w:wait() -- forever
    end)
    task.yield()
    local t0 = time.monotonic()
    local b = assert.ok(lifecycle.create({ name = "quick-b", memory = 16 }))
    helpers.wait_booted(b)
    local took = time.monotonic() - t0
    assert.truthy(took < 1, string.format("create of b took %.3fs while a's handler was stuck", took))
    assert.equal("waiting", stuck:status())
    -- destroying a cancels its task group, the stuck handler included
    assert.ok(lifecycle.destroy("stuck-a"))
    assert.equal("failed", stuck:status())
    assert.ok(lifecycle.destroy("quick-b"))
  end)

  it("the watchdog names a task that runs Lua too long without yielding and interrupts it", function()
    local spinner = task.spawn_in("domain:spinner", "runaway policy", function()
      local x = 0
      while true do x = x + 1 end
    end)
    local t0 = time.monotonic()
    local b = assert.ok(lifecycle.create({ name = "meanwhile", memory = 16 }))
    local ok, err = task.join(spinner)
    assert.falsy(ok)
    assert.contains("watchdog", err)
    assert.contains('"runaway policy"', err)
    assert.contains("domain:spinner", err)
    assert.matches("concurrency_spec%.lua:%d+", err)
    local reported = false
    for _, r in ipairs(task.reports()) do
      if r:find("runaway policy", 1, true) then reported = true end
    end
    assert.truthy(reported, "the report is kept for task.reports()")
    assert.ok(lifecycle.destroy(b))
  end)
end)
