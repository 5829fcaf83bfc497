--- domain: look domains up and wait for them, joining what the hypervisor
--- knows (xen.list) with what xenstore knows (names, paths).
--
--   local domain = require("domain")
--   domain.list() -> { {domid, name, uuid, state, mem_mib, vcpus, cpu_time, info}, ... }
--   domain.find("web1" | 7 | "7") -> domid | nil, err
--   domain.name(domid) -> name | nil
--   domain.path(domid) -> "/local/domain/<domid>"
--   domain.wait(domid, pred, timeout) -> info | nil, "gone" | "timeout"
--   domain.wait_gone(domid, timeout) ; domain.wait_shutdown(domid, timeout)
--   domain.wait_name(name, timeout, not_domid) -> domid | nil, "timeout"
--   domain.format_list(doms) -> text in `xl list` columns
local xs = require("xenstore")
local xen = require("xen")
local time = require("time")

local M = {}

function M.path(domid) return "/local/domain/" .. domid end

function M.name(domid)
  if domid == 0 then return xs.read_or("/local/domain/0/name", "Domain-0") end
  local n = xs.read(M.path(domid) .. "/name")
  return n
end

function M.list()
  local infos, err, detail = xen.list()
  if not infos then return nil, err, detail end
  -- every domain's name in one batch: a list of many domains (and every
  -- find by name lists them) costs one xenstore round trip, not one each
  local reqs = {}
  for i, d in ipairs(infos) do reqs[i] = { "read", M.path(d.domid) .. "/name" } end
  local names = xs.batch(reqs)
  local out = {}
  for i, d in ipairs(infos) do
    local name = names[i] or nil
    if not name and d.domid == 0 then name = "Domain-0" end
    out[#out + 1] = {
      domid = d.domid,
      name = name or "(null)", -- xl's spelling for a domain without a name
      uuid = d.uuid,
      state = d.state,
      mem_mib = math.floor(d.memory_kb / 1024),
      vcpus = d.online_vcpus,
      cpu_time = d.cpu_time,
      info = d,
    }
  end
  return out
end

function M.find(target)
  local id = tonumber(target)
  if id then
    local info = xen.info(id)
    if not info then return nil, "no domain with id " .. id end
    return id
  end
  -- by name: the domains with that name in xenstore, in one listing and
  -- one pipeline (xenstore.children_where); the lowest domid the hypervisor
  -- knows wins, as a scan of domain.list finds it, without a table of
  -- hypervisor facts per domain: a find runs for every create and destroy,
  -- over every domain there is
  local ids, err, detail = xs.children_where("/local/domain", "name", tostring(target))
  if not ids then return nil, err, detail end
  local domids = {}
  for _, s in ipairs(ids) do
    local d = tonumber(s)
    if d then domids[#domids + 1] = d end
  end
  if target == "Domain-0" and not xs.exists("/local/domain/0/name") then domids[#domids + 1] = 0 end
  table.sort(domids)
  for _, d in ipairs(domids) do
    if xen.info(d) then return d end
  end
  return nil, "no domain named '" .. tostring(target) .. "'"
end

-- wait(domid, pred, timeout): re-check the domain every time the hypervisor
-- reports a domain change (@releaseDomain) until pred(info) holds.
function M.wait(domid, pred, timeout)
  local deadline = timeout and (time.monotonic() + timeout)
  local w, err = xs.watch("@releaseDomain")
  if not w then return nil, err end
  local function finish(...) w:close(); return ... end
  while true do
    local info = xen.info(domid)
    if not info then return finish(nil, "gone") end
    if pred(info) then return finish(info) end
    local left = deadline and (deadline - time.monotonic())
    if left and left <= 0 then return finish(nil, "timeout") end
    -- re-check at least every second, in case an event was missed (a xenstored restart)
    local _, werr = w:wait(left and math.min(left, 1) or 1)
    if werr and werr ~= "timeout" then return finish(nil, werr) end
  end
end

function M.wait_shutdown(domid, timeout)
  return M.wait(domid, function(i) return i.shutdown end, timeout)
end

function M.wait_gone(domid, timeout)
  local info, err = M.wait(domid, function() return false end, timeout)
  if err == "gone" then return true end
  return nil, err
end

-- wait_name(name, timeout, not_domid): wait until a domain called name exists
-- (and is not not_domid): how a restart is observed.
function M.wait_name(name, timeout, not_domid)
  local deadline = time.monotonic() + (timeout or 30)
  local w = xs.watch("/local/domain")
  local function finish(...) if w then w:close() end; return ... end
  while true do
    local doms = M.list() or {}
    for _, d in ipairs(doms) do
      if d.name == name and d.domid ~= not_domid and not d.info.shutdown then return finish(d.domid) end
    end
    local left = deadline - time.monotonic()
    if left <= 0 then return finish(nil, "timeout") end
    if w then w:wait(math.min(left, 1)) end
  end
end

-- Xen's SHUTDOWN_* codes (xen/include/public/sched.h), which xl list -v prints in hex
local REASON_CODE = { poweroff = 0, reboot = 1, suspend = 2, crash = 3, watchdog = 4, soft_reset = 5 }

--- format_list(doms [, verbose]) -> xl list's table; verbose adds xl list -v's
--- UUID, Reason-Code (hex, "-" while running) and Security Label ("-": luxen
--- sets no XSM labels) columns
function M.format_list(doms, verbose)
  local head = "Name                                        ID   Mem VCPUs\tState\tTime(s)"
  if verbose then head = head .. "   UUID                            Reason-Code\tSecurity Label" end
  local lines = { head }
  for _, d in ipairs(doms) do
    local l = string.format("%-40s %5d %5d %5d     %s  %8.1f", d.name, d.domid, d.mem_mib, d.vcpus, d.state, d.cpu_time)
    if verbose then
      local reason = d.info and d.info.shutdown and REASON_CODE[d.info.shutdown_reason]
      l = l .. " " .. tostring(d.uuid) .. (reason and string.format(" %8x", reason) or string.format(" %8s", "-"))
        .. string.format(" %16s", "-")
    end
    lines[#lines + 1] = l
  end
  return table.concat(lines, "\n")
end

return M
