-- hosts: xen
-- lab: driverdomain
-- Driver domains on real Xen: a PVH guest serves another guest's disk
-- (blkback over a ramdisk) and network (netback); it crashes, is destroyed,
-- is restarted, and the guest it serves keeps running throughout and reads
-- its disk and pings across its vif again each time, without a restart of
-- its own. The test guests (spec/xenlab/guest.go): luxen_action=driver loads
-- brd, blkback and netback and writes "LUXEN-DRV-RAM<n>-<nonce>" at the start
-- of /dev/ram<n>, with a nonce new at each boot, and prints it; a
-- luxen_action=reader guest reads xvda (and xvdb) every second past the
-- page cache and pings 10.99.0.1 (the driver domain's end of its vif).
local xs = require("xenstore")
local proc = require("proc")
local task = require("task")
local time = require("time")
local domain = require("domain")
local devices = require("devices")
local lifecycle = require("lifecycle")
local supervisor = require("supervisor")
local helpers = require("helpers")

local console = helpers.console

supervisor.RESCAN = 1
local sup

local DRV = { name = "drv", type = "pvh", kernel = "/guest/vmlinuz", ramdisk = "/guest/initrd.gz",
  extra = "console=hvc0 luxen_action=driver", memory = 128, vcpus = 1, cpus = helpers.LAB_CPUS, driver_domain = 1,
  on_crash = "restart", on_reboot = "restart" }
local FE = { name = "fe", type = "pvh", kernel = "/guest/vmlinuz", ramdisk = "/guest/initrd.gz",
  extra = "console=hvc0 luxen_action=reader", memory = 128, vcpus = 1, cpus = helpers.LAB_CPUS, on_reboot = "restart",
  disk = { "/dev/ram0,raw,xvda,r,backend=drv" }, vif = { "mac=00:16:3e:77:00:02,backend=drv" } }

local function wait_for(pred, what, timeout)
  local deadline = time.monotonic() + (timeout or 180)
  while time.monotonic() < deadline do
    local v = pred()
    if v then return v end
    task.sleep(0.5)
  end
  error("timed out waiting for " .. what .. "\nfe's console:\n" .. console("fe"):sub(-1200) ..
    "\ndrv's console:\n" .. console("drv"):sub(-600), 2)
end

-- the nonce of drv's newest boot that differs from not (nil before it is up)
local function nonce(not_this)
  local last
  for n in console("drv"):gmatch("LUXEN%-DRV%-READY nonce=(%x+)") do last = n end
  if last ~= not_this then return last end
end

-- fe has read disk d's marker from drv's boot with this nonce
local function read_from(d, ram, n)
  return function()
    return console("fe"):find("LUXEN%-READ " .. d .. " %d+ LUXEN%-DRV%-RAM" .. ram .. "%-" .. n)
  end
end

-- the nonce of drv's newest boot (not `old`) once fe has read it from disk d:
-- the newest, since a driver domain that triple-faults while it boots under
-- emulation is restarted by its on_reboot and writes a new one
local function reads_newest(d, ram, old)
  return function()
    local n = nonce(old)
    return n and read_from(d, ram, n)() and n
  end
end

-- ping replies counted so far
local function pings()
  local k = 0
  for _ in console("fe"):gmatch("LUXEN%-PING %d+ ok") do k = k + 1 end
  return k
end

local function pinging_again()
  local before = pings()
  return function() return pings() >= before + 2 end
end

local function count(pat)
  local k = 0
  for _ in console("fe"):gmatch(pat) do k = k + 1 end
  return k
end

-- say(word): a line to the reader guest through its console's pty, and its
-- answer awaited. "stop" quiesces its disk and network I/O (it waits for the
-- reads under way); "go" resumes it. Linux's blkfront has no timeout: a
-- request on the ring when the driver domain dies is never answered, and
-- the device's removal then waits for it for ever (only a resume, as after
-- a migration, replays such requests). So the guest is quiet when its
-- driver domain is killed: what is tested is that it gets its devices back.
local function say(word)
  local ack = word == "stop" and "LUXEN%-QUIET" or "LUXEN%-GO"
  local before = count(ack)
  local tty = assert(xs.read(domain.path(assert(domain.find("fe"))) .. "/console/tty"))
  assert.ok(proc.run({ "sh", "-c", "printf '" .. word .. "\\n' > " .. tty }))
  wait_for(function() return count(ack) > before end, "the guest's answer to " .. word, 90)
  -- a read that did not end in 30 s is one the driver domain never answered
  local last
  for l in console("fe"):gmatch("LUXEN%-QUIET[^\n]*") do last = l end
  assert.falsy(word == "stop" and last:find("stuck", 1, true), "the guest quiesced: " .. tostring(last))
end

-- fe's devices are all connected through drv's current domid
local function reconnected()
  local drv = domain.find("drv")
  for _, class in ipairs({ "vbd", "vif" }) do
    local l = devices.list(assert(domain.find("fe")), class)
    if #l == 0 then return false end
    for _, d in ipairs(l) do
      if d.backend_id ~= drv or d.state ~= 4 or d.backend_state ~= 4 then return false end
    end
  end
  return true
end

-- "the guest was not restarted", or why it was: a triple fault of the
-- guest under emulation (QEMU's TCG; Xen logs it and reboots the domain) is
-- named as such, so that a failure says whether luxen restarted it
local function assert_not_restarted(fe_id)
  local now = domain.find("fe")
  if now == fe_id then return end
  local why = helpers.sh("xl dmesg | grep 'd" .. fe_id .. "v0 Triple fault' || true")
  error(string.format("the guest was restarted (domid %d, now %s)%s", fe_id, tostring(now),
    why ~= "" and ("; Xen: " .. why) or ""), 2)
end

local function perms(path)
  return table.concat(assert.ok(xs.get_perms(path)), ",")
end

-- One scenario, its steps in order, each printed as it passes. (Under the
-- lab's emulation a Linux guest whose vCPU moves between CPUs may
-- triple-fault in its boot: the guests are pinned, helpers.LAB_CPUS, and a
-- restart of the guest that one caused is named as such.)
local function clean()
  for _, n in ipairs({ "fe", "drv" }) do
    if domain.find(n) then lifecycle.destroy(n) end
    helpers.wait_name_gone(n)
  end
end

local function step(name, fn)
  local t0 = time.monotonic()
  fn()
  print(string.format("STEP ok %s (%.1f s)", name, time.monotonic() - t0))
end

local function scenario()
  local fe_id, n1

  step("serves a guest's disk and vif: both ends connect, with libxl's permissions", function()
    local old_nonce = nonce() -- the console log goes on across boots and attempts
    local drv = assert.ok(lifecycle.create(DRV))
    wait_for(function() return nonce(old_nonce) end, "the driver domain's blkback and netback")
    fe_id = assert.ok(lifecycle.create(FE))
    n1 = wait_for(reads_newest("xvda", 0), "fe reading drv's ramdisk")
    wait_for(function() return pings() > 0 end, "fe pinging drv across its vif")
    -- the guest that reads: one that triple-faulted in its first boot under
    -- emulation has been restarted by its on_reboot, before any claim here
    -- (that it is not restarted) was made of it
    fe_id = assert(domain.find("fe"))
    -- drv's domid now: a driver domain that triple-faulted while it booted
    -- under emulation has been restarted by its on_reboot
    drv = assert(domain.find("drv"))
    for _, class in ipairs({ "vbd", "vif" }) do
      local d = devices.list(fe_id, class)[1]
      assert.equal(devices.STATE.Connected, d.state, class .. " frontend state")
      assert.equal(devices.STATE.Connected, d.backend_state, class .. " backend state")
      assert.equal(drv, d.backend_id, class .. " backend-id")
      assert.matches("^/local/domain/" .. drv .. "/backend/" .. class .. "/" .. fe_id .. "/", d.backend)
      -- libxl_device.c: the frontend's directory is the guest's, readable by
      -- the backend; the backend's is the driver domain's, readable by the guest
      local fe_dir = domain.path(fe_id) .. "/device/" .. class .. "/" .. d.devid
      assert.equal("n" .. fe_id .. ",r" .. drv, perms(fe_dir), class .. " frontend permissions")
      assert.equal("n" .. drv .. ",r" .. fe_id, perms(d.backend), class .. " backend permissions")
    end
    -- dom0 did the driver domain's hotplug: the ramdisk's number, no loop device
    local bk = devices.list(fe_id, "vbd")[1].backend
    assert.equal("1:0", xs.read(bk .. "/physical-device"))
    assert.equal("connected", xs.read(bk .. "/hotplug-status"))
    assert.falsy(assert.ok(proc.run({ "losetup", "-a" })).stdout:find("ram0", 1, true), "no loop device in dom0")
  end)

  step("crashes: the supervisor restarts it and the guest reads and pings again, not restarted", function()
    local drv = assert(domain.find("drv"))
    local t0 = time.monotonic()
    local since = pinging_again()
    say("stop")
    -- a kernel panic inside the driver domain (xl sysrq drv c)
    assert.ok(xs.write(domain.path(drv) .. "/control/sysrq", "c"))
    assert.ok(domain.wait_name("drv", 120, drv))
    wait_for(reconnected, "fe's devices reconnected to the restarted drv")
    say("go")
    local n2 = wait_for(reads_newest("xvda", 0, n1), "fe reading the restarted drv's ramdisk")
    local t_read = time.monotonic() - t0
    wait_for(since, "fe pinging the restarted drv")
    print(string.format("TIMING driverdomain crash: driver domain death to the guest's next read %.1f s, " ..
      "to its next ping %.1f s (the driver domain's own boot to READY is most of it)", t_read, time.monotonic() - t0))
    assert_not_restarted(fe_id)
    local drv2 = assert(domain.find("drv"))
    assert.not_equal(drv, drv2)
    assert.equal(drv2, devices.list(fe_id, "vbd")[1].backend_id)
    -- the dead driver domain is gone for good: nothing of it held by anyone
    helpers.wait_until(function() return not helpers.xl_names():find("(null)", 1, true) end, 60, "the crashed drv released")
    assert.falsy(xs.exists(domain.path(drv)), "the dead driver domain's xenstore tree")
    n1 = n2
  end)

  step("is destroyed: the guest's devices are disconnected, and come back with a new driver domain", function()
    local drv = assert(domain.find("drv"))
    say("stop")
    assert.ok(lifecycle.destroy("drv"))
    wait_for(function() return #devices.list(fe_id, "vbd") == 0 and #devices.list(fe_id, "vif") == 0 end,
      "fe's devices unplugged")
    say("go")
    wait_for(function() return console("fe"):find("LUXEN%-READ xvda %d+ absent") end, "fe seeing its disk gone")
    local n = 0
    for _, r in ipairs(require("records").list()) do
      if r.name == "fe" then
        for _, e in pairs(r.devices) do
          assert.truthy(e.disconnected, e.class .. " recorded as disconnected")
          n = n + 1
        end
      end
    end
    assert.equal(2, n, "both devices still recorded")
    local t0 = time.monotonic()
    local since = pinging_again()
    say("stop")
    local drv3 = assert.ok(lifecycle.create(DRV))
    assert.not_equal(drv, drv3)
    wait_for(reconnected, "fe's devices connected to the new drv")
    say("go")
    local n3 = wait_for(reads_newest("xvda", 0, n1), "fe reading the new drv's ramdisk")
    wait_for(since, "fe pinging the new drv")
    print(string.format("TIMING driverdomain recreate: create of the new driver domain to the guest's next read %.1f s",
      time.monotonic() - t0))
    assert_not_restarted(fe_id)
    n1 = n3
  end)

  step("fails over: a disk with fallback=Domain-0 moves to dom0 when it goes, and back when it returns", function()
    -- dom0's own ramdisk, with a marker of its own, is the fallback's /dev/ram0
    local ram = assert.ok(proc.run({ "sh", "-c", "{ [ -b /dev/ram0 ] || insmod /lib/modules/brd.ko rd_nr=1 rd_size=4096; } && " ..
      "printf LUXEN-DOM0-RAM0 | dd of=/dev/ram0 conv=notrunc 2>&1" }))
    assert.equal(0, ram.code, "dom0's ramdisk: " .. ram.stdout .. ram.stderr)
    local r = assert.ok(proc.run({ "luxen", "block-attach", "fe", "/dev/ram0,raw,xvdc,r,backend=drv,fallback=Domain-0" },
      { timeout = 120 }))
    assert.equal(0, r.code, r.stdout .. r.stderr)
    wait_for(reads_newest("xvdc", 0), "fe reading xvdc through drv")
    say("stop")
    assert.ok(lifecycle.destroy("drv"))
    local function xvdc_via(be)
      return function()
        for _, d in ipairs(devices.list(fe_id, "vbd")) do
          if d.vdev == "xvdc" then return d.backend_id == be and d.state == 4 and d.backend_state == 4 end
        end
      end
    end
    wait_for(xvdc_via(0), "xvdc failed over to dom0")
    assert.equal(1, #devices.list(fe_id, "vbd"), "xvda has no fallback: disconnected")
    say("go")
    wait_for(function() return console("fe"):find("LUXEN%-READ xvdc %d+ LUXEN%-DOM0%-RAM0") end, "fe reading dom0's ramdisk")
    local conns = helpers.sh("luxen connections fe")
    assert.matches("fe +vbd +xvdc +drv +Domain%-0 +Domain%-0 +connected", conns)
    assert.matches("fe +vbd +xvda +drv +%- +%- +disconnected", conns)
    -- drv comes back: xvdc fails back, xvda is plugged in again
    say("stop")
    assert.ok(lifecycle.create(DRV))
    wait_for(function() return reconnected() and xvdc_via(domain.find("drv"))() end, "all of fe's devices through drv again")
    say("go")
    local n = wait_for(reads_newest("xvdc", 0, n1), "fe reading xvdc through the new drv")
    wait_for(read_from("xvda", 0, n), "fe reading xvda through the new drv")
    assert_not_restarted(fe_id)
    say("stop")
    assert.ok(devices.detach(fe_id, "vbd", devices.vdev_devid("xvdc"), { timeout = 30 }))
    say("go")
    n1 = n
  end)

  step("keeps a hot-plugged disk across its own restart and the guest's", function()
    local r = assert.ok(proc.run({ "luxen", "block-attach", "fe", "/dev/ram1,raw,xvdb,r,backend=drv" }, { timeout = 120 }))
    assert.equal(0, r.code, r.stdout .. r.stderr)
    n1 = wait_for(reads_newest("xvdb", 1), "fe reading the hot-plugged disk")
    -- the driver domain restarts (reboot: its on_reboot)
    local drv = assert(domain.find("drv"))
    say("stop")
    assert.ok(lifecycle.reboot("drv"))
    assert.ok(domain.wait_name("drv", 120, drv))
    wait_for(reconnected, "fe's devices reconnected to the rebooted drv")
    say("go")
    local n2 = wait_for(reads_newest("xvda", 0, n1), "fe reading xvda from the rebooted drv")
    wait_for(read_from("xvdb", 1, n2), "fe reading the hot-plugged xvdb from the rebooted drv")
    -- the guest restarts: both disks come back with it
    local mark = #console("fe")
    assert.ok(lifecycle.reboot("fe"))
    assert.ok(domain.wait_name("fe", 120, fe_id))
    -- the reads of the restarted guest: after its boot's first line (the old
    -- one goes on reading until it has shut down)
    wait_for(function()
      local s = console("fe"):sub(mark)
      local up = s:find("LUXEN%-GUEST%-UP action=reader", 1)
      s = up and s:sub(up) or ""
      return s:find("LUXEN%-READ xvda %d+ LUXEN%-DRV%-RAM0%-" .. n2) and s:find("LUXEN%-READ xvdb %d+ LUXEN%-DRV%-RAM1%-" .. n2)
    end, "the restarted fe reading both disks")
    local fe2 = assert(domain.find("fe"))
    assert.not_equal(fe_id, fe2, "fe restarted")
    assert.equal(2, #devices.list(fe2, "vbd"))
  end)

end

describe("a driver domain on real Xen", function()
  it("serves a guest's disk and vif, and the guest keeps them across its crash, destroy, failover and reboot", function()
    sup = supervisor.start()
    clean()
    scenario()
  end, { timeout = 600 })

  it("leaves nothing behind", function()
    assert.ok(lifecycle.destroy("fe"))
    assert.ok(lifecycle.destroy("drv"))
    task.cancel(sup)
    xs.rm(supervisor.MARKER)
    helpers.wait_name_gone("fe")
    helpers.wait_name_gone("drv")
    assert.equal(0, #helpers.records())
    -- the failover's dom0 backend is gone (the class directory may stay,
    -- empty, as a driver domain's does)
    assert.same({}, xs.directory("/local/domain/0/backend/vbd") or {}, "dom0 backends")
  end, { timeout = 120 })
end)
