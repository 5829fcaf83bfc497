-- hosts: sim, xen
-- vCPU affinity, xl.cfg(5)'s cpus and cpus_soft: parsed as xl parses them,
-- set before the guest first runs, read back from the hypervisor (and, on
-- real Xen, from xl vcpu-list as well), and a CPU the host lacks refused
-- with the config's line, leaving no domain behind.
local config = require("config")
local lifecycle = require("lifecycle")
local xen = require("xen")
local domain = require("domain")
local helpers = require("helpers")

describe("cpus and cpus_soft", function()
  it("parse as xl's CPU lists", function()
    local cases = {
      { '"0-3,5,^1"', { all = { 0, 2, 3, 5 } } },
      { '"all,^0"', nil, 1023 },
      { "2", { all = { 2 } } },
      { '["1", "0-2,^1"]', { per = { { 1 }, { 0, 2 } } } },
    }
    for _, c in ipairs(cases) do
      local path = helpers.file("c.cfg", 'name = "c"\nvcpus = 2\ncpus = ' .. c[1] .. '\n')
      local cfg = assert.ok(config.load(path))
      if c[2] then
        assert.same(c[2], cfg.cpus, c[1])
      else
        assert.equal(1, cfg.cpus.all[1], c[1])
        assert.equal(c[3], cfg.cpus.all[#cfg.cpus.all], c[1])
      end
    end
    for text, pattern in pairs({
      ['"^1"'] = 'c.cfg:3: cpus: "%^1" leaves no CPU',
      ['"1-x"'] = 'c.cfg:3: cpus: "1%-x" is not a CPU',
      ['"nodes:0"'] = "NUMA node lists are not supported",
      ['["0", "1", "1"]'] = "c.cfg:3: cpus: 3 CPU lists for 2 vcpus",
    }) do
      local path = helpers.file("c.cfg", 'name = "c"\nvcpus = 2\ncpus = ' .. text .. '\n')
      local cfg, err = config.load(path)
      assert.falsy(cfg, text)
      assert.matches(pattern, err)
    end
  end)

  it("pin each vCPU before the domain runs, and refuse a CPU the host lacks", function()
    local pi = assert.ok(xen.physinfo())
    assert.truthy(pi.nr_cpus >= 2, "a host of two CPUs at least")
    local last = pi.nr_cpus - 1
    local path = helpers.file("aff.cfg", string.format(
      'name = "aff"\nmemory = 32\nvcpus = 2\ncpus = ["%d", "0-%d"]\ncpus_soft = "0"\n', last, last))
    local id = assert.ok(lifecycle.create(path))
    local ok, err = pcall(function()
      local a0 = assert.ok(xen.vcpu_affinity(id, 0))
      assert.same({ last }, a0.hard)
      assert.same({ 0 }, a0.soft)
      local a1 = assert.ok(xen.vcpu_affinity(id, 1))
      assert.equal(pi.nr_cpus, #a1.hard)
      if xen.host() == "xen" then
        -- xl's own reading of the same vCPUs: "Hard / Soft" columns
        local out = helpers.sh("xl vcpu-list aff")
        assert.matches("\naff +%d+ +0 +%S+ +%S+ +%S+ +" .. last .. " / 0\n", out)
      end
      -- a vCPU the domain lacks, and a hard set with no CPU of the host's
      local none, errno = xen.set_vcpu_affinity(id, { vcpu = 2, hard = { 0 } })
      assert.falsy(none)
      assert.equal("EINVAL", errno)
      none, errno = xen.set_vcpu_affinity(id, { vcpu = 0, hard = { pi.nr_cpus } })
      assert.falsy(none)
      assert.equal("EINVAL", errno)
      assert.same({ last }, assert.ok(xen.vcpu_affinity(id, 0)).hard, "a refused set changes nothing")
    end)
    assert.ok(lifecycle.destroy("aff"))
    if not ok then error(err, 0) end

    helpers.refused_create(helpers.file("bad.cfg", string.format('name = "bad"\nmemory = 32\n\ncpus = "%d"\n', pi.nr_cpus)),
      "bad.cfg:4: cpus: CPU " .. pi.nr_cpus .. " does not exist")
    assert.falsy(domain.find("bad"))
  end)
end)
