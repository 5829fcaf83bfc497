package lualib

import (
	"context"
	"encoding/json"
	"os"
	"sort"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/qmp"
	"luxen/stdlib/luajson"
	"luxen/vm"

	"golang.org/x/sys/unix"
)

// rlimitNames are the resource limits a script may set on a QEMU it starts.
var rlimitNames = map[string]int{
	"fsize": unix.RLIMIT_FSIZE, "core": unix.RLIMIT_CORE, "msgqueue": unix.RLIMIT_MSGQUEUE,
	"locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK, "nproc": unix.RLIMIT_NPROC,
	"nofile": unix.RLIMIT_NOFILE,
}

const (
	qmpType    = "luxen.qmp"
	qmpSubType = "luxen.qmp.events"
)

// OpenQMP registers "qmp":
//
//	local qmp = require("qmp")
//	local m = qmp.connect(path [, timeout]) -> m | nil, err
//	m:execute(cmd [, args [, timeout]]) -> result | nil, class, desc
//	m:events([names]) -> ev ; ev:wait([timeout]) -> {event=, data=, timestamp=} | nil, "timeout"
//	m:close()
func OpenQMP(s *vm.Scheduler) {
	s.L.PreloadModule("qmp", func(L *lua.LState) int {
		check := func(L *lua.LState) *qmp.Monitor {
			m, ok := L.CheckUserData(1).Value.(*qmp.Monitor)
			if !ok {
				L.ArgError(1, "qmp monitor expected")
			}
			return m
		}
		mt := L.NewTypeMetatable(qmpType)
		methods := L.NewTable()
		s.SetFuncs(methods, map[string]lua.LGFunction{
			"close": func(L *lua.LState) int { check(L).Close(); return 0 },
			"events": func(L *lua.LState) int {
				m := check(L)
				var names []string
				if t, ok := L.Get(2).(*lua.LTable); ok {
					for i := 1; i <= t.Len(); i++ {
						names = append(names, lua.LVAsString(t.RawGetInt(i)))
					}
				}
				L.Push(newObject(L, qmpSubType, m.Events(names...)))
				return 1
			},
		}, map[string]lua.LGFunction{
			// m:add_fd(path [, timeout]) -> {fdset_id=, fd=} | nil, err
			// luxen opens path (read-only) and hands QEMU the descriptor with
			// add-fd; QEMU opens it as /dev/fdset/<fdset_id>. Opening happens
			// here, not in QEMU, so a chrooted, unprivileged QEMU can use it.
			"add_fd": func(L *lua.LState) int {
				m := check(L)
				path := L.CheckString(2)
				d := optTimeout(L, 3)
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := withTimeout(ctx, d)
					defer cancel()
					var ret json.RawMessage
					f, err := os.Open(path)
					if err == nil {
						ret, err = m.ExecuteWithFile(ctx, "add-fd", map[string]any{"opaque": "raw:" + path}, f)
						f.Close() // QEMU holds its own copy now
					}
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							return errValues(err)
						}
						var r struct {
							FdsetID int `json:"fdset-id"`
							FD      int `json:"fd"`
						}
						json.Unmarshal(ret, &r)
						t := L.NewTable()
						t.RawSetString("fdset_id", lua.LNumber(r.FdsetID))
						t.RawSetString("fd", lua.LNumber(r.FD))
						return []lua.LValue{t}
					}
				})
			},
			"execute": func(L *lua.LState) int {
				m := check(L)
				cmd := L.CheckString(2)
				var args any
				if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
					v, err := luajson.ToGo(L.Get(3), 0)
					if err != nil {
						L.ArgError(3, err.Error())
					}
					args = v
				}
				d := optTimeout(L, 4)
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := withTimeout(ctx, d)
					defer cancel()
					ret, err := m.Execute(ctx, cmd, args)
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							return errValues(err)
						}
						var v any
						if len(ret) > 0 {
							json.Unmarshal(ret, &v)
						}
						if v == nil {
							return []lua.LValue{lua.LTrue}
						}
						return []lua.LValue{luajson.FromGo(L, v)}
					}
				})
			},
		})
		mt.RawSetString("__index", methods)
		smt := L.NewTypeMetatable(qmpSubType)
		smethods := L.NewTable()
		s.SetFuncs(smethods, map[string]lua.LGFunction{
			"stop": func(L *lua.LState) int {
				L.CheckUserData(1).Value.(*qmp.Subscription).Stop()
				return 0
			},
		}, map[string]lua.LGFunction{
			"wait": func(L *lua.LState) int {
				sub, ok := L.CheckUserData(1).Value.(*qmp.Subscription)
				if !ok {
					L.ArgError(1, "qmp events expected")
				}
				d := optTimeout(L, 2)
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := withTimeout(ctx, d)
					defer cancel()
					ev, dropped, err := sub.Next(ctx)
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							return errValues(err)
						}
						t := L.NewTable()
						t.RawSetString("event", lua.LString(ev.Name))
						var data any
						if len(ev.Data) > 0 {
							json.Unmarshal(ev.Data, &data)
						}
						t.RawSetString("data", luajson.FromGo(L, data))
						t.RawSetString("timestamp", lua.LNumber(float64(ev.Timestamp.Seconds)+float64(ev.Timestamp.Microseconds)/1e6))
						if dropped > 0 {
							t.RawSetString("dropped_before", lua.LNumber(dropped))
						}
						return []lua.LValue{t}
					}
				})
			},
		})
		smt.RawSetString("__index", smethods)
		mod := L.NewTable()
		s.SetFuncsAs(mod, "qmp", map[string]lua.LGFunction{}, map[string]lua.LGFunction{
			// start_qemu(binary, socket, args [, timeout [, log [, opts]]]) -> pid | nil, err
			// A detached QEMU, ready (answering QMP) when this returns; its
			// output goes to the file log when one is given. opts.pass_socket
			// binds the socket here and hands QEMU the descriptor; opts.rlimits
			// ({fsize = bytes, core = 0, ...}) limits it.
			"start_qemu": func(L *lua.LState) int {
				bin, sock := L.CheckString(1), L.CheckString(2)
				var args []string
				if t, ok := L.Get(3).(*lua.LTable); ok {
					for i := 1; i <= t.Len(); i++ {
						args = append(args, lua.LVAsString(t.RawGetInt(i)))
					}
				}
				d := float64(L.OptNumber(4, 30))
				o := qmp.Options{Detached: true, Log: L.OptString(5, "")}
				if t, ok := L.Get(6).(*lua.LTable); ok {
					o.PassSocket = lua.LVAsBool(t.RawGetString("pass_socket"))
					if lt, ok := t.RawGetString("rlimits").(*lua.LTable); ok {
						var bad string
						lt.ForEach(func(k, v lua.LValue) {
							r, known := rlimitNames[lua.LVAsString(k)]
							n, isNum := v.(lua.LNumber)
							if !known || !isNum || n < 0 {
								bad = lua.LVAsString(k)
								return
							}
							o.Rlimits = append(o.Rlimits, qmp.Rlimit{Resource: r, Limit: uint64(n)})
						})
						if bad != "" {
							L.ArgError(6, "rlimits: "+bad+": want one of fsize, core, msgqueue, locks, memlock, nproc, nofile with a number")
						}
						sort.Slice(o.Rlimits, func(i, j int) bool { return o.Rlimits[i].Resource < o.Rlimits[j].Resource })
					}
				}
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := context.WithTimeout(ctx, secs(d))
					defer cancel()
					p, err := qmp.StartWith(ctx, bin, sock, o, args...)
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							return errValues(err)
						}
						p.Monitor.Close() // callers connect when they need it
						return []lua.LValue{lua.LNumber(p.Cmd.Process.Pid)}
					}
				})
			},
			// kill_qemu(pid, socket) -> killed (bool) | nil, err
			"kill_qemu": func(L *lua.LState) int {
				pid, sock := L.CheckInt(1), L.CheckString(2)
				return vm.Async(L, func(context.Context) vm.Result {
					killed, err := qmp.KillBySocket(pid, sock)
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							return errValues(err)
						}
						return []lua.LValue{lua.LBool(killed)}
					}
				})
			},
			"connect": func(L *lua.LState) int {
				path := L.CheckString(1)
				d := float64(L.OptNumber(2, 10))
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := context.WithTimeout(ctx, secs(d))
					defer cancel()
					m, err := qmp.Dial(ctx, path)
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							return errValues(err)
						}
						return []lua.LValue{newObject(L, qmpType, m)}
					}
				})
			},
		})
		L.Push(mod)
		return 1
	})
}
