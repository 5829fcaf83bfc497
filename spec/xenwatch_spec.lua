-- hosts: sim, xen
-- Per-domain watch dispatch: a handler stuck on one domain stalls only that
-- domain; its queue is bounded and overflow is counted and logged.
local xs = require("xenstore")
local task = require("task")
local time = require("time")
local xenwatch = require("xenwatch")

local base = "/local/domain/0/backend/spec"

describe("xenwatch.dispatch", function()
  after_each(function() xs.rm(base) end)

  it("routes events by domain, backend paths by their frontend", function()
    assert.equal(5, xenwatch.domain_of("/local/domain/5/device/vbd/51712/state"))
    assert.equal(7, xenwatch.domain_of("/local/domain/0/backend/vbd/7/51712/state"))
    assert.is_nil(xenwatch.domain_of("/vm/abc"))
  end)

  it("a handler stuck on one domain does not delay another's events", function()
    local seen6 = {}
    local d = assert.ok(xenwatch.dispatch(base, function(domid, path)
      if domid == 5 then task.sleep(3600) end -- stuck forever
      if domid == 6 then seen6[#seen6 + 1] = time.monotonic() end
    end, { limit = 4 }))
    xs.write(base .. "/5/a", "x") -- domain 5's handler sticks here
    task.sleep(0.05)
    local t0 = time.monotonic()
    for i = 1, 3 do xs.write(base .. "/6/k" .. i, "x") end
    local deadline = time.monotonic() + 2
    while #seen6 < 3 and time.monotonic() < deadline do task.sleep(0.01) end
    assert.equal(3, #seen6, "domain 6's events were handled")
    assert.truthy(seen6[3] - t0 < 0.5, "promptly")
    -- domain 5 keeps receiving until its bounded queue is full, then drops and counts
    for i = 1, 10 do xs.write(base .. "/5/b" .. i, "x") end
    task.sleep(0.1)
    local st = d.stats()
    assert.equal(4, st[5].queued)
    assert.truthy(st[5].dropped >= 5, "dropped " .. tostring(st[5].dropped))
    d.close()
  end)
end)
