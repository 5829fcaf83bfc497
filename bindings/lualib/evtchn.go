package lualib

import (
	"context"
	"net"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/evtchn"
	"luxen/bindings/host"
	xs "luxen/bindings/xenstore"
	"luxen/vm"
)

const evtchnType = "luxen.evtchn"

// OpenEvtchn registers "evtchn":
//
//	local evtchn = require("evtchn")
//	local h = evtchn.open()
//	h:bind_unbound(remote_domid) -> port ; h:bind_interdomain(domid, port) -> port
//	h:bind_virq(virq) -> port ; h:unbind(port) ; h:notify(port)
//	h:wait(port [, timeout]) -> true | nil, "timeout"   (yields the task)
//	h:close()
func OpenEvtchn(s *vm.Scheduler, h *host.Host) {
	s.L.PreloadModule("evtchn", func(L *lua.LState) int {
		mt := L.NewTypeMetatable(evtchnType)
		check := func(L *lua.LState) evtchn.Handle {
			ud := L.CheckUserData(1)
			e, ok := ud.Value.(evtchn.Handle)
			if !ok {
				L.ArgError(1, "evtchn handle expected")
			}
			return e
		}
		portOp := func(f func(e evtchn.Handle, ctx context.Context, a, b uint32) (uint32, error), nargs int) lua.LGFunction {
			return func(L *lua.LState) int {
				e := check(L)
				var a, b uint32
				if nargs >= 1 {
					a = uint32(L.CheckInt(2))
				}
				if nargs >= 2 {
					b = uint32(L.CheckInt(3))
				}
				return vm.Async(L, func(ctx context.Context) vm.Result {
					p, err := f(e, ctx, a, b)
					return ok(withErrno(err), func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LNumber(p)} })
				})
			}
		}
		methods := L.NewTable()
		s.SetFuncs(methods, nil, map[string]lua.LGFunction{
			"bind_unbound": portOp(func(e evtchn.Handle, ctx context.Context, a, _ uint32) (uint32, error) {
				return e.BindUnbound(ctx, a)
			}, 1),
			"bind_interdomain": portOp(func(e evtchn.Handle, ctx context.Context, a, b uint32) (uint32, error) {
				return e.BindInterdomain(ctx, a, b)
			}, 2),
			"bind_virq": portOp(func(e evtchn.Handle, ctx context.Context, a, _ uint32) (uint32, error) {
				return e.BindVirq(ctx, a)
			}, 1),
			"unbind": portOp(func(e evtchn.Handle, ctx context.Context, a, _ uint32) (uint32, error) {
				return a, e.Unbind(ctx, a)
			}, 1),
			"notify": portOp(func(e evtchn.Handle, ctx context.Context, a, _ uint32) (uint32, error) {
				return a, e.Notify(ctx, a)
			}, 1),
			"wait": func(L *lua.LState) int {
				e := check(L)
				p := uint32(L.CheckInt(2))
				d := optTimeout(L, 3)
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := withTimeout(ctx, d)
					defer cancel()
					return ok(withErrno(e.Wait(ctx, p)), nil)
				})
			},
			"close": func(L *lua.LState) int {
				e := check(L)
				return vm.Async(L, func(context.Context) vm.Result { return ok(withErrno(e.Close()), nil) })
			},
		})
		mt.RawSetString("__index", methods)
		mod := L.NewTable()
		s.SetFuncsAs(mod, "evtchn", nil, map[string]lua.LGFunction{
			"open": func(L *lua.LState) int {
				return vm.Async(L, func(ctx context.Context) vm.Result {
					e, err := h.OpenEvtchn(ctx)
					return ok(withErrno(err), func(L *lua.LState) []lua.LValue {
						return []lua.LValue{newObject(L, evtchnType, e)}
					})
				})
			},
		})
		L.Push(mod)
		return 1
	})
}

// OpenSim registers "sim", the simulated host's controls for specs and demos
// (absent on real Xen, where require("sim") fails):
//
//	local sim = require("sim")
//	sim.guest(domid, "poweroff"|"reboot"|"crash"|"watchdog"|"hang"|"unhang")
//	sim.booted(domid) -> bool
func OpenSim(s *vm.Scheduler, h *host.Host) {
	if h.Sim == nil {
		return
	}
	ctl := h.Sim
	s.L.PreloadModule("sim", func(L *lua.LState) int {
		mod := L.NewTable()
		// xenstore_as(domid) -> {read, write, rm, directory, ...} speaking as that
		// (unprivileged) domain: what a guest could do with xenstore, for specs
		// of permissions. Only the in-process embedded host offers it.
		mod.RawSetString("xenstore_as", L.NewFunction(func(L *lua.LState) int {
			d := uint32(L.CheckInt(1))
			if h.Embedded == nil {
				L.Push(lua.LNil)
				L.Push(lua.LString("only the embedded host can connect as a guest"))
				return 2
			}
			a, b := net.Pipe()
			go h.Embedded.XS.ServeConn(b, d)
			c := xs.NewClient(a)
			o := c.Root()
			t := L.NewTable()
			// what the xenstore module does, on this connection, path first
			s.SetFuncs(t, map[string]lua.LGFunction{
				"close": func(L *lua.LState) int { c.Close(); return 0 },
			}, pathOps(func(*lua.LState) xs.Ops { return o }, 1))
			L.Push(t)
			return 1
		}))
		mod.RawSetString("backend", L.NewFunction(func(L *lua.LState) int {
			if h.Embedded == nil || !h.Embedded.BackendAction(uint32(L.OptInt(2, 0)), L.CheckString(1)) {
				L.Push(lua.LNil)
				L.Push(lua.LString("sim.backend(hang|unhang [, domid]) needs the embedded host and a running domain"))
				return 2
			}
			L.Push(lua.LTrue)
			return 1
		}))
		s.SetFuncs(mod, nil, map[string]lua.LGFunction{
			"guest": func(L *lua.LState) int {
				d, a := uint32(L.CheckInt(1)), L.CheckString(2)
				return vm.Async(L, func(ctx context.Context) vm.Result { return ok(withErrno(ctl.GuestAction(ctx, d, a)), nil) })
			},
			"booted": func(L *lua.LState) int {
				d := uint32(L.CheckInt(1))
				return vm.Async(L, func(ctx context.Context) vm.Result {
					b, err := ctl.GuestBooted(ctx, d)
					return ok(withErrno(err), func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LBool(b)} })
				})
			},
		})
		L.Push(mod)
		return 1
	})
}

// Open registers every binding module for host h.
func Open(s *vm.Scheduler, h *host.Host) {
	OpenXenstore(s, h)
	OpenXen(s, h)
	OpenEvtchn(s, h)
	OpenSim(s, h)
	OpenQMP(s)
}
