-- hosts: sim, xen
-- Pauses nest, as Xen 4.17 counts them in d->controller_pause_count
-- (xen/common/domain.c, RELEASE-4.17.5): a new domain holds one pause
-- (domain_create, 687-688) that the create drops with its one unpause; every
-- pause adds one, up to 255 (-EOVERFLOW past it, 1306-1311); every unpause
-- takes one, and with none held it is -EINVAL (1340-1341); getdomaininfo's
-- paused flag is "count > 0" (xen/common/domctl.c:101). Runs on the simulated
-- host and on real Xen, which must agree.
local xen = require("xen")
local domain = require("domain")
local lifecycle = require("lifecycle")

-- every domain this file makes, destroyed after each `it` whatever happened
local NAMES = { "pnest", "pcreate", "plimit" }

local function cleanup()
  for _, name in ipairs(NAMES) do
    local id = domain.find(name)
    if id then
      assert.ok(lifecycle.destroy(name))
      assert.ok(domain.wait_gone(id, 30))
    end
  end
end

local function paused(id) return assert.ok(xen.info(id)).paused end

-- EOVERFLOW has no name in hypercall.ErrnoName yet, so Lua sees "errno 75"
-- (Linux's number for it) on privcmd and on the simulated host alike
local function is_eoverflow(e) return e == "EOVERFLOW" or e == "errno 75" end

describe("pausing a domain", function()
  after_each(cleanup)

  it("nests: two pauses need two unpauses", function()
    local id = assert.ok(lifecycle.create({ name = "pnest", memory = 16 }))
    assert.falsy(paused(id), "create ends with the domain running")
    assert.ok(lifecycle.pause("pnest"))
    assert.ok(lifecycle.pause("pnest"))
    assert.truthy(paused(id), "paused twice")
    assert.ok(lifecycle.unpause("pnest"))
    assert.truthy(paused(id), "paused twice, unpaused once: Xen keeps it paused")
    assert.matches("^..p", assert.ok(xen.info(id)).state)
    assert.ok(lifecycle.unpause("pnest"))
    assert.falsy(paused(id), "unpaused as often as paused")
    assert.falsy(assert.ok(xen.info(id)).state:match("^..p"))
  end)

  it("an unpause with no pause held fails with EINVAL and changes nothing", function()
    local id = assert.ok(lifecycle.create({ name = "pnest", memory = 16 }))
    local ok, errno, detail = xen.unpause(id)
    assert.is_nil(ok)
    assert.equal("EINVAL", errno, tostring(detail))
    assert.falsy(paused(id))
    local lok, lerr = lifecycle.unpause("pnest")
    assert.is_nil(lok)
    assert.contains("EINVAL", lerr)
    -- the failed unpause did not leave a debt: one pause still pauses
    assert.ok(lifecycle.pause("pnest"))
    assert.truthy(paused(id))
  end)

  it("create with paused=true leaves exactly the creation pause: one unpause runs it", function()
    local id = assert.ok(lifecycle.create({ name = "pcreate", memory = 16 }, { paused = true }))
    assert.truthy(paused(id), "created paused")
    assert.ok(lifecycle.unpause("pcreate"))
    assert.falsy(paused(id), "one unpause drops the creation pause")
    local ok, errno = xen.unpause(id)
    assert.is_nil(ok)
    assert.equal("EINVAL", errno, "no second pause was held")
  end)

  it("counts at most 255 pauses: the 256th fails with EOVERFLOW and is not counted", function()
    local id = assert.ok(lifecycle.create({ name = "plimit", memory = 16 }))
    for i = 1, 255 do
      local ok, errno, detail = xen.pause(id)
      assert.truthy(ok, "pause " .. i .. ": " .. tostring(errno) .. " " .. tostring(detail))
    end
    local ok, errno, detail = xen.pause(id)
    assert.is_nil(ok, "pause 256 succeeded")
    assert.truthy(is_eoverflow(errno), "pause 256: expected EOVERFLOW, got " .. tostring(errno) .. " " .. tostring(detail))
    for i = 1, 255 do
      assert.truthy(paused(id), "running after " .. (i - 1) .. " of 255 unpauses")
      local uok, uerr, udetail = xen.unpause(id)
      assert.truthy(uok, "unpause " .. i .. ": " .. tostring(uerr) .. " " .. tostring(udetail))
    end
    assert.falsy(paused(id), "255 pauses and 255 unpauses: running")
    local uok, uerr = xen.unpause(id)
    assert.is_nil(uok)
    assert.equal("EINVAL", uerr)
  end)

  it("dom0, the caller, is neither paused nor unpaused (EINVAL)", function()
    local ok, errno = xen.pause(0)
    assert.is_nil(ok)
    assert.equal("EINVAL", errno)
    ok, errno = xen.unpause(0)
    assert.is_nil(ok)
    assert.equal("EINVAL", errno)
    assert.falsy(paused(0))
  end)
end)
