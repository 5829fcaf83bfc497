// Package lualib holds the thin Lua modules over the native bindings: each
// native package stays free of Lua, and each module here converts arguments and
// results and runs blocking calls through the scheduler (vm.Async).
package lualib

import (
	"context"
	"errors"
	"fmt"

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
		takesTx := map[string]bool{"batch": true, "children_where": true}
		for k := range fns {
			takesTx[k] = true
		}
		fns["batch"] = batchOp(ops)
		fns["atomic"] = atomicOp(c)
		// children_where(tx, parent, key, value) -> names: the children of
		// parent whose node key reads value, in one listing and one pipeline
		fns["children_where"] = func(L *lua.LState) int {
			o, parent, key, value := ops(L), L.CheckString(2), L.CheckString(3), L.CheckString(4)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				names, err := o.ChildrenWhere(ctx, parent, key, value)
				return ok(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{strList(L, names)} })
			})
		}
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
		fns["resume"] = func(L *lua.LState) int {
			d := uint32(L.CheckInt(1))
			return vm.Async(L, func(ctx context.Context) vm.Result { return ok(c.Resume(ctx, d), nil) })
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
		// argument errors name xenstore.NAME and count as the script does:
		// the path operations' transaction argument is the Lua module's
		for k, f := range fns {
			shift := 0
			if takesTx[k] {
				shift = 1
			}
			fns[k] = vm.ArgNamed("xenstore."+k, shift, f, "xenstore.lua")
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

// batchNames are the operations a batch may hold, by their Lua names.
var batchNames = map[string]xs.MsgType{
	"read": xs.TypeRead, "exists": xs.TypeRead, "write": xs.TypeWrite, "mkdir": xs.TypeMkdir,
	"rm": xs.TypeRm, "directory": xs.TypeDirectory, "get_perms": xs.TypeGetPerms, "set_perms": xs.TypeSetPerms,
}

// batchOp is batch(tx, reqs) -> vals, errno, path, errs: every request of
// reqs ({"write", path, value}, {"read", path}, ...) sent at once on the
// connection (xs.Ops.Pipeline) and their outcomes awaited together, one
// yield for the lot. vals[i] is what the single call would return (a read's
// value, a listing, exists' boolean, true), false when it failed; errno and
// path are the first failure's, errs[i] every failed request's errno (nil
// when none failed).
func batchOp(at func(L *lua.LState) xs.Ops) lua.LGFunction {
	return func(L *lua.LState) int {
		o := at(L)
		reqs, kinds := batchRequests(L, 2)
		return vm.Async(L, func(ctx context.Context) vm.Result {
			return batchResult(kinds, o.Pipeline(ctx, reqs))
		})
	}
}

// errAborted ends an atomic batch's transaction when a request in it failed.
var errAborted = errors.New("a request failed")

// atomicOp is xenstore.atomic(reqs): the batch in one transaction, started,
// sent and committed here in Go, and sent again from the start while the
// commit conflicts (EAGAIN), so a script's transaction that is only a batch
// costs one resume instead of three and no Lua closure. A request that
// fails aborts it: nothing is written, and the results say which failed as
// batch's do. A failure to start or commit is nil, errno, detail.
func atomicOp(c *xs.Client) lua.LGFunction {
	return func(L *lua.LState) int {
		reqs, kinds := batchRequests(L, 1)
		return vm.Async(L, func(ctx context.Context) vm.Result {
			var replies []xs.Reply
			err := c.Transaction(ctx, func(tx *xs.Tx) error {
				replies = tx.Pipeline(ctx, reqs)
				for _, r := range replies {
					if r.Err != nil {
						return errAborted
					}
				}
				return nil
			})
			if err != nil && err != errAborted {
				return ok(err, nil)
			}
			return batchResult(kinds, replies)
		})
	}
}

// batchRequests reads a batch's table of requests, argument n.
func batchRequests(L *lua.LState, arg int) ([]xs.Request, []string) {
	tbl := L.CheckTable(arg)
	n := tbl.Len()
	reqs := make([]xs.Request, n)
	kinds := make([]string, n)
	for i := 1; i <= n; i++ {
		e, isTable := tbl.RawGetInt(i).(*lua.LTable)
		if !isTable {
			L.ArgError(arg, fmt.Sprintf("request %d: a table {op, path, ...} expected", i))
		}
		kind := lua.LVAsString(e.RawGetInt(1))
		op, known := batchNames[kind]
		if !known {
			L.ArgError(arg, fmt.Sprintf("request %d: unknown operation %q", i, kind))
		}
		path, isString := e.RawGetInt(2).(lua.LString)
		if !isString {
			L.ArgError(arg, fmt.Sprintf("request %d: %s: a path expected", i, kind))
		}
		r := xs.Request{Op: op, Path: string(path)}
		switch op {
		case xs.TypeWrite:
			v, isString := e.RawGetInt(3).(lua.LString)
			if !isString {
				L.ArgError(arg, fmt.Sprintf("request %d: write %s: a string value expected", i, path))
			}
			r.Value = string(v)
		case xs.TypeSetPerms:
			perms, err := permList(e.RawGetInt(3))
			if err != nil {
				L.ArgError(arg, fmt.Sprintf("request %d: set_perms %s: %v", i, path, err))
			}
			r.Perms = perms
		}
		reqs[i-1], kinds[i-1] = r, kind
	}
	return reqs, kinds
}

// batchResult is a batch's values: vals, the first failure's errno and
// path, and every failure's errno.
func batchResult(kinds []string, replies []xs.Reply) vm.Result {
	return func(L *lua.LState) []lua.LValue {
		vals := L.CreateTable(len(kinds), 0)
		var errs *lua.LTable
		first := []lua.LValue{lua.LNil, lua.LNil}
		for i, r := range replies {
			v, err := batchValue(L, kinds[i], r)
			if err != nil {
				ev := errValues(err)
				if errs == nil {
					errs = L.NewTable()
					first = ev[1:]
				}
				errs.RawSetInt(i+1, ev[1])
				v = lua.LFalse
			}
			vals.RawSetInt(i+1, v)
		}
		out := []lua.LValue{vals, first[0], lua.LNil, lua.LNil}
		if len(first) > 1 {
			out[2] = first[1]
		}
		if errs != nil {
			out[3] = errs
		}
		return out
	}
}

// batchValue is what the single call of that kind returns for reply r.
func batchValue(L *lua.LState, kind string, r xs.Reply) (lua.LValue, error) {
	if kind == "exists" {
		if xs.ErrnoOf(r.Err) == xs.ENOENT {
			return lua.LFalse, nil
		}
		return lua.LBool(r.Err == nil), r.Err
	}
	if r.Err != nil {
		return nil, r.Err
	}
	switch kind {
	case "read":
		return lua.LString(r.Payload), nil
	case "directory":
		return strList(L, r.Names()), nil
	case "get_perms":
		perms, err := r.Perms()
		if err != nil {
			return nil, err
		}
		ss := make([]string, len(perms))
		for i, pm := range perms {
			ss[i] = pm.String()
		}
		return strList(L, ss), nil
	}
	return lua.LTrue, nil
}

// permList parses a Lua list of permission strings, the owner first.
func permList(v lua.LValue) ([]xs.Perm, error) {
	tbl, isTable := v.(*lua.LTable)
	if !isTable {
		return nil, fmt.Errorf("a list of permissions expected")
	}
	var perms []xs.Perm
	for i := 1; i <= tbl.Len(); i++ {
		pm, err := xs.ParsePerm(lua.LVAsString(tbl.RawGetInt(i)))
		if err != nil {
			return nil, err
		}
		perms = append(perms, pm)
	}
	if len(perms) == 0 {
		return nil, fmt.Errorf("at least one permission (the owner) expected")
	}
	return perms, nil
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
