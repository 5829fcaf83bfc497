--- schema: checking one value against a field's declared type.
--
-- Domain configs (config.schema) and device classes (their `fields`) declare
-- their keys the same way; both are checked here, so config and the devices
-- engine share the rules without either needing the other.
--
--   local schema = require("schema")
--   schema.check(key, spec, value) -> value (normalised) | nil, "what is wrong"
--   schema.check_file(path) -> true | nil, "path: what is wrong"
--
-- A spec has a kind: string, integer, enum, bool, list or uuid.
--   string   pattern, explain  what the value must match, and how to say so
--            not_number        refuse a value tonumber reads: domain.find (and
--                              xl's find_domain) take a number for a domid, so a
--                              domain named "99" could never be named
--            max_len           the most characters it may have
--            file              the value names a file on this host that must
--                              exist (and not be a directory)
--   integer  min, max, unit    the range, and the unit to name in errors; a
--                              string of digits is read as a number (xl.cfg
--                              overrides are strings)
--   enum     values            the allowed words
--            unsupported       words that are valid but that luxen does not
--                              do yet: refused, saying so
--   bool     1/0, yes/no, true/false
--   list     a list of strings (one string is a list of one)
--   uuid     8-4-4-4-12 hex digits, returned in lower case
--   cpulist  xl.cfg(5)'s cpus: one CPU list for every vCPU ("0-3,5,^1",
--            "all") or a list of them, one a vCPU (["2", "3"]); returned
--            as { all = {cpu...} } or { per = { {cpu...}, ... } }
-- An unknown kind is a mistake in the declaration: it raises.
local luxen = require("luxen")

local M = {}

--- check_file(path) -> true | nil, "path: what is wrong"
-- A kernel or ramdisk the config names must be there when the config is
-- read, so a create from it is refused before any domain exists.
function M.check_file(path)
  local st, err = luxen.stat(path)
  if not st then
    if err == "ENOENT" then return nil, path .. ": no such file or directory" end
    -- Go says "stat PATH: reason"; the reason is about the file, not the call
    local prefix = "stat " .. path .. ": "
    err = tostring(err)
    if err:sub(1, #prefix) == prefix then err = err:sub(#prefix + 1) end
    return nil, path .. ": " .. err
  end
  if st.dir then return nil, path .. ": is a directory" end
  return true
end

-- cpus parses one CPU list as xl's cpurange_parse (tools/xl/xl_parse.c):
-- from no CPU, each comma-separated item in order adds ("3", "0-3", "all")
-- or, after "^", takes away.
local function cpus(s)
  if type(s) == "number" then s = tostring(s) end
  if type(s) ~= "string" then return nil, "expected a CPU list like \"0-3,^1\", got " .. type(s) end
  local set = {}
  for item in s:gmatch("[^,]+") do
    local w = item:match("^%s*(.-)%s*$")
    local off = w:sub(1, 1) == "^"
    if off then w = w:sub(2) end
    local a, b
    if w == "all" then
      a, b = 0, 1023
    elseif w:match("^nodes:") then
      return nil, string.format("%q: NUMA node lists are not supported by luxen yet: name the CPUs", item)
    else
      a, b = w:match("^(%d+)%-(%d+)$")
      if not a then a = w:match("^(%d+)$"); b = a end
      a, b = tonumber(a), tonumber(b)
      if not a or a > b or b > 1023 then
        return nil, string.format("%q is not a CPU, a range like 0-3 or all (in %q)", item, s)
      end
    end
    for c = a, b do set[c] = not off or nil end
  end
  local out = {}
  for c = 0, 1023 do if set[c] then out[#out + 1] = c end end
  if #out == 0 then return nil, string.format("%q leaves no CPU", s) end
  return out
end

--- cpus(text) -> { cpu... } ascending | nil, err: one xl CPU list ("0-3,^1")
M.cpus = cpus

function M.check(key, spec, v)
  local k = spec.kind
  if k == "string" then
    local is_number = "%s is a number, which luxen and xl take for a domain id: use a name that is not a number"
    if type(v) == "number" and spec.not_number then return nil, string.format(is_number, tostring(v)) end
    if type(v) ~= "string" then return nil, "expected a string, got " .. type(v) end
    if spec.max_len and #v > spec.max_len then
      return nil, string.format("%d characters, longer than the %d Xen's tools allow (they name files after it)", #v, spec.max_len)
    end
    if spec.pattern and not v:match(spec.pattern) then
      return nil, string.format("%q is not valid (%s)", v, spec.explain or spec.pattern)
    end
    if spec.not_number and tonumber(v) then return nil, string.format(is_number, string.format("%q", v)) end
    if spec.file then
      local ok, ferr = M.check_file(v)
      if not ok then return nil, ferr end
    end
    return v
  elseif k == "integer" then
    if type(v) == "string" and v:match("^%s*%d+%s*$") then v = tonumber(v) end
    if type(v) ~= "number" then return nil, "expected a number, got " .. type(v) .. (type(v) == "string" and (" " .. string.format("%q", v)) or "") end
    if v ~= math.floor(v) then return nil, "expected a whole number, got " .. v end
    if spec.min and v < spec.min then return nil, string.format("%d is below the minimum %d%s", v, spec.min, spec.unit and (" " .. spec.unit) or "") end
    if spec.max and v > spec.max then return nil, string.format("%d is above the maximum %d%s", v, spec.max, spec.unit and (" " .. spec.unit) or "") end
    return v
  elseif k == "enum" then
    if spec.unsupported and spec.unsupported[v] then
      return nil, string.format("%q is not supported by luxen yet (use one of: %s)", v, table.concat(spec.values, ", "))
    end
    for _, ok in ipairs(spec.values) do if v == ok then return v end end
    return nil, string.format("%s is not one of: %s", type(v) == "string" and string.format("%q", v) or tostring(v), table.concat(spec.values, ", "))
  elseif k == "bool" then
    if v == 1 or v == "1" or v == true or v == "yes" or v == "true" then return true end
    if v == 0 or v == "0" or v == false or v == "no" or v == "false" then return false end
    return nil, "expected 0 or 1, got " .. tostring(v)
  elseif k == "list" then
    if type(v) == "string" then v = { v } end
    if type(v) ~= "table" then return nil, "expected a list, got " .. type(v) end
    for i, e in ipairs(v) do
      if type(e) ~= "string" then return nil, string.format("item %d: expected a string, got %s", i, type(e)) end
    end
    return v
  elseif k == "cpulist" then
    if type(v) == "table" and (v.all or v.per) then return v end -- parsed already (a record's)
    if type(v) ~= "table" then
      local l, err = cpus(v)
      if not l then return nil, err end
      return { all = l }
    end
    local per = {}
    for i, e in ipairs(v) do
      local l, err = cpus(e)
      if not l then return nil, string.format("vcpu %d: %s", i - 1, err) end
      per[i] = l
    end
    if #per == 0 then return nil, "an empty list: leave the key out for every CPU" end
    return { per = per }
  elseif k == "uuid" then
    if type(v) ~= "string" or not v:lower():match("^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$") then
      return nil, "expected a uuid like 8-4-4-4-12 hex digits, got " .. tostring(v)
    end
    return v:lower()
  end
  error("schema: unknown kind " .. tostring(k) .. " for key " .. tostring(key), 2)
end

return M
