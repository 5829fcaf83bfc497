-- luxen's spec runner: describe / it / before_each / after_each / pending and
-- assert, busted-style. Each `it` runs as its own task with a time limit, so a
-- spec that hangs fails instead of hanging the suite. Results go to the Go side
-- through the report function the runner is given.
local report, file, default_timeout = ...
local task = require("task")
local time = require("time")

local root = { name = "", children = {}, before = {}, after = {} }
local current = root

local function add(kind, name, fn, opts)
  current.children[#current.children + 1] = { kind = kind, name = name, fn = fn, opts = opts or {} }
end

function describe(name, fn)
  local node = { kind = "describe", name = name, children = {}, before = {}, after = {}, parent = current }
  current.children[#current.children + 1] = node
  local saved = current
  current = node
  fn()
  current = saved
end

function it(name, fn, opts) add("it", name, fn, opts) end
function pending(name) add("pending", name) end
function before_each(fn) current.before[#current.before + 1] = fn end
function after_each(fn) current.after[#current.after + 1] = fn end

---------------------------------------------------------------- assert

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local ok, json = pcall(require, "json")
  if ok then
    local s = json.encode(v)
    if s then return s end
  end
  return tostring(v)
end

local function deep_equal(a, b, seen)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  seen = seen or {}
  if seen[a] == b then return true end
  seen[a] = b
  for k, v in pairs(a) do if not deep_equal(v, b[k], seen) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

local function fail(msg, level) error(msg, (level or 1) + 2) end

assert = setmetatable({}, {
  __call = function(_, v, msg, ...)
    if not v then fail(msg and tostring(msg) or "assertion failed", 1) end
    return v, msg, ...
  end,
})

function assert.equal(expected, actual, msg)
  if expected ~= actual then
    fail((msg and (msg .. ": ") or "") .. "expected " .. show(expected) .. ", got " .. show(actual))
  end
end
assert.equals = assert.equal

function assert.not_equal(unexpected, actual, msg)
  if unexpected == actual then
    fail((msg and (msg .. ": ") or "") .. "expected a value other than " .. show(actual))
  end
  return actual
end

function assert.same(expected, actual, msg)
  if not deep_equal(expected, actual) then
    fail((msg and (msg .. ": ") or "") .. "expected " .. show(expected) .. "\n  got " .. show(actual))
  end
end

function assert.truthy(v, msg) if not v then fail(msg or ("expected a true value, got " .. show(v))) end return v end
function assert.falsy(v, msg) if v then fail(msg or ("expected a false value, got " .. show(v))) end end
function assert.is_nil(v, msg) if v ~= nil then fail(msg or ("expected nil, got " .. show(v))) end end
function assert.not_nil(v, msg) if v == nil then fail(msg or "expected a value, got nil") end return v end
function assert.matches(pattern, s, msg)
  if type(s) ~= "string" or not s:find(pattern) then
    fail((msg and (msg .. ": ") or "") .. "expected " .. show(s) .. " to match " .. show(pattern))
  end
  return s
end
function assert.contains(needle, s, msg)
  if type(s) ~= "string" or not s:find(needle, 1, true) then
    fail((msg and (msg .. ": ") or "") .. "expected " .. show(s) .. " to contain " .. show(needle))
  end
  return s
end
function assert.near(expected, actual, tol, msg)
  if type(actual) ~= "number" or math.abs(expected - actual) > tol then
    fail((msg and (msg .. ": ") or "") .. string.format("expected %s within %s of %s", show(actual), tostring(tol), tostring(expected)))
  end
end
function assert.error(fn, pattern)
  local ok, err = pcall(fn)
  if ok then fail("expected an error") end
  if pattern and not tostring(err):find(pattern) then
    fail("expected an error matching " .. show(pattern) .. ", got " .. show(tostring(err)))
  end
  return err
end
-- fails with the error of a `nil, err` result
function assert.ok(v, err, ...)
  if v == nil then fail("unexpected failure: " .. tostring(err) .. (select("#", ...) > 0 and (" " .. tostring((...))) or "")) end
  return v, err, ...
end

---------------------------------------------------------------- running

local function chain(node, field)
  local fns = {}
  local n = node
  local stack = {}
  while n do table.insert(stack, 1, n); n = n.parent end
  for _, s in ipairs(stack) do
    for _, f in ipairs(s[field]) do fns[#fns + 1] = f end
  end
  return fns
end

local function run(node, prefix)
  for _, c in ipairs(node.children) do
    local name = prefix == "" and c.name or (prefix .. " " .. c.name)
    if c.kind == "describe" then
      run(c, name)
    elseif c.kind == "pending" then
      report(name, "pending", "", 0)
    else
      local t0 = time.monotonic()
      local ok, err = task.timeout(c.opts.timeout or default_timeout, function()
        local inner_ok, inner_err = true, nil
        for _, f in ipairs(chain(node, "before")) do f() end
        inner_ok, inner_err = pcall(c.fn)
        local after = chain(node, "after")
        for i = #after, 1, -1 do
          local aok, aerr = pcall(after[i])
          if not aok and inner_ok then inner_ok, inner_err = false, "after_each: " .. tostring(aerr) end
        end
        if not inner_ok then error(inner_err, 0) end
      end)
      if not ok and err == "timeout" then
        err = string.format("timed out after %ss", tostring(c.opts.timeout or default_timeout))
      end
      report(name, ok and "pass" or "fail", ok and "" or tostring(err), time.monotonic() - t0)
    end
  end
end

return function(spec_fn)
  spec_fn()
  run(root, "")
end
