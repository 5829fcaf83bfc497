// Package lualib holds the thin Lua modules over the native bindings: each
// native package stays free of Lua, and each module here converts arguments and
// results and runs blocking calls through the scheduler (vm.Async).
package lualib

import (
	"context"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	xs "luxen/bindings/xenstore"
	"luxen/vm"
)

const watchType = "luxen.xenstore.watch"

func strList(L *lua.LState, ss []string) *lua.LTable {
	t := L.CreateTable(len(ss), 0)
	for _, s := range ss {
		t.Append(lua.LString(s))
	}
	return t
}

// OpenXenstore registers the native module "_xenstore" (wrapped by xenstore.lua).
func OpenXenstore(s *vm.Scheduler, h *host.Host) {
	c := h.XS
	s.L.PreloadModule("_xenstore", func(L *lua.LState) int {
		mt := L.NewTypeMetatable(watchType)
		wm := L.NewTable()
		s.SetFuncs(wm, map[string]lua.LGFunction{
			"path": func(L *lua.LState) int { L.Push(lua.LString(checkWatch(L).Path)); return 1 },
			"pending": func(L *lua.LState) int {
				L.Push(lua.LNumber(checkWatch(L).Pending()))
				return 1
			},
		}, map[string]lua.LGFunction{
			// w:wait([timeout]) -> path | nil, "timeout" | nil, "overflow", n
			"wait": func(L *lua.LState) int {
				w := checkWatch(L)
				d := optTimeout(L, 2)
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ctx, cancel := withTimeout(ctx, d)
					defer cancel()
					p, dropped, err := w.Next(ctx)
					return func(L *lua.LState) []lua.LValue {
						if dropped > 0 {
							return []lua.LValue{lua.LNil, lua.LString("overflow"), lua.LNumber(dropped)}
						}
						if err != nil {
							return errValues(err)
						}
						return []lua.LValue{lua.LString(p)}
					}
				})
			},
			"close": func(L *lua.LState) int {
				w := checkWatch(L)
				return vm.Async(L, func(ctx context.Context) vm.Result { return ok(w.Close(ctx), nil) })
			},
		})
		mt.RawSetString("__index", wm)

		ops := func(L *lua.LState) xs.Ops {
			tx := uint32(L.CheckInt(1))
			if tx == 0 {
				return c.Root()
			}
			return c.TxOps(tx)
		}
		mod := L.NewTable()
		// the path operations take the transaction (0: none) first
		fns := pathOps(ops, 2)
		fns["tx_start"] = func(L *lua.LState) int {
			return vm.Async(L, func(ctx context.Context) vm.Result {
				t, err := c.Start(ctx)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LNumber(t.ID)} })
			})
		}
		fns["tx_end"] = func(L *lua.LState) int {
			tx := uint32(L.CheckInt(1))
			commit := L.ToBool(2)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				if !commit {
					ctx = context.WithoutCancel(ctx) // an abort must reach xenstored
				}
				return ok(c.EndTx(ctx, tx, commit), nil)
			})
		}
		fns["watch"] = func(L *lua.LState) int {
			p := L.CheckString(1)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				w, err := c.Watch(ctx, p)
				return ok(err, func(L *lua.LState) []lua.LValue {
					return []lua.LValue{newObject(L, watchType, w)}
				})
			})
		}
		fns["introduce"] = func(L *lua.LState) int {
			d, gfn, port := uint32(L.CheckInt(1)), uint64(L.CheckInt64(2)), uint32(L.CheckInt(3))
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(c.Introduce(ctx, d, gfn, port), nil) })
		}
		fns["release"] = func(L *lua.LState) int {
			d := uint32(L.CheckInt(1))
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(c.Release(ctx, d), nil) })
		}
		fns["is_introduced"] = func(L *lua.LState) int {
			d := uint32(L.CheckInt(1))
			return vm.Async(L, func(ctx context.Context) vm.Result {
				b, err := c.IsIntroduced(ctx, d)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LBool(b)} })
			})
		}
		fns["get_domain_path"] = func(L *lua.LState) int {
			d := uint32(L.CheckInt(1))
			return vm.Async(L, func(ctx context.Context) vm.Result {
				p, err := c.GetDomainPath(ctx, d)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LString(p)} })
			})
		}
		s.SetFuncs(mod, nil, fns)
		states := L.NewTable()
		for name, v := range xs.XenbusStates {
			states.RawSetString(name, lua.LNumber(v))
		}
		mod.RawSetString("xenbus_state", states)
		L.Push(mod)
		return 1
	})
}

func checkWatch(L *lua.LState) *xs.Watch {
	ud := L.CheckUserData(1)
	w, ok := ud.Value.(*xs.Watch)
	if !ok {
		L.ArgError(1, "xenstore watch expected")
	}
	return w
}

// pathOps are the xenstore operations on one path (read, write, mkdir, rm,
// directory, exists, get_perms, set_perms) for the Ops at(L) gives (the
// root, or a transaction); the path is argument base and a value or the
// permissions base+1. The xenstore module and sim.xenstore_as share them.
func pathOps(at func(L *lua.LState) xs.Ops, base int) map[string]lua.LGFunction {
	return map[string]lua.LGFunction{
		"read": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				v, err := o.Read(ctx, p)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LString(v)} })
			})
		},
		"write": func(L *lua.LState) int {
			o, p, v := at(L), L.CheckString(base), L.CheckString(base+1)
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(o.Write(ctx, p, v), nil) })
		},
		"mkdir": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(o.Mkdir(ctx, p), nil) })
		},
		"rm": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(o.Rm(ctx, p), nil) })
		},
		"directory": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				names, err := o.Directory(ctx, p)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{strList(L, names)} })
			})
		},
		"exists": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				e, err := o.Exists(ctx, p)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LBool(e)} })
			})
		},
		"get_perms": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				perms, err := o.GetPerms(ctx, p)
				return ok(err, func(L *lua.LState) []lua.LValue {
					ss := make([]string, len(perms))
					for i, pm := range perms {
						ss[i] = pm.String()
					}
					return []lua.LValue{strList(L, ss)}
				})
			})
		},
		"set_perms": func(L *lua.LState) int {
			o, p := at(L), L.CheckString(base)
			tbl := L.CheckTable(base + 1)
			var perms []xs.Perm
			for i := 1; i <= tbl.Len(); i++ {
				pm, err := xs.ParsePerm(lua.LVAsString(tbl.RawGetInt(i)))
				if err != nil {
					L.ArgError(base+1, err.Error())
				}
				perms = append(perms, pm)
			}
			if len(perms) == 0 {
				L.ArgError(base+1, "at least one permission (the owner) expected")
			}
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(o.SetPerms(ctx, p, perms), nil) })
		},
	}
}
