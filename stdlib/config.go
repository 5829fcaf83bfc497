package stdlib

import (
	"os"

	lua "github.com/yuin/gopher-lua"

	"luxen/stdlib/xlcfg"
)

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

// OpenConfig registers "_config" (wrapped by config.lua):
//
//	_config.parse_xl(text, filename) -> { {key=, value=, line=}, ... } | nil, "file:line: msg"
//	_config.read_file(path) -> text | nil, err
func OpenConfig(L *lua.LState) {
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
