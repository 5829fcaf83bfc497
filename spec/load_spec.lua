-- hosts: sim
-- Load: 500 create/destroy cycles over 200 domain names from concurrent
-- tasks in one Lua state with the supervisor running, then the xenstore tree,
-- the state directory and the domain list must be exactly as before. If
-- nothing progresses for 10 s, every task is dumped with its domain and line.
local task = require("task")
local time = require("time")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local helpers = require("helpers")

describe("500 create/destroy cycles over 200 domains", function()
  it("finish without deadlock or failure and leave everything as it was", function()
    supervisor.start()
    assert.ok(lifecycle.create({ name = "warm", memory = 16 }))
    assert.ok(lifecycle.destroy("warm"))
    task.sleep(0.1)
    local before = helpers.snapshot()
    local doms = helpers.count(helpers.domids())
    local records = #helpers.records()

    local done, failures, progress = 0, {}, time.monotonic()
    local workers = {}
    local t0 = time.monotonic()
    for w = 1, 200 do
      -- worker w owns domain "load<w>"; 500 cycles spread over 200 workers
      local cycles = (w <= 100) and 3 or 2
      workers[w] = task.spawn(function()
        local name = "load" .. w
        for _ = 1, cycles do
          local id, err = lifecycle.create({ name = name, memory = 16, on_poweroff = "destroy" })
          if not id then failures[#failures + 1] = name .. ": " .. tostring(err) return end
          helpers.wait_booted(id, 30)
          -- half the cycles end in a clean shutdown handled by the supervisor
          if (w + done) % 2 == 0 then
            local ok, serr = lifecycle.shutdown(name, { wait = true, timeout = 30 })
            if not ok then failures[#failures + 1] = name .. ": " .. tostring(serr) return end
            require("domain").wait_gone(id, 30)
          else
            local ok, derr = lifecycle.destroy(name)
            if not ok then failures[#failures + 1] = name .. ": " .. tostring(derr) return end
          end
          done = done + 1
          progress = time.monotonic()
        end
      end)
    end
    local guard = task.spawn(function()
      while true do
        task.sleep(1)
        if time.monotonic() - progress > 10 then
          print(task.dump(true))
          error("no cycle finished for 10 s: stalled (dump above)")
        end
      end
    end)
    for w = 1, 200 do
      local ok, err = task.join(workers[w])
      assert.truthy(ok, tostring(err))
    end
    task.cancel(guard)
    local took = time.monotonic() - t0
    assert.same({}, failures)
    assert.equal(500, done)
    task.sleep(0.2) -- let the supervisor finish the last policies
    helpers.assert_tree_unchanged(before, "xenstore tree after the load")
    assert.equal(doms, helpers.count(helpers.domids()), "domain list")
    assert.equal(records, #helpers.records(), "state directory")
    print(string.format("      500 cycles (create, boot, shutdown or destroy) in %.2fs: %.0f cycles/s", took, 500 / took))
  end, { timeout = 300 })
end)
