package stdlib

import (
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/vm"
)

// mutex is a coroutine-aware lock: a task that waits for it yields, so the
// scheduler keeps running everything else. Locks have a level; a task may only
// take a lock of a higher level than every lock it holds, so a hierarchy such as
// "slow lock outside fast lock" is enforced and a violation names both locks.
type mutex struct {
	name    string
	level   int
	owner   *vm.Task
	waiters []*vm.Op
}

type lockSet struct {
	held map[*vm.Task][]*mutex
}

const (
	mutexType = "luxen.sync.mutex"
	queueType = "luxen.sync.queue"
)

func checkMutex(L *lua.LState) *mutex {
	m, ok := L.CheckUserData(1).Value.(*mutex)
	if !ok {
		L.ArgError(1, "sync.mutex expected")
	}
	return m
}

// queue is an unbounded FIFO between tasks; pop yields until an item arrives.
type queue struct {
	items   []lua.LValue
	waiters []*vm.Op
	closed  bool
}

func checkQueue(L *lua.LState) *queue {
	q, ok := L.CheckUserData(1).Value.(*queue)
	if !ok {
		L.ArgError(1, "sync.queue expected")
	}
	return q
}

// OpenSync registers "_sync" (wrapped by sync.lua):
//
//	sync.mutex(name [, level]) -> m ; m:lock() ; m:unlock() ; m:held() -> bool
//	sync.queue() -> q ; q:push(v) ; q:pop([timeout]) -> v | nil, "timeout"|"closed" ; q:close()
func OpenSync(s *vm.Scheduler) {
	ls := &lockSet{held: map[*vm.Task][]*mutex{}}
	release := func(m *mutex) {
		if m.owner != nil {
			hs := ls.held[m.owner]
			for i, h := range hs {
				if h == m {
					hs = append(hs[:i:i], hs[i+1:]...)
					break
				}
			}
			if len(hs) == 0 {
				delete(ls.held, m.owner)
			} else {
				ls.held[m.owner] = hs
			}
		}
		m.owner = nil
		for len(m.waiters) > 0 {
			op := m.waiters[0]
			m.waiters = m.waiters[1:]
			if op.Done() {
				continue // that waiter was cancelled
			}
			grant(ls, m, op.Task())
			s.Complete(op, lua.LTrue)
			return
		}
	}
	// a task that ends holding a lock (an error, a cancel) releases it
	grantHook := func(m *mutex, t *vm.Task) {
		t.AtExit(func() {
			if m.owner == t {
				release(m)
			}
		})
	}
	s.L.PreloadModule("_sync", func(L *lua.LState) int {
		mmt := L.NewTypeMetatable(mutexType)
		mm := L.NewTable()
		s.SetFuncs(mm, map[string]lua.LGFunction{
			"unlock": func(L *lua.LState) int {
				m := checkMutex(L)
				if m.owner != s.Current() {
					L.RaiseError("sync: unlock of %q by a task that does not hold it", m.name)
				}
				release(m)
				return 0
			},
			"held": func(L *lua.LState) int {
				m := checkMutex(L)
				L.Push(lua.LBool(m.owner != nil && m.owner == s.Current()))
				return 1
			},
			"name": func(L *lua.LState) int { L.Push(lua.LString(checkMutex(L).name)); return 1 },
		}, map[string]lua.LGFunction{
			"lock": func(L *lua.LState) int {
				m := checkMutex(L)
				t := s.Current()
				if t == nil {
					L.RaiseError("sync: lock outside a task")
				}
				if m.owner == t {
					L.RaiseError("sync: task %s already holds %q (locks are not recursive)", t.Describe(), m.name)
				}
				for _, h := range ls.held[t] {
					if h.level >= m.level {
						L.RaiseError("sync: lock order violated: taking %q (level %d) while holding %q (level %d)",
							m.name, m.level, h.name, h.level)
					}
				}
				if m.owner == nil {
					grant(ls, m, t)
					grantHook(m, t)
					L.Push(lua.LTrue)
					return 1
				}
				return vm.Suspend(L, func(op *vm.Op) {
					m.waiters = append(m.waiters, op)
					grantHook(m, t) // released at exit if granted later
				})
			},
		})
		mmt.RawSetString("__index", mm)

		qmt := L.NewTypeMetatable(queueType)
		qm := L.NewTable()
		s.SetFuncs(qm, map[string]lua.LGFunction{
			"push": func(L *lua.LState) int {
				q := checkQueue(L)
				if q.closed {
					L.RaiseError("sync: push on a closed queue")
				}
				v := L.CheckAny(2)
				for len(q.waiters) > 0 {
					op := q.waiters[0]
					q.waiters = q.waiters[1:]
					if !op.Done() {
						s.Complete(op, v)
						return 0
					}
				}
				q.items = append(q.items, v)
				return 0
			},
			"len": func(L *lua.LState) int { L.Push(lua.LNumber(len(checkQueue(L).items))); return 1 },
			"close": func(L *lua.LState) int {
				q := checkQueue(L)
				q.closed = true
				for _, op := range q.waiters {
					s.Complete(op, lua.LNil, lua.LString("closed"))
				}
				q.waiters = nil
				return 0
			},
		}, map[string]lua.LGFunction{
			"pop": func(L *lua.LState) int {
				q := checkQueue(L)
				if len(q.items) > 0 {
					v := q.items[0]
					q.items[0] = nil
					q.items = q.items[1:]
					L.Push(v)
					return 1
				}
				if q.closed {
					L.Push(lua.LNil)
					L.Push(lua.LString("closed"))
					return 2
				}
				var d time.Duration = -1
				if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
					d = vm.Seconds(L, 2)
				}
				return vm.Suspend(L, func(op *vm.Op) {
					q.waiters = append(q.waiters, op)
					if d >= 0 {
						time.AfterFunc(d, func() {
							s.Post(func() { s.Complete(op, lua.LNil, lua.LString("timeout")) })
						})
					}
				})
			},
		})
		qmt.RawSetString("__index", qm)

		mod := L.NewTable()
		mod.RawSetString("mutex", L.NewFunction(func(L *lua.LState) int {
			m := &mutex{name: L.CheckString(1), level: L.OptInt(2, 0)}
			ud := L.NewUserData()
			ud.Value = m
			ud.Metatable = mmt
			L.Push(ud)
			return 1
		}))
		mod.RawSetString("queue", L.NewFunction(func(L *lua.LState) int {
			ud := L.NewUserData()
			ud.Value = &queue{}
			ud.Metatable = qmt
			L.Push(ud)
			return 1
		}))
		L.Push(mod)
		return 1
	})
}

func grant(ls *lockSet, m *mutex, t *vm.Task) {
	m.owner = t
	ls.held[t] = append(ls.held[t], m)
}
