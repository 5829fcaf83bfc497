-- hosts: xen
-- luxen on a real Xen 4.17 next to Xen's own xl: they agree on what is there,
-- and luxen's creates, pauses and destroys show up in `xl list`.
local xen = require("xen")
local domain = require("domain")
local lifecycle = require("lifecycle")
local helpers = require("helpers")

local sh = helpers.sh

-- xl list as rows by name
local function xl_list()
  local rows = {}
  for line in sh("xl list"):gmatch("[^\n]+") do
    local name, id, mem, vcpus, state = line:match("^(%S+)%s+(%d+)%s+(%d+)%s+(%d+)%s+(%S+)")
    if name then rows[name] = { id = tonumber(id), mem = tonumber(mem), vcpus = tonumber(vcpus), state = state } end
  end
  return rows
end

-- wait until xl list has n domains (a destroyed domain lingers while Xen frees it)
local function wait_xl_count(n)
  local task = require("task")
  for _ = 1, 100 do
    if helpers.count(xl_list()) == n then return true end
    task.sleep(0.1)
  end
  return false
end

local function xl_info()
  local info = {}
  for k, v in sh("xl info"):gmatch("([%w_]+)%s*:%s*([^\n]*)") do info[k] = v end
  return info
end

describe("luxen and xl", function()
  it("list the same domains with the same ids, memory and vcpus", function()
    local xl = xl_list()
    local n = 0
    for _, d in ipairs(assert.ok(domain.list())) do
      local row = xl[d.name]
      assert.not_nil(row, "xl list lacks " .. d.name)
      assert.equal(row.id, d.domid, d.name .. " id")
      assert.equal(row.vcpus, d.vcpus, d.name .. " vcpus")
      assert.truthy(math.abs(row.mem - d.mem_mib) <= 1, d.name .. string.format(" memory: xl %d, luxen %d", row.mem, d.mem_mib))
      n = n + 1
    end
    assert.equal(helpers.count(xl), n, "the same number of domains")
  end)

  it("agree on the host (xl info)", function()
    local xi = xl_info()
    local pi = assert.ok(xen.physinfo())
    assert.equal(tonumber(xi.nr_cpus), pi.nr_cpus)
    assert.equal(tonumber(xi.total_memory), math.floor(pi.total_kb / 1024))
    assert.truthy(math.abs(tonumber(xi.free_memory) - math.floor(pi.free_kb / 1024)) <= 2, "free memory")
    local v = assert.ok(xen.version())
    assert.equal(xi.xen_major .. "." .. xi.xen_minor, v:match("^(%d+%.%d+)"))
    assert.equal("xen", xen.host())
  end)
end)

describe("an empty domain (no kernel)", function()
  it("is created, paused, unpaused and destroyed by luxen, and xl list sees each step", function()
    -- first cycle makes the long-lived parents; the tree is compared after it
    assert.ok(lifecycle.create({ name = "warmup", memory = 16 }, { paused = true }))
    assert.ok(lifecycle.destroy("warmup"))
    local before = helpers.snapshot()
    local id = assert.ok(lifecycle.create({ name = "empty1", memory = 32, vcpus = 1 }, { paused = true }))
    local row = xl_list().empty1
    assert.not_nil(row, "xl list shows empty1")
    assert.equal(id, row.id)
    assert.equal(32, row.mem)
    assert.matches("^..p", row.state, "paused")
    assert.ok(lifecycle.unpause("empty1"))
    assert.falsy(xl_list().empty1.state:match("^..p"), "unpaused: " .. xl_list().empty1.state)
    assert.ok(lifecycle.pause("empty1"))
    assert.matches("^..p", xl_list().empty1.state)
    assert.ok(lifecycle.destroy("empty1"))
    assert.ok(domain.wait_gone(id, 10))
    assert.is_nil(xl_list().empty1, "xl list no longer shows it")
    helpers.assert_tree_unchanged(before)
    assert.equal(0, #helpers.records())
  end)

  it("a create Xen refuses (more memory than the host has) fails cleanly", function()
    local before = helpers.snapshot()
    local doms = helpers.count(xl_list())
    local pi = assert.ok(xen.physinfo())
    local too_much = math.floor(pi.total_kb / 1024) + 512
    local id, err = lifecycle.create({ name = "toobig", memory = too_much })
    assert.is_nil(id)
    assert.contains("ENOMEM", err)
    assert.truthy(wait_xl_count(doms), "xl list is as before")
    assert.is_nil(xl_list().toobig)
    helpers.assert_tree_unchanged(before)
    assert.equal(0, #helpers.records())
  end)

  it("a ramdisk larger than the guest's memory is refused before anything is created", function()
    local doms = helpers.count(xl_list())
    local big = helpers.file("big-initrd", "")
    assert.ok(require("proc").run({ "dd", "if=/dev/zero", "of=" .. big, "bs=1048576", "count=40" }))
    local id, err = lifecycle.create({ name = "bigrd", memory = 32, kernel = "/guest/vmlinuz", ramdisk = big })
    assert.is_nil(id)
    assert.contains("memory: 32 MiB is too small for the kernel and ramdisk", err)
    assert.equal(doms, helpers.count(xl_list()), "nothing was created")
  end)
end)
