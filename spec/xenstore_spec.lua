-- hosts: sim, xen
-- The xenstore module as scripts see it: values, errors as nil, errno, path,
-- transactions retried on conflict, watches.
local xs = require("xenstore")
local task = require("task")

local base = "/local/domain/0/luxen-spec"

describe("xenstore", function()
  before_each(function() xs.rm(base) end)
  after_each(function() xs.rm(base) end)

  it("writes, reads, lists and removes", function()
    assert.ok(xs.write(base .. "/a/b", "1"))
    assert.equal("1", xs.read(base .. "/a/b"))
    assert.equal("", xs.read(base .. "/a"), "parents are created empty")
    assert.ok(xs.write(base .. "/a/c", "2"))
    assert.same({ "b", "c" }, xs.directory(base .. "/a"))
    assert.truthy(xs.exists(base .. "/a/c"))
    assert.ok(xs.rm(base .. "/a"))
    assert.falsy(xs.exists(base .. "/a/b"))
  end)

  it("returns nil, errno, path for expected failures", function()
    local v, err, path = xs.read(base .. "/missing")
    assert.is_nil(v)
    assert.equal("ENOENT", err)
    assert.equal(base .. "/missing", path)
    local ok, e2 = xs.write("bad//path", "x")
    assert.is_nil(ok)
    assert.equal("EINVAL", e2)
  end)

  it("sets and reads permissions", function()
    assert.ok(xs.write(base .. "/p", "x"))
    assert.ok(xs.set_perms(base .. "/p", { "n0", "r7" }))
    assert.same({ "n0", "r7" }, xs.get_perms(base .. "/p"))
    assert.error(function() xs.set_perms(base .. "/p", { "q1" }) end, "bad permission")
  end)

  it("sends a batch at once, answered in its order", function()
    local vals, err, path, errs = xs.batch({
      { "write", base .. "/b/x", "1" },
      { "set_perms", base .. "/b/x", { "n0", "r7" } },
      { "read", base .. "/b/x" },         -- sees the write before it
      { "get_perms", base .. "/b/x" },
      { "exists", base .. "/b/none" },
      { "read", base .. "/b/none" },
      { "directory", base .. "/b" },
      { "write", base .. "/b/y", "2" },   -- a failure does not stop the rest
      { "mkdir", base .. "/b/z" },
      { "rm", base .. "/b/y" },
    })
    assert.same({ true, true, "1", { "n0", "r7" }, false, false, { "x" }, true, true, true }, vals)
    assert.equal("ENOENT", err)
    assert.equal(base .. "/b/none", path)
    assert.same({ [6] = "ENOENT" }, errs)
    assert.falsy(xs.exists(base .. "/b/y"))
    assert.equal("", xs.read(base .. "/b/z"))
    local all, none = xs.batch({ { "read", base .. "/b/x" } })
    assert.same({ "1" }, all)
    assert.is_nil(none)
    assert.error(function() xs.batch({ { "frob", base } }) end, "unknown operation")
    assert.error(function() xs.batch({ { "set_perms", base, { "q1" } } }) end, "bad permission")
  end)

  it("lists the children whose node has a value", function()
    assert.ok(xs.batch({ { "write", base .. "/cw/1/name", "web" }, { "write", base .. "/cw/2/name", "db" },
      { "write", base .. "/cw/3/name", "web" }, { "mkdir", base .. "/cw/4" } }))
    local names = xs.children_where(base .. "/cw", "name", "web")
    table.sort(names)
    assert.same({ "1", "3" }, names)
    assert.same({}, xs.children_where(base .. "/cw", "name", "none"))
    local none, err = xs.children_where(base .. "/missing", "name", "web")
    assert.is_nil(none)
    assert.equal("ENOENT", err)
  end)

  it("batches inside a transaction", function()
    assert.ok(xs.transaction(function(t)
      local vals, err = t.batch({ { "write", base .. "/tb/a", "1" }, { "write", base .. "/tb/b", "2" },
        { "read", base .. "/tb/a" } })
      if err then return nil, err end
      assert.equal("1", vals[3])
      return true
    end))
    assert.equal("2", xs.read(base .. "/tb/b"))
  end)

  it("sends a batch as one transaction: all or nothing, and again on a conflict", function()
    local vals, err = xs.atomic({ { "write", base .. "/at/a", "1" }, { "write", base .. "/at/b", "2" },
      { "read", base .. "/at/a" }, { "set_perms", base .. "/at/b", { "n0", "r3" } } })
    assert.is_nil(err)
    assert.equal("1", vals[3])
    assert.equal("2", xs.read(base .. "/at/b"))
    assert.same({ "n0", "r3" }, xs.get_perms(base .. "/at/b"))
    -- a request that fails aborts the lot: the write before it is not made
    local v2, e2, p2, errs = xs.atomic({ { "write", base .. "/at/c", "3" }, { "read", base .. "/at/missing" },
      { "write", base .. "/at/d", "4" } })
    assert.equal("ENOENT", e2)
    assert.equal(base .. "/at/missing", p2)
    assert.equal("ENOENT", errs[2])
    assert.equal(false, v2[2])
    assert.falsy(xs.exists(base .. "/at/c"), "an aborted batch wrote nothing")
    assert.falsy(xs.exists(base .. "/at/d"))
    -- twenty at once writing one node: each conflicts with the others and is
    -- sent again until it commits; none gives up with EAGAIN
    local ts = {}
    for i = 1, 20 do
      ts[i] = task.spawn(function()
        return xs.atomic({ { "read", base .. "/at/a" }, { "write", base .. "/at/shared", tostring(i) },
          { "write", base .. "/at/n/" .. i, "x" } })
      end)
    end
    for i = 1, 20 do
      local ok, r, e = task.join(ts[i])
      assert.truthy(ok and r and not e, "atomic " .. i .. ": " .. tostring(e))
    end
    assert.equal(20, #xs.directory(base .. "/at/n"))
    assert.error(function() xs.atomic({ { "frob", base } }) end, "unknown operation")
  end)

  it("commits transactions and returns the body's results", function()
    local a, b = xs.transaction(function(t)
      t.write(base .. "/tx/x", "1")
      t.write(base .. "/tx/y", "2")
      assert.equal("1", t.read(base .. "/tx/x"))
      return "done", 2
    end)
    assert.equal("done", a)
    assert.equal(2, b)
    assert.equal("2", xs.read(base .. "/tx/y"))
  end)

  it("aborts a transaction whose body returns nil, err", function()
    local ok, err = xs.transaction(function(t)
      t.write(base .. "/aborted", "1")
      return nil, "changed my mind"
    end)
    assert.is_nil(ok)
    assert.equal("changed my mind", err)
    assert.falsy(xs.exists(base .. "/aborted"))
  end)

  it("retries a conflicting transaction until it commits", function()
    assert.ok(xs.write(base .. "/counter", "0"))
    local workers = {}
    for i = 1, 20 do
      workers[i] = task.spawn(function()
        return xs.transaction(function(t)
          local v, err = t.read(base .. "/counter")
          if not v then return nil, err end -- EAGAIN here means: start again
          task.yield() -- let others interleave so commits conflict
          local ok, werr = t.write(base .. "/counter", tostring(tonumber(v) + 1))
          if not ok then return nil, werr end
          return true
        end)
      end)
    end
    for i = 1, 20 do
      local ok, res, err, detail = task.join(workers[i])
      assert.truthy(ok and res, tostring(res) .. " " .. tostring(err) .. " " .. tostring(detail))
    end
    assert.equal("20", xs.read(base .. "/counter"), "no increment lost")
  end)

  it("re-raises an error from the body after aborting", function()
    assert.error(function()
      xs.transaction(function(t)
        t.write(base .. "/raised", "1")
        error("boom")
      end)
    end, "boom")
    assert.falsy(xs.exists(base .. "/raised"))
  end)

  it("delivers watch events, the first one at once", function()
    local w = assert.ok(xs.watch(base .. "/w"))
    assert.equal(base .. "/w", w:wait(2))
    -- writing w/child makes w implicitly: one event, for the path written
    task.spawn(function() xs.write(base .. "/w/child", "x") end)
    assert.equal(base .. "/w/child", w:wait(2))
    task.spawn(function() xs.rm(base .. "/w") end)
    assert.equal(base .. "/w", w:wait(2))
    local p, err = w:wait(0.05)
    assert.is_nil(p)
    assert.equal("timeout", err)
    w:close()
  end)

  it("reads the domain path and dom0's name", function()
    assert.equal("/local/domain/3", xs.get_domain_path(3))
    assert.equal("Domain-0", xs.read("/local/domain/0/name"))
  end)
end)
