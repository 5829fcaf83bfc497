package lualib

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	hc "luxen/bindings/hypercall"
	"luxen/bindings/pvh"
	"luxen/vm"
)

//go:embed lua/*.lua
var luaFiles embed.FS

// Scripts holds the thin Lua halves of the modules (xenstore.lua, ...).
var Scripts, _ = fs.Sub(luaFiles, "lua")

func secs(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// optTimeout reads the optional timeout in seconds at argument n; absent or
// nil gives -1, which withTimeout takes as "wait until the task is cancelled".
func optTimeout(L *lua.LState, n int) float64 {
	if L.GetTop() >= n && L.Get(n) != lua.LNil {
		return float64(L.CheckNumber(n))
	}
	return -1
}

// newObject wraps v as userdata with the metatable registered as typ.
func newObject(L *lua.LState, typ string, v any) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = v
	ud.Metatable = L.GetTypeMetatable(typ)
	return ud
}

// withTimeout bounds ctx by d seconds, or only by ctx itself when d < 0.
func withTimeout(ctx context.Context, d float64) (context.Context, context.CancelFunc) {
	if d < 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, secs(d))
}

// hcErr renders hypervisor errors as nil, "ENOMEM", "detail".
func hcErr(err error) []lua.LValue {
	var he *hc.Error
	if errors.As(err, &he) {
		return []lua.LValue{lua.LNil, lua.LString(hc.ErrnoName(he.Errno)), lua.LString(he.Error())}
	}
	if e := hc.ErrnoOf(err); e != 0 { // a device's syscall error
		return []lua.LValue{lua.LNil, lua.LString(hc.ErrnoName(e)), lua.LString(err.Error())}
	}
	return errValues(err)
}

func hcOK(err error, vals func(L *lua.LState) []lua.LValue) vm.Result {
	return func(L *lua.LState) []lua.LValue {
		if err != nil {
			return hcErr(err)
		}
		if vals == nil {
			return []lua.LValue{lua.LTrue}
		}
		return vals(L)
	}
}

func infoTable(L *lua.LState, d hc.DomainInfo) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("domid", lua.LNumber(d.Domid))
	t.RawSetString("uuid", lua.LString(hc.FormatUUID(d.UUID)))
	t.RawSetString("dying", lua.LBool(d.Dying))
	t.RawSetString("hvm", lua.LBool(d.HVM))
	t.RawSetString("shutdown", lua.LBool(d.Shutdown))
	t.RawSetString("paused", lua.LBool(d.Paused))
	t.RawSetString("blocked", lua.LBool(d.Blocked))
	t.RawSetString("running", lua.LBool(d.Running))
	if d.Shutdown {
		t.RawSetString("shutdown_reason", lua.LString(d.ShutdownReason.String()))
	}
	t.RawSetString("state", lua.LString(d.State()))
	t.RawSetString("tot_pages", lua.LNumber(d.TotPages))
	t.RawSetString("max_pages", lua.LNumber(d.MaxPages))
	t.RawSetString("memory_kb", lua.LNumber(d.TotPages*4))
	t.RawSetString("cpu_time", lua.LNumber(float64(d.CPUTime)/1e9))
	t.RawSetString("online_vcpus", lua.LNumber(d.OnlineVcpus))
	t.RawSetString("max_vcpu_id", lua.LNumber(d.MaxVcpuID))
	return t
}

func optInt(t *lua.LTable, k string, def int64) int64 {
	if n, ok := t.RawGetString(k).(lua.LNumber); ok {
		return int64(n)
	}
	return def
}

func optStr(t *lua.LTable, k string) string {
	if s, ok := t.RawGetString(k).(lua.LString); ok {
		return string(s)
	}
	return ""
}

// OpenXen registers "xen", the hypervisor operations:
//
//	local xen = require("xen")
//	xen.create{uuid=, hvm=, hap=, max_vcpus=} -> domid | nil, errno, detail
//	xen.destroy(domid) / pause / unpause -> true | nil, errno, detail
//	xen.info(domid) -> {domid, uuid, state, shutdown_reason, memory_kb, ...}
//	xen.list() -> { info, ... } in domid order
//	xen.set_max_mem(domid, kb) / xen.set_max_vcpus(domid, n)
//	xen.shutdown(domid, "poweroff"|"reboot"|"suspend"|"crash"|"watchdog"|"soft_reset")
//	xen.physinfo() -> {nr_cpus, total_kb, free_kb, ...} ; xen.version() -> "4.17"
//	xen.build(domid, {type, memory_kb, maxmem_kb, vcpus, kernel, ramdisk, cmdline})
//	    -> {store_gfn, store_port, console_gfn, console_port}
//	xen.host() -> "xen" | "sim" | "sim-served"
func OpenXen(s *vm.Scheduler, h *host.Host) {
	hv := h.HV
	s.L.PreloadModule("xen", func(L *lua.LState) int {
		dom := func(L *lua.LState) uint32 {
			d := L.CheckInt(1)
			if d < 0 || d >= hc.DomidFirstReserved {
				L.ArgError(1, "domid out of range")
			}
			return uint32(d)
		}
		simple := func(f func(ctx context.Context, d uint32) error) lua.LGFunction {
			return func(L *lua.LState) int {
				d := dom(L)
				return vm.Async(L, func(ctx context.Context) vm.Result { return hcOK(f(ctx, d), nil) })
			}
		}
		mod := L.NewTable()
		s.SetFuncs(mod, map[string]lua.LGFunction{
			"host": func(L *lua.LState) int { L.Push(lua.LString(h.Kind)); return 1 },
		}, map[string]lua.LGFunction{
			"create": func(L *lua.LState) int {
				t := L.OptTable(1, L.NewTable())
				cfg := hc.CreateConfig{MaxVcpus: uint32(optInt(t, "max_vcpus", 1)),
					HVM: lua.LVAsBool(t.RawGetString("hvm")), HAP: lua.LVAsBool(t.RawGetString("hap")),
					MaxEvtchnPort: -1, MaxGrantFrames: -1, MaxMaptrackFrames: -1}
				if u := optStr(t, "uuid"); u != "" {
					id, err := hc.ParseUUID(u)
					if err != nil {
						L.ArgError(1, err.Error())
					}
					cfg.UUID = id
				}
				return vm.Async(L, func(ctx context.Context) vm.Result {
					id, err := hv.CreateDomain(ctx, cfg)
					return hcOK(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LNumber(id)} })
				})
			},
			"destroy": simple(hv.DestroyDomain),
			"pause":   simple(hv.PauseDomain),
			"unpause": simple(hv.UnpauseDomain),
			"info": func(L *lua.LState) int {
				d := dom(L)
				return vm.Async(L, func(ctx context.Context) vm.Result {
					di, err := hv.DomainInfo(ctx, d)
					return hcOK(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{infoTable(L, di)} })
				})
			},
			"list": func(L *lua.LState) int {
				return vm.Async(L, func(ctx context.Context) vm.Result {
					ds, err := hv.ListDomains(ctx)
					return hcOK(err, func(L *lua.LState) []lua.LValue {
						t := L.CreateTable(len(ds), 0)
						for _, d := range ds {
							t.Append(infoTable(L, d))
						}
						return []lua.LValue{t}
					})
				})
			},
			"set_max_mem": func(L *lua.LState) int {
				d, kb := dom(L), uint64(L.CheckInt64(2))
				return vm.Async(L, func(ctx context.Context) vm.Result { return hcOK(hv.SetMaxMem(ctx, d, kb), nil) })
			},
			"set_max_vcpus": func(L *lua.LState) int {
				d, n := dom(L), uint32(L.CheckInt(2))
				return vm.Async(L, func(ctx context.Context) vm.Result { return hcOK(hv.SetMaxVcpus(ctx, d, n), nil) })
			},
			"shutdown": func(L *lua.LState) int {
				d := dom(L)
				r, err := hc.ParseShutdownReason(L.CheckString(2))
				if err != nil {
					L.ArgError(2, err.Error())
				}
				return vm.Async(L, func(ctx context.Context) vm.Result { return hcOK(hv.Shutdown(ctx, d, r), nil) })
			},
			"physinfo": func(L *lua.LState) int {
				return vm.Async(L, func(ctx context.Context) vm.Result {
					pi, err := hv.PhysInfo(ctx)
					return hcOK(err, func(L *lua.LState) []lua.LValue {
						t := L.NewTable()
						t.RawSetString("nr_cpus", lua.LNumber(pi.NrCPUs))
						t.RawSetString("nr_nodes", lua.LNumber(pi.NrNodes))
						t.RawSetString("cores_per_socket", lua.LNumber(pi.CoresPerSocket))
						t.RawSetString("threads_per_core", lua.LNumber(pi.ThreadsPerCore))
						t.RawSetString("cpu_mhz", lua.LNumber(pi.CPUKHz/1000))
						t.RawSetString("total_kb", lua.LNumber(pi.TotalPages*4))
						t.RawSetString("free_kb", lua.LNumber(pi.FreePages*4))
						return []lua.LValue{t}
					})
				})
			},
			"version": func(L *lua.LState) int {
				return vm.Async(L, func(ctx context.Context) vm.Result {
					v, err := hv.Version(ctx)
					return hcOK(err, func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LString(v.String())} })
				})
			},
			// inspect_kernel(path [, cache_dir]) -> {entry, low, high, guest_os} | nil, errno, detail
			"inspect_kernel": func(L *lua.LState) int {
				path, cache := L.CheckString(1), L.OptString(2, "")
				return vm.Async(L, func(ctx context.Context) vm.Result {
					k, err := pvh.LoadKernelCached(path, cache)
					if err != nil {
						return func(L *lua.LState) []lua.LValue {
							return []lua.LValue{lua.LNil, lua.LString("EINVAL"), lua.LString(kernelProblem(path, err))}
						}
					}
					k.Close() // only the bounds are wanted, not the bytes
					return func(L *lua.LState) []lua.LValue {
						t := L.NewTable()
						t.RawSetString("entry", lua.LNumber(k.Entry))
						t.RawSetString("low", lua.LNumber(k.Low))
						t.RawSetString("high", lua.LNumber(k.High))
						t.RawSetString("guest_os", lua.LString(k.GuestOS))
						return []lua.LValue{t}
					}
				})
			},
			"build": func(L *lua.LState) int {
				d := dom(L)
				t := L.CheckTable(2)
				spec := hc.BuildSpec{Type: optStr(t, "type"), MemoryKB: uint64(optInt(t, "memory_kb", 0)),
					MaxMemKB: uint64(optInt(t, "maxmem_kb", 0)), Vcpus: uint32(optInt(t, "vcpus", 1)),
					Kernel: optStr(t, "kernel"), Ramdisk: optStr(t, "ramdisk"), Cmdline: optStr(t, "cmdline"),
					CacheDir: optStr(t, "cache_dir")}
				return vm.Async(L, func(ctx context.Context) vm.Result {
					br, err := hv.Build(ctx, d, spec)
					return hcOK(err, func(L *lua.LState) []lua.LValue {
						r := L.NewTable()
						r.RawSetString("store_gfn", lua.LNumber(br.StoreGFN))
						r.RawSetString("store_port", lua.LNumber(br.StorePort))
						r.RawSetString("console_gfn", lua.LNumber(br.ConsoleGFN))
						r.RawSetString("console_port", lua.LNumber(br.ConsolePort))
						return []lua.LValue{r}
					})
				})
			},
		})
		L.Push(mod)
		return 1
	})
}

// kernelProblem is what is wrong with the kernel at path, as "path: reason".
// The caller names the key it came from ("web.cfg: kernel: ..."), so pvh's
// own "kernel" prefix, and Go's "stat" or "open", would only repeat it.
func kernelProblem(path string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		return path + ": " + pe.Err.Error()
	}
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "kernel "+path+": "); ok {
		return path + ": " + rest
	}
	if rest, ok := strings.CutPrefix(msg, "kernel: "); ok {
		return path + ": " + rest
	}
	return msg
}
