package vm

import (
	"fmt"
	"regexp"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// A binding's argument errors are raised by gopher-lua's Check* helpers,
// which name the function by the variable that held it in the caller: for a
// blocking binding that is the prelude's wrapper ("prelude:137: bad
// argument #3 to native"), and a binding that takes a hidden first argument
// (xenstore's transaction) counts it. ArgNamed says what the script called.

var badArg = regexp.MustCompile(`bad argument #(\d+) to \S+ \((.*)\)$`)

// ArgNamed wraps fn so that its argument errors read
// "where: NAME: bad argument #N (...)": N counted as the script counts
// (shift hidden arguments taken off) and where the script's own line (the
// first frame outside the prelude and the wrapper chunks given).
func ArgNamed(name string, shift int, fn lua.LGFunction, wrappers ...string) lua.LGFunction {
	// "<string>": a chunk run from Go text (DoString), no place to point at
	skip := map[string]bool{"prelude": true, "<string>": true}
	for _, w := range wrappers {
		skip[w] = true
	}
	return func(L *lua.LState) int {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			ae, ok := r.(*lua.ApiError)
			if !ok {
				panic(r)
			}
			s, isStr := ae.Object.(lua.LString)
			m := badArg.FindStringSubmatch(string(s))
			if !isStr || m == nil {
				panic(r)
			}
			n, _ := strconv.Atoi(m[1])
			msg := fmt.Sprintf("%s: bad argument #%d (%s)", name, n-shift, m[2])
			if n-shift < 1 {
				msg = fmt.Sprintf("%s: %s", name, m[2])
			}
			panic(&lua.ApiError{Type: ae.Type, Object: lua.LString(scriptWhere(L, skip) + msg), StackTrace: ae.StackTrace, Cause: ae.Cause})
		}()
		return fn(L)
	}
}

// scriptWhere is "chunk:line: " of the innermost Lua frame that is the
// script's (not the prelude's or a binding's wrapper), or "".
func scriptWhere(L *lua.LState, skip map[string]bool) string {
	for level := 1; level < 12; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return ""
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err != nil {
			return ""
		}
		if dbg.What == "G" || dbg.CurrentLine <= 0 || skip[dbg.Source] {
			continue
		}
		return fmt.Sprintf("%s:%d: ", dbg.Source, dbg.CurrentLine)
	}
	return ""
}
