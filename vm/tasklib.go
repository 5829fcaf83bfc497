package vm

import (
	"context"
	"strconv"
	"time"

	lua "github.com/yuin/gopher-lua"
)

const taskTypeName = "luxen.task"

// taskLoader is the `task` module:
//
//	local task = require("task")
//	task.spawn(fn, ...) -> t            run fn(...) as a new task (same group as the caller)
//	task.spawn_in(group, name, fn, ...) -> t
//	task.sleep(seconds)                 yield for that long
//	task.yield()                        let other tasks run
//	task.join(t [, timeout]) -> ok, ... true and t's results, or false and its error / "timeout"
//	task.cancel(t) -> bool              stop t (not the caller itself)
//	task.cancel_group(group) -> n       stop every task of a group (a domain's, say)
//	task.timeout(seconds, fn, ...) -> ok, ...  run fn as a task; false, "timeout" if it overruns (it is cancelled)
//	task.current() -> t | nil
//	task.list() -> { {id=, name=, group=, state=}, ... }
//	task.reports() -> { "watchdog: ...", ... }
//	task.dump([goroutines]) -> text: every task with its group, state and line
func (s *Scheduler) taskLoader(L *lua.LState) int {
	mt := L.NewTypeMetatable(taskTypeName)
	methods := L.NewTable()
	s.SetFuncs(methods, map[string]lua.LGFunction{
		"id":     func(L *lua.LState) int { L.Push(lua.LNumber(checkTask(L, 1).ID)); return 1 },
		"name":   func(L *lua.LState) int { L.Push(lua.LString(checkTask(L, 1).Name)); return 1 },
		"group":  func(L *lua.LState) int { L.Push(lua.LString(checkTask(L, 1).Group)); return 1 },
		"status": func(L *lua.LState) int { L.Push(lua.LString(checkTask(L, 1).status())); return 1 },
		"cancel": s.luaCancel,
	}, map[string]lua.LGFunction{"join": s.luaJoin})
	mt.RawSetString("__index", methods)
	mt.RawSetString("__tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString("task " + checkTask(L, 1).Describe()))
		return 1
	}))

	mod := L.NewTable()
	s.SetFuncsAs(mod, "task", map[string]lua.LGFunction{
		"spawn": func(L *lua.LState) int {
			fn := L.CheckFunction(1)
			group := ""
			if cur := s.current; cur != nil {
				group = cur.Group
			}
			L.Push(s.taskValue(s.Spawn(funcName(fn), group, fn, varargs(L, 2)...)))
			return 1
		},
		"spawn_in": func(L *lua.LState) int {
			group := L.CheckString(1)
			name := L.CheckString(2)
			fn := L.CheckFunction(3)
			L.Push(s.taskValue(s.Spawn(name, group, fn, varargs(L, 4)...)))
			return 1
		},
		"cancel": s.luaCancel,
		"cancel_group": func(L *lua.LState) int {
			L.Push(lua.LNumber(s.CancelGroup(L.CheckString(1), "cancelled: group "+L.CheckString(1))))
			return 1
		},
		"current": func(L *lua.LState) int {
			if s.current == nil {
				L.Push(lua.LNil)
			} else {
				L.Push(s.taskValue(s.current))
			}
			return 1
		},
		"list": func(L *lua.LState) int {
			out := L.NewTable()
			for _, t := range s.Tasks() {
				e := L.NewTable()
				e.RawSetString("id", lua.LNumber(t.ID))
				e.RawSetString("name", lua.LString(t.Name))
				e.RawSetString("group", lua.LString(t.Group))
				e.RawSetString("state", lua.LString(t.status()))
				out.Append(e)
			}
			L.Push(out)
			return 1
		},
		"dump": func(L *lua.LState) int {
			L.Push(lua.LString(s.Dump(L.ToBool(1))))
			return 1
		},
		"reports": func(L *lua.LState) int {
			out := L.NewTable()
			for _, r := range s.Reports() {
				out.Append(lua.LString(r))
			}
			L.Push(out)
			return 1
		},
	}, map[string]lua.LGFunction{
		"sleep": func(L *lua.LState) int {
			d := seconds(L, 1)
			return Async(L, func(ctx context.Context) Result {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-t.C:
					return nil
				case <-ctx.Done():
					return nil
				}
			})
		},
		"join": s.luaJoin,
		"timeout": func(L *lua.LState) int {
			d := seconds(L, 1)
			fn := L.CheckFunction(2)
			group := ""
			if cur := s.current; cur != nil {
				group = cur.Group
			}
			child := s.Spawn(funcName(fn), group, fn, varargs(L, 3)...)
			child.watched = true
			return Suspend(L, func(op *Op) {
				child.joiners = append(child.joiners, op)
				time.AfterFunc(d, func() {
					s.Post(func() {
						if !op.done {
							s.Cancel(child, "timeout")
						}
					})
				})
			})
		},
	})
	// the prelude's: no Op, userdata or inbox round trip a yield
	mod.RawSetString("yield", s.yield)
	L.Push(mod)
	return 1
}

func (s *Scheduler) luaCancel(L *lua.LState) int {
	t := checkTask(L, 1)
	if t == s.current {
		L.RaiseError("task.cancel: a task cannot cancel itself (return or error instead)")
	}
	L.Push(lua.LBool(s.Cancel(t, "cancelled")))
	return 1
}

func (s *Scheduler) luaJoin(L *lua.LState) int {
	t := checkTask(L, 1)
	if t == s.current {
		L.RaiseError("task.join: a task cannot join itself")
	}
	t.watched = true
	if t.state == stateDone {
		for _, v := range t.Outcome() {
			L.Push(v)
		}
		return len(t.Outcome())
	}
	var timeout time.Duration
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		timeout = seconds(L, 2)
	}
	return Suspend(L, func(op *Op) {
		t.joiners = append(t.joiners, op)
		if timeout > 0 {
			time.AfterFunc(timeout, func() {
				s.Post(func() {
					if op.done {
						return
					}
					for i, j := range t.joiners {
						if j == op {
							t.joiners = append(t.joiners[:i:i], t.joiners[i+1:]...)
							break
						}
					}
					s.complete(op, []lua.LValue{lua.LFalse, lua.LString("timeout")})
				})
			})
		}
	})
}

func (t *Task) status() string {
	switch t.state {
	case stateReady:
		return "ready"
	case stateWaiting:
		return "waiting"
	case stateRunning:
		return "running"
	}
	if t.errValue != nil {
		return "failed"
	}
	return "done"
}

func (s *Scheduler) taskValue(t *Task) lua.LValue {
	ud := s.L.NewUserData()
	ud.Value = t
	ud.Metatable = s.L.GetTypeMetatable(taskTypeName)
	return ud
}

func checkTask(L *lua.LState, n int) *Task {
	ud := L.CheckUserData(n)
	t, ok := ud.Value.(*Task)
	if !ok {
		L.ArgError(n, "task expected")
	}
	return t
}

func varargs(L *lua.LState, from int) []lua.LValue {
	var out []lua.LValue
	for i := from; i <= L.GetTop(); i++ {
		out = append(out, L.Get(i))
	}
	return out
}

// seconds reads a non-negative number of seconds.
func seconds(L *lua.LState, n int) time.Duration {
	f := float64(L.CheckNumber(n))
	if f < 0 {
		L.ArgError(n, "seconds must not be negative")
	}
	return time.Duration(f * float64(time.Second))
}

// Seconds is seconds for other modules.
func Seconds(L *lua.LState, n int) time.Duration { return seconds(L, n) }

func funcName(fn *lua.LFunction) string {
	if fn.Proto != nil {
		return fn.Proto.SourceName + ":" + strconv.Itoa(fn.Proto.LineDefined)
	}
	return "go function"
}
