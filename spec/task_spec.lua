-- hosts: sim, xen
-- The scheduler and sync as scripts use them.
local task = require("task")
local sync = require("sync")
local time = require("time")

describe("tasks", function()
  it("blocking calls work inside pcall, coroutines and tail calls", function()
    local function nap() return task.sleep(0.001) end
    assert.truthy(pcall(function() nap(); nap() end))
    local gen = coroutine.wrap(function() nap(); coroutine.yield(1); nap(); return 2 end)
    assert.equal(1, gen())
    assert.equal(2, gen())
  end)

  it("timeout cancels the overrunning function", function()
    local ok, err = task.timeout(0.05, function() task.sleep(5) end)
    assert.falsy(ok)
    assert.equal("timeout", err)
  end)

  it("a task cannot cancel or join itself", function()
    assert.error(function() task.cancel(task.current()) end, "cannot cancel itself")
    assert.error(function() task.join(task.current()) end, "cannot join itself")
  end)
end)

describe("sync.mutex", function()
  it("serialises tasks without blocking the scheduler", function()
    local m = sync.mutex("counter", sync.FAST)
    local n, max_inside, inside = 0, 0, 0
    local ts = {}
    for i = 1, 10 do
      ts[i] = task.spawn(function()
        sync.with(m, function()
          inside = inside + 1
          max_inside = math.max(max_inside, inside)
          task.sleep(0.005)
          n = n + 1
          inside = inside - 1
        end)
      end)
    end
    for _, t in ipairs(ts) do assert.truthy(task.join(t)) end
    assert.equal(10, n)
    assert.equal(1, max_inside)
  end)

  it("raises when locks are taken out of order, naming both", function()
    local slow = sync.mutex("domain slow lock", sync.SLOW)
    local fast = sync.mutex("domain record lock", sync.FAST)
    sync.with(slow, function() sync.with(fast, function() end) end) -- the right order
    local err = assert.error(function()
      sync.with(fast, function() sync.with(slow, function() end) end)
    end)
    assert.contains("domain slow lock", err)
    assert.contains("domain record lock", err)
    assert.falsy(fast:held(), "released on the error")
  end)

  it("is released when its holder dies", function()
    local m = sync.mutex("orphan")
    local holder = task.spawn(function() m:lock(); error("died holding it") end)
    task.join(holder)
    local ok = task.timeout(0.5, function() m:lock(); m:unlock() end)
    assert.truthy(ok)
  end)
end)

describe("sync.queue", function()
  it("passes values between tasks and times out", function()
    local q = sync.queue()
    local consumer = task.spawn(function()
      local got = {}
      for _ = 1, 3 do got[#got + 1] = q:pop(1) end
      return got
    end)
    for i = 1, 3 do q:push(i); task.yield() end
    local ok, got = task.join(consumer)
    assert.same({ 1, 2, 3 }, got)
    local v, err = q:pop(0.01)
    assert.is_nil(v)
    assert.equal("timeout", err)
  end)
end)

describe("proc.run", function()
  local proc = require("proc")
  it("runs a command without stalling other tasks, and reports its exit code", function()
    local ticks = 0
    local ticker = task.spawn(function() for _ = 1, 20 do task.sleep(0.01); ticks = ticks + 1 end end)
    local r = assert.ok(proc.run("sleep 0.3; echo out; echo err >&2; exit 3"))
    assert.equal(3, r.code)
    assert.equal("out\n", r.stdout)
    assert.equal("err\n", r.stderr)
    assert.truthy(ticks >= 10, "other tasks ran meanwhile: " .. ticks)
    task.join(ticker)
    local r2 = assert.ok(proc.run({ "printf", "%s", "a b" }))
    assert.equal("a b", r2.stdout)
    local none, err = proc.run("sleep 5", { timeout = 0.1 })
    assert.is_nil(none)
    assert.equal("timeout", err)
  end)
end)
