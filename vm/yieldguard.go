package vm

import (
	"runtime"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// gopher-lua runs a Lua function that Go calls (a metamethod such as
// __index, the function a generic for calls each step, table.sort's
// comparator, string.gsub's replacement function, a require loader) in a nested interpreter loop. A yield from in there is
// not a yield: the coroutine tells its resumer it yielded, and then the
// nested loop returns into Go, which carries on running the coroutine's
// Lua on the resumer's behalf. The next resume of that coroutine crashes
// the process with a nil pointer (gopher-lua 1.1.2; found when a failover
// policy slept inside __index). One task's mistake must not take down the
// others, so every yield (the prelude's, and so every blocking binding's)
// first makes sure it is not inside such a call and raises a Lua error,
// which that task's pcall can catch, if it is. The check walks a few Go
// frames: 0.3 us a yield on this machine (BenchmarkYieldResume).

// frameKind classifies a program counter on the yield's Go stack.
type frameKind uint8

const (
	frameOther  frameKind = iota + 1
	frameLoop             // gopher-lua's interpreter loop
	frameResume           // threadRun: where the coroutine's run began (Resume, coroutine.resume)
)

// yieldGuard remembers the kind of each program counter it has seen: the
// same few stacks repeat, so a yield costs a stack walk and map lookups,
// not symbol lookups. It is used only on its scheduler's goroutine.
type yieldGuard struct {
	kinds map[uintptr]frameKind
	pcs   [64]uintptr
}

func (g *yieldGuard) kind(pc uintptr) frameKind {
	if k, ok := g.kinds[pc]; ok {
		return k
	}
	k := frameOther
	if f := runtime.FuncForPC(pc - 1); f != nil {
		name := f.Name()
		switch {
		case strings.HasPrefix(name, "github.com/yuin/gopher-lua.mainLoop"):
			k = frameLoop
		case name == "github.com/yuin/gopher-lua.threadRun",
			// where threadRun is called from, should it ever be inlined
			name == "github.com/yuin/gopher-lua.(*LState).Resume",
			name == "github.com/yuin/gopher-lua.coResume":
			k = frameResume
		}
	}
	g.kinds[pc] = k
	return k
}

// nested reports whether the running coroutine is inside a Go-made call:
// more than one interpreter loop between the yield and the threadRun that
// runs the coroutine. The walk starts at gopher-lua's callGFunction, which
// called the yield. A yield at a coroutine's own level sees threadRun a few
// frames up (the opcode's function, the loop, threadRun), so those few are
// looked at first, and the deeper stack only when threadRun is not among
// them; a stack too deep to show it is let through, as before.
func (g *yieldGuard) nested() bool {
	for _, size := range [...]int{5, len(g.pcs)} {
		n := runtime.Callers(3, g.pcs[:size]) // skips Callers, nested and the yield
		loops := 0
		for _, pc := range g.pcs[:n] {
			switch g.kind(pc) {
			case frameLoop:
				loops++
			case frameResume:
				return loops > 1
			}
		}
		if n < size { // the whole stack was seen
			return false
		}
	}
	return false
}

var preludeOnly = map[string]bool{"prelude": true}

// guardYield replaces coroutine.yield before the prelude takes it, and
// returns gopher-lua's own.
func (s *Scheduler) guardYield() lua.LValue {
	lib := s.L.GetGlobal("coroutine").(*lua.LTable)
	raw := lib.RawGetString("yield")
	g := &yieldGuard{kinds: map[uintptr]frameKind{}}
	lib.RawSetString("yield", s.L.NewFunction(func(L *lua.LState) int {
		if g.nested() {
			L.Error(lua.LString(scriptWhere(L, preludeOnly)+"a task cannot wait (task.sleep, a blocking binding, coroutine.yield) inside a function "+
				"that Go calls: a metamethod (__index, __newindex, __eq, __lt, __le, __concat, arithmetic), "+
				"a generic for's iterator, table.sort's comparator, string.gsub's function or a module's loader; "+
				"gopher-lua cannot resume it there. Wait before or after that call instead"), 0)
		}
		return -1 // gopher-lua's coroutine.yield: yield what the caller pushed
	}))
	return raw
}
