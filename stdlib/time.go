package stdlib

import (
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/vm"
)

var monoStart = time.Now()

// OpenTime registers "time":
//
//	time.now() -> seconds since the epoch (float)
//	time.monotonic() -> seconds on a clock that never goes back
//	time.format([t]) -> "2026-11-22T10:00:00Z" (RFC 3339, UTC)
//	time.sleep(seconds)   (the same as task.sleep: it yields)
func OpenTime(s *vm.Scheduler) {
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
