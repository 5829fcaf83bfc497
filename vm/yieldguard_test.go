package vm

import (
	"strings"
	"testing"
)

// TestWaitInsideAGoCallIsAnError: a task that waits inside a function Go
// calls (a metamethod, a generic for's iterator, table.sort's comparator,
// string.gsub's function)
// gets a Lua error naming its line, which its pcall catches; another task
// waiting at the same time carries on. Before the guard the first
// case crashed the process with a nil pointer on the next resume.
func TestWaitInsideAGoCallIsAnError(t *testing.T) {
	s := newSched(t, Options{})
	got := run(t, s, `
		local task = require("task")
		local nap = function() task.sleep(0.001) end
		local other = task.spawn(function()
			for i = 1, 20 do nap() end
			return "other done"
		end)
		local cases = {
			index = function()
				local t = setmetatable({}, { __index = function(_, k) nap(); return k end })
				return t.x
			end,
			newindex = function()
				local t = setmetatable({}, { __newindex = function(t, k, v) nap(); rawset(t, k, v) end })
				t.x = 1
			end,
			eq = function()
				local mt = { __eq = function() nap(); return true end }
				return setmetatable({}, mt) == setmetatable({}, mt)
			end,
			sort = function() table.sort({ 3, 1, 2 }, function(a, b) nap(); return a < b end) end,
			iterator = function()
				local function step(_, i) nap(); if i < 2 then return i + 1 end end
				for _ in step, nil, 0 do end
			end,
			gsub = function() return (string.gsub("abc", "b", function() nap(); return "B" end)) end,
			plain_yield = function()
				local t = setmetatable({}, { __index = function() coroutine.yield(); return 1 end })
				return t.y
			end,
		}
		local names = {}
		for name in pairs(cases) do names[#names + 1] = name end
		table.sort(names)
		local out = {}
		for _, name in ipairs(names) do
			-- each in a task of its own and in a pcall
			local ok, err = pcall(cases[name])
			local joined, jerr = task.join(task.spawn(cases[name]))
			out[#out + 1] = name .. "=" .. tostring(ok) .. "," .. tostring(joined) .. ":" ..
				tostring(tostring(err):match("^[^:]*:%d+: a task cannot wait") ~= nil) .. "," ..
				tostring(tostring(jerr):match("^[^:]*:%d+: a task cannot wait") ~= nil)
		end
		-- waiting outside such calls still works, in pcall and coroutines too
		local ok = pcall(function() nap() end)
		local co = coroutine.wrap(function() nap(); coroutine.yield("y"); return "r" end)
		out[#out + 1] = "outside=" .. tostring(ok) .. co() .. co()
		out[#out + 1] = select(2, task.join(other))
		return table.concat(out, " ")`)
	want := "eq=false,false:true,true gsub=false,false:true,true index=false,false:true,true iterator=false,false:true,true " +
		"newindex=false,false:true,true plain_yield=false,false:true,true sort=false,false:true,true " +
		"outside=trueyr other done"
	if strings.Join(got, ",") != want {
		t.Fatalf("got  %v\nwant %s", got, want)
	}
}
