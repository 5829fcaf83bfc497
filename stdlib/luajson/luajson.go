// Package luajson converts between Lua values and plain Go data (what
// encoding/json produces and consumes), for the json module and for bindings
// that speak JSON protocols.
package luajson

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

type nullType struct{}

// Null is the userdata value json.null wraps: it encodes as JSON null.
var Null = &nullType{}

// ToGo converts a Lua value to plain Go data (maps, slices, strings, float64,
// bool, nil). A table whose keys are exactly 1..n becomes a slice; an empty
// table becomes an empty object.
func ToGo(v lua.LValue, depth int) (any, error) {
	if depth > 64 {
		return nil, fmt.Errorf("nesting deeper than 64 (a cycle?)")
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(x), nil
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("cannot encode %v", f)
		}
		return f, nil
	case lua.LString:
		return string(x), nil
	case *lua.LTable:
		n := x.Len()
		count := 0
		x.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if n > 0 && count == n {
			arr := make([]any, 0, n)
			for i := 1; i <= n; i++ {
				e, err := ToGo(x.RawGetInt(i), depth+1)
				if err != nil {
					return nil, err
				}
				arr = append(arr, e)
			}
			return arr, nil
		}
		m := map[string]any{}
		var ferr error
		x.ForEach(func(k, val lua.LValue) {
			if ferr != nil {
				return
			}
			var ks string
			switch kk := k.(type) {
			case lua.LString:
				ks = string(kk)
			case lua.LNumber:
				ks = strconv.FormatFloat(float64(kk), 'f', -1, 64)
			default:
				ferr = fmt.Errorf("table key of type %s cannot be a JSON key", k.Type())
				return
			}
			e, err := ToGo(val, depth+1)
			if err != nil {
				ferr = err
				return
			}
			m[ks] = e
		})
		return m, ferr
	}
	if ud, ok := v.(*lua.LUserData); ok && ud.Value == Null {
		return nil, nil
	}
	return nil, fmt.Errorf("cannot encode a %s", v.Type())
}

// FromGo converts decoded JSON (or any plain Go data) to Lua.
func FromGo(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case int:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case uint64:
		return lua.LNumber(x)
	case json.Number:
		f, _ := x.Float64()
		return lua.LNumber(f)
	case string:
		return lua.LString(x)
	case []string:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(lua.LString(e))
		}
		return t
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			t.Append(FromGo(L, e))
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			t.RawSetString(k, FromGo(L, x[k]))
		}
		return t
	}
	return lua.LString(fmt.Sprint(v))
}
