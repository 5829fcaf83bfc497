package stdlib

import (
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/stdlib/xlcfg"
	"luxen/vm"
)

var monoStart = time.Now()

// openTime registers "time":
//
//	time.now() -> seconds since the epoch (float)
//	time.monotonic() -> seconds on a clock that never goes back
//	time.format([t]) -> "2026-11-22T10:00:00Z" (RFC 3339, UTC)
//	time.sleep(seconds)   (the same as task.sleep: it yields)
func openTime(s *vm.Scheduler) {
	s.L.PreloadModule("time", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("now", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9))
			return 1
		}))
		mod.RawSetString("monotonic", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LNumber(time.Since(monoStart).Seconds()))
			return 1
		}))
		mod.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
			t := time.Now()
			if L.GetTop() >= 1 {
				f := float64(L.CheckNumber(1))
				t = time.Unix(0, int64(f*1e9))
			}
			L.Push(lua.LString(t.UTC().Format(time.RFC3339)))
			return 1
		}))
		task := L.GetField(L.GetField(L.GetGlobal("package"), "preload"), "task")
		if fn, ok := task.(*lua.LFunction); ok {
			L.Push(fn)
			L.Call(0, 1)
			mod.RawSetString("sleep", L.GetField(L.Get(-1), "sleep"))
			L.Pop(1)
		}
		L.Push(mod)
		return 1
	})
}

func xlValue(L *lua.LState, v xlcfg.Value) lua.LValue {
	switch v.Kind {
	case xlcfg.String:
		return lua.LString(v.Str)
	case xlcfg.Number:
		return lua.LNumber(v.Num)
	}
	t := L.CreateTable(len(v.List), 0)
	for _, e := range v.List {
		t.Append(xlValue(L, e))
	}
	return t
}

// openConfig registers "_config" (wrapped by config.lua):
//
//	_config.parse_xl(text, filename) -> { {key=, value=, line=}, ... } | nil, "file:line: msg"
//	_config.read_file(path) -> text | nil, err
func openConfig(L *lua.LState) {
	L.PreloadModule("_config", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("parse_xl", L.NewFunction(func(L *lua.LState) int {
			c, err := xlcfg.Parse(L.CheckString(2), L.CheckString(1))
			if err != nil {
				L.Push(lua.LNil)
				L.Push(lua.LString(err.Error()))
				return 2
			}
			out := L.CreateTable(len(c.Settings), 0)
			for _, st := range c.Settings {
				e := L.NewTable()
				e.RawSetString("key", lua.LString(st.Key))
				e.RawSetString("value", xlValue(L, st.Value))
				e.RawSetString("line", lua.LNumber(st.Line))
				out.Append(e)
			}
			L.Push(out)
			return 1
		}))
		mod.RawSetString("read_file", L.NewFunction(func(L *lua.LState) int {
			p := L.CheckString(1)
			b, err := os.ReadFile(p)
			if err != nil {
				L.Push(lua.LNil)
				L.Push(lua.LString(err.Error()))
				return 2
			}
			if len(b) > 1<<20 {
				L.Push(lua.LNil)
				L.Push(lua.LString(p + ": larger than 1 MiB, not a domain config"))
				return 2
			}
			L.Push(lua.LString(b))
			return 1
		}))
		L.Push(mod)
		return 1
	})
}
