package stdlib

import (
	"encoding/json"

	lua "github.com/yuin/gopher-lua"

	"luxen/stdlib/luajson"
)

// OpenJSON registers "json":
//
//	json.encode(v [, indent]) -> string | nil, err   (object keys sorted)
//	json.decode(s) -> v | nil, err                   (null becomes nil)
//	json.null                                        (encodes as null)
func OpenJSON(L *lua.LState) {
	L.PreloadModule("json", func(L *lua.LState) int {
		mod := L.NewTable()
		null := L.NewUserData()
		null.Value = luajson.Null
		mod.RawSetString("null", null)
		mod.RawSetString("encode", L.NewFunction(func(L *lua.LState) int {
			v, err := luajson.ToGo(L.CheckAny(1), 0)
			if err != nil {
				L.Push(lua.LNil)
				L.Push(lua.LString("json.encode: " + err.Error()))
				return 2
			}
			var b []byte
			if L.ToBool(2) {
				b, err = json.MarshalIndent(v, "", "  ")
			} else {
				b, err = json.Marshal(v)
			}
			if err != nil {
				L.Push(lua.LNil)
				L.Push(lua.LString("json.encode: " + err.Error()))
				return 2
			}
			L.Push(lua.LString(b))
			return 1
		}))
		mod.RawSetString("decode", L.NewFunction(func(L *lua.LState) int {
			v, err := luajson.Decode(L, []byte(L.CheckString(1)))
			if err != nil {
				L.Push(lua.LNil)
				L.Push(lua.LString("json.decode: " + err.Error()))
				return 2
			}
			L.Push(v)
			return 1
		}))
		L.Push(mod)
		return 1
	})
}
