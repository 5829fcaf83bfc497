package vm

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// A wrapped function's argument errors name it as the script calls it,
// count its arguments as the script does, and point at the script's line.
func TestArgNamedNamesTheFunctionAndTheScriptsLine(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	f := func(L *lua.LState) int {
		L.CheckNumber(1) // a hidden first argument, as xenstore's transaction
		L.CheckString(2)
		return 0
	}
	L.SetGlobal("raw", L.NewFunction(f))
	L.SetGlobal("named", L.NewFunction(ArgNamed("mod.fn", 1, f)))
	err := L.DoString("local function call(g) g(0, {}) end\ncall(raw)")
	if err == nil || !strings.Contains(err.Error(), "bad argument #2 to g") {
		t.Fatalf("unwrapped: %v", err)
	}
	err = L.DoString("local function call(g) g(0, {}) end\ncall(named)")
	if err == nil || !strings.Contains(err.Error(), "mod.fn: bad argument #1 (string expected, got table)") {
		t.Fatalf("wrapped: %v", err)
	}
	if err := L.DoString("named(0, 'ok')"); err != nil {
		t.Fatalf("a good call: %v", err)
	}
	fn, lerr := L.Load(strings.NewReader("local x = 1\nnamed(0, nil)"), "site.lua")
	if lerr != nil {
		t.Fatal(lerr)
	}
	L.Push(fn)
	err = L.PCall(0, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "site.lua:2: mod.fn: bad argument #1 (string expected, got nil)") {
		t.Fatalf("wrapped, from a file: %v", err)
	}
}
