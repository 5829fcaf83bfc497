package lualib

import (
	"context"
	"embed"
	"errors"
	"fmt"
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

func infoTable(L *lua.LState, d hc.DomainInfo) lua.LValue {
	// sized for its fields at once: a list of many domains (every find by
	// name) otherwise regrows each table's hash several times
	t := L.CreateTable(0, 18)
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

// The hypervisor operations of the Lua module "xen", declared once each: the
// Lua name, the hc.Hypervisor method, how each Lua argument becomes the
// method's, and how its value becomes Lua's. The shape (op0, op1, op2 for a
// method of 0, 1 or 2 arguments that returns a value; do1, do2 for one that
// returns only an error, true in Lua) is checked by the compiler against the
// method. Every operation runs in the background (vm.Async), and a failure is
// nil, errno name, detail (ok, withErrno).
//
// A new hypervisor operation is in Lua once it has a row here (and a stub in
// meta/xen.lua, which TestMetaStubsCoverNativeModules asks for); a new
// argument or value type needs its reader or writer below.
var xenOps = map[string]xenOp{
	"create":            op1(hc.Hypervisor.CreateDomain, createConfig, domidValue),
	"destroy":           do1(hc.Hypervisor.DestroyDomain, domid),
	"pause":             do1(hc.Hypervisor.PauseDomain, domid),
	"unpause":           do1(hc.Hypervisor.UnpauseDomain, domid),
	"info":              op1(hc.Hypervisor.DomainInfo, domid, infoTable),
	"list":              op0(hc.Hypervisor.ListDomains, infoList),
	"set_max_mem":       do2(hc.Hypervisor.SetMaxMem, domid, kilobytes),
	"set_max_vcpus":     do2(hc.Hypervisor.SetMaxVcpus, domid, count),
	"set_vcpu_affinity": do2(hc.Hypervisor.SetVcpuAffinity, domid, vcpuAffinity),
	"vcpu_affinity":     op2(hc.Hypervisor.VcpuAffinity, domid, count, affinityTable),
	"vcpu_info":         op2(hc.Hypervisor.VcpuInfo, domid, count, vcpuInfoTable),
	"shutdown":          do2(hc.Hypervisor.Shutdown, domid, shutdownReason),
	"physinfo":          op0(hc.Hypervisor.PhysInfo, physInfoTable),
	"host_info":         op0(hc.Hypervisor.HostInfo, hostInfoTable),
	"read_console":      op1(hc.Hypervisor.ReadConsole, flag, stringValue),
	"sched_get":         op1(hc.Hypervisor.SchedParams, domid, schedTable),
	"sched_set":         do2(hc.Hypervisor.SetSchedParams, domid, schedParams),
	"evtchn_status":     op2(hc.Hypervisor.EvtchnStatus, domid, port, portStatusTable),
	"hvm_param":         op2(hc.Hypervisor.HVMParam, domid, hvmParamIndex, uint64Value),
	"send_trigger":      do2(hc.Hypervisor.SendTrigger, domid, trigger),
	"save":              op2(hc.Hypervisor.Save, domid, saveSpec, saveResultTable),
	"resume":            do1(hc.Hypervisor.Resume, domid),
	"restore":           op2(hc.Hypervisor.Restore, domid, restoreSpec, restoreResultTable),
	"version":           op0(hc.Hypervisor.Version, versionString),
	"build":             op2(hc.Hypervisor.Build, domid, buildSpec, buildResultTable),
}

// xenOp makes an operation's Lua function for a hypervisor.
type xenOp func(hv hc.Hypervisor) lua.LGFunction

// luaArg reads Lua argument n as a method's argument, raising Lua's argument
// error when it cannot.
type luaArg[T any] func(L *lua.LState, n int) T

// luaValue is the Lua value of a method's result.
type luaValue[T any] func(L *lua.LState, v T) lua.LValue

type none struct{}

func noArg(*lua.LState, int) none { return none{} }

// op2 is the shape every other reduces to: read arguments 1 and 2, call the
// method in the background, return its value (true when out is nil).
func op2[A, B, R any](m func(hc.Hypervisor, context.Context, A, B) (R, error), a luaArg[A], b luaArg[B], out luaValue[R]) xenOp {
	return func(hv hc.Hypervisor) lua.LGFunction {
		return func(L *lua.LState) int {
			x, y := a(L, 1), b(L, 2)
			return vm.Async(L, func(ctx context.Context) vm.Result {
				v, err := m(hv, ctx, x, y)
				if out == nil {
					return ok(withErrno(err), nil)
				}
				return ok(withErrno(err), func(L *lua.LState) []lua.LValue { return []lua.LValue{out(L, v)} })
			})
		}
	}
}

func op1[A, R any](m func(hc.Hypervisor, context.Context, A) (R, error), a luaArg[A], out luaValue[R]) xenOp {
	return op2(func(hv hc.Hypervisor, ctx context.Context, x A, _ none) (R, error) { return m(hv, ctx, x) }, a, noArg, out)
}

func op0[R any](m func(hc.Hypervisor, context.Context) (R, error), out luaValue[R]) xenOp {
	return op1(func(hv hc.Hypervisor, ctx context.Context, _ none) (R, error) { return m(hv, ctx) }, noArg, out)
}

func do2[A, B any](m func(hc.Hypervisor, context.Context, A, B) error, a luaArg[A], b luaArg[B]) xenOp {
	return op2(func(hv hc.Hypervisor, ctx context.Context, x A, y B) (none, error) { return none{}, m(hv, ctx, x, y) }, a, b, nil)
}

func do1[A any](m func(hc.Hypervisor, context.Context, A) error, a luaArg[A]) xenOp {
	return do2(func(hv hc.Hypervisor, ctx context.Context, x A, _ none) error { return m(hv, ctx, x) }, a, noArg)
}

// The argument readers.

func domid(L *lua.LState, n int) uint32 {
	d := L.CheckInt(n)
	if d < 0 || d >= hc.DomidFirstReserved {
		L.ArgError(n, "domid out of range")
	}
	return uint32(d)
}

func kilobytes(L *lua.LState, n int) uint64 { return uint64(L.CheckInt64(n)) }

func count(L *lua.LState, n int) uint32 { return uint32(L.CheckInt(n)) }

// flag is an optional boolean argument (absent: false).
func flag(L *lua.LState, n int) bool { return L.OptBool(n, false) }

func stringValue(_ *lua.LState, s string) lua.LValue { return lua.LString(s) }

func schedTable(L *lua.LState, p hc.SchedParams) lua.LValue {
	t := L.CreateTable(0, 3)
	t.RawSetString("scheduler", lua.LString(p.Scheduler))
	t.RawSetString("weight", lua.LNumber(p.Weight))
	t.RawSetString("cap", lua.LNumber(p.Cap))
	return t
}

// schedParams reads {scheduler=, weight=, cap=}: weight 1-65535 (0 or
// absent: as it is), cap 0-65535.
func schedParams(L *lua.LState, n int) hc.SchedParams {
	t := L.CheckTable(n)
	num := func(k string, lo float64) uint16 {
		v, ok := t.RawGetString(k).(lua.LNumber)
		if t.RawGetString(k) == lua.LNil {
			return 0
		}
		if !ok || float64(v) < lo || v > 65535 || v != lua.LNumber(int64(v)) {
			L.ArgError(n, fmt.Sprintf("%s must be a whole number from %v to 65535", k, lo))
		}
		return uint16(v)
	}
	return hc.SchedParams{Scheduler: optStr(t, "scheduler"), Weight: num("weight", 0), Cap: num("cap", 0)}
}

func port(L *lua.LState, n int) uint32 {
	p := L.CheckInt64(n)
	if p < 0 || p > 1<<31 {
		L.ArgError(n, "event channel port out of range")
	}
	return uint32(p)
}

// cpuList reads an optional list of CPU numbers (nil: leave it as it is).
func cpuList(L *lua.LState, n int, t *lua.LTable, key string) []uint32 {
	v := t.RawGetString(key)
	if v == lua.LNil {
		return nil
	}
	l, ok := v.(*lua.LTable)
	if !ok {
		L.ArgError(n, key+" must be a list of CPU numbers")
	}
	out := []uint32{}
	for i := 1; i <= l.Len(); i++ {
		c, ok := l.RawGetInt(i).(lua.LNumber)
		if !ok || c < 0 || c != lua.LNumber(int64(c)) {
			L.ArgError(n, fmt.Sprintf("%s[%d] is not a CPU number", key, i))
		}
		out = append(out, uint32(c))
	}
	return out
}

// vcpuAffinity reads {vcpu=, hard={cpu...}, soft={cpu...}}.
func vcpuAffinity(L *lua.LState, n int) hc.VcpuAffinity {
	t := L.CheckTable(n)
	v, ok := t.RawGetString("vcpu").(lua.LNumber)
	if !ok || v < 0 {
		L.ArgError(n, "vcpu must be a vCPU number")
	}
	return hc.VcpuAffinity{Vcpu: uint32(v), Hard: cpuList(L, n, t, "hard"), Soft: cpuList(L, n, t, "soft")}
}

func shutdownReason(L *lua.LState, n int) hc.ShutdownReason {
	r, err := hc.ParseShutdownReason(L.CheckString(n))
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return r
}

// saveSpec reads {path=, config=} (config: libxl's domain config JSON).
func saveSpec(L *lua.LState, n int) hc.SaveSpec {
	t := L.CheckTable(n)
	spec := hc.SaveSpec{Path: optStr(t, "path"), Config: []byte(optStr(t, "config")), Phase: optStr(t, "phase")}
	if spec.Path == "" && (spec.Phase == "" || spec.Phase == "live") {
		L.ArgError(n, "path expected")
	}
	if len(spec.Config) == 0 || spec.Config[len(spec.Config)-1] != 0 {
		spec.Config = append(spec.Config, 0) // xl writes the JSON with its NUL
	}
	return spec
}

func saveResultTable(L *lua.LState, r hc.SaveResult) lua.LValue {
	t := L.CreateTable(0, 3)
	t.RawSetString("bytes", lua.LNumber(r.Bytes))
	t.RawSetString("pfns", lua.LNumber(r.PFNs))
	t.RawSetString("pages", lua.LNumber(r.Pages))
	t.RawSetString("rounds", lua.LNumber(r.Rounds))
	t.RawSetString("dirty", lua.LNumber(r.Dirty))
	return t
}

// restoreSpec reads {path=, maxmem_kb=, vcpus=}.
func restoreSpec(L *lua.LState, n int) hc.RestoreSpec {
	t := L.CheckTable(n)
	spec := hc.RestoreSpec{Path: optStr(t, "path"), MaxMemKB: uint64(optInt(t, "maxmem_kb", 0)), Vcpus: uint32(optInt(t, "vcpus", 1)),
		HeaderRead: lua.LVAsBool(t.RawGetString("header_read"))}
	if spec.Path == "" {
		L.ArgError(n, "path expected")
	}
	return spec
}

// restoreResultTable is build's table (the rings) with what the stream held.
func restoreResultTable(L *lua.LState, r hc.RestoreResult) lua.LValue {
	t := buildResultTable(L, r.BuildResult).(*lua.LTable)
	t.RawSetString("pfns", lua.LNumber(r.PFNs))
	t.RawSetString("pages", lua.LNumber(r.Pages))
	return t
}

func trigger(L *lua.LState, n int) hc.Trigger {
	t, err := hc.ParseTrigger(L.CheckString(n))
	if err != nil {
		L.ArgError(n, err.Error())
	}
	return t
}

// hvmParams are the HVM_PARAM_* indexes a script may name instead of giving
// the number.
var hvmParams = map[string]uint32{"callback_irq": hc.HVMParamCallbackIRQ, "store_pfn": 1, "store_evtchn": 2,
	"ioreq_pfn": 5, "bufioreq_pfn": 6, "timer_mode": 10, "hpet_enabled": 11, "identity_pt": 12,
	"console_pfn": 17, "console_evtchn": 18, "nested_hvm": 24}

// hvmParamIndex reads an HVM_PARAM_* index, or its name in hvmParams
// ("callback_irq" for HVM_PARAM_CALLBACK_IRQ).
func hvmParamIndex(L *lua.LState, n int) uint32 {
	if s, ok := L.Get(n).(lua.LString); ok {
		i, known := hvmParams[string(s)]
		if !known {
			L.ArgError(n, fmt.Sprintf("unknown HVM parameter %q", string(s)))
		}
		return i
	}
	i := L.CheckInt(n)
	if i < 0 || i >= hc.HVMParamCount {
		L.ArgError(n, fmt.Sprintf("HVM parameter index out of range (0-%d)", hc.HVMParamCount-1))
	}
	return uint32(i)
}

// uint64Value is a Lua number: exact up to 2^53, which a test for zero or
// an index or page number never exceeds.
func uint64Value(_ *lua.LState, v uint64) lua.LValue { return lua.LNumber(v) }

// createConfig reads {uuid=, hvm=, hap=, device_model=, msr_relaxed=, max_vcpus=} (all optional).
func createConfig(L *lua.LState, n int) hc.CreateConfig {
	t := L.OptTable(n, L.NewTable())
	cfg := hc.CreateConfig{MaxVcpus: uint32(optInt(t, "max_vcpus", 1)),
		HVM: lua.LVAsBool(t.RawGetString("hvm")), HAP: lua.LVAsBool(t.RawGetString("hap")),
		DeviceModel:   lua.LVAsBool(t.RawGetString("device_model")),
		MSRRelaxed:    lua.LVAsBool(t.RawGetString("msr_relaxed")),
		MaxEvtchnPort: -1, MaxGrantFrames: -1, MaxMaptrackFrames: -1}
	if u := optStr(t, "uuid"); u != "" {
		id, err := hc.ParseUUID(u)
		if err != nil {
			L.ArgError(n, err.Error())
		}
		cfg.UUID = id
	}
	return cfg
}

// buildSpec reads {type, memory_kb, maxmem_kb, vcpus, max_vcpus, kernel, ramdisk,
// cmdline, cache_dir, firmware, bios, modules = {{path=, cmdline=}, ...}}.
func buildSpec(L *lua.LState, n int) hc.BuildSpec {
	t := L.CheckTable(n)
	spec := hc.BuildSpec{Type: optStr(t, "type"), MemoryKB: uint64(optInt(t, "memory_kb", 0)),
		MaxMemKB: uint64(optInt(t, "maxmem_kb", 0)), Vcpus: uint32(optInt(t, "vcpus", 1)), MaxVcpus: uint32(optInt(t, "max_vcpus", 0)),
		Kernel: optStr(t, "kernel"), Ramdisk: optStr(t, "ramdisk"), Cmdline: optStr(t, "cmdline"),
		CacheDir: optStr(t, "cache_dir"), Firmware: optStr(t, "firmware"), BIOS: optStr(t, "bios")}
	if mt, ok := t.RawGetString("modules").(*lua.LTable); ok {
		for i := 1; i <= mt.Len(); i++ {
			m, ok := mt.RawGetInt(i).(*lua.LTable)
			if !ok || optStr(m, "path") == "" {
				L.ArgError(n, fmt.Sprintf("modules[%d]: want {path = FILE [, cmdline = TEXT]}", i))
			}
			spec.Modules = append(spec.Modules, hc.BootModule{Path: optStr(m, "path"), Cmdline: optStr(m, "cmdline")})
		}
	}
	return spec
}

// The value writers.

func domidValue(_ *lua.LState, id uint32) lua.LValue { return lua.LNumber(id) }

func infoList(L *lua.LState, ds []hc.DomainInfo) lua.LValue {
	t := L.CreateTable(len(ds), 0)
	for _, d := range ds {
		t.Append(infoTable(L, d))
	}
	return t
}

// portStatusTable is {state = "closed"|"unbound"|"interdomain"|..., remote_dom
// = (unbound, interdomain), remote_port = (interdomain)}.
func vcpuInfoTable(L *lua.LState, v hc.VcpuInfo) lua.LValue {
	t := L.CreateTable(0, 6)
	t.RawSetString("vcpu", lua.LNumber(v.Vcpu))
	t.RawSetString("online", lua.LBool(v.Online))
	t.RawSetString("blocked", lua.LBool(v.Blocked))
	t.RawSetString("running", lua.LBool(v.Running))
	t.RawSetString("cpu_time", lua.LNumber(float64(v.CPUTime)/1e9))
	t.RawSetString("cpu", lua.LNumber(v.CPU))
	return t
}

func affinityTable(L *lua.LState, a hc.VcpuAffinity) lua.LValue {
	list := func(l []uint32) *lua.LTable {
		t := L.CreateTable(len(l), 0)
		for _, c := range l {
			t.Append(lua.LNumber(c))
		}
		return t
	}
	t := L.CreateTable(0, 3)
	t.RawSetString("vcpu", lua.LNumber(a.Vcpu))
	t.RawSetString("hard", list(a.Hard))
	t.RawSetString("soft", list(a.Soft))
	return t
}

func portStatusTable(L *lua.LState, st hc.PortStatus) lua.LValue {
	t := L.NewTable()
	t.RawSetString("state", lua.LString(st.State.String()))
	switch st.State {
	case hc.PortUnbound:
		t.RawSetString("remote_dom", lua.LNumber(st.RemoteDom))
	case hc.PortInterdomain:
		t.RawSetString("remote_dom", lua.LNumber(st.RemoteDom))
		t.RawSetString("remote_port", lua.LNumber(st.RemotePort))
	}
	return t
}

func physInfoTable(L *lua.LState, pi hc.PhysInfo) lua.LValue {
	t := L.NewTable()
	t.RawSetString("nr_cpus", lua.LNumber(pi.NrCPUs))
	t.RawSetString("nr_nodes", lua.LNumber(pi.NrNodes))
	t.RawSetString("cores_per_socket", lua.LNumber(pi.CoresPerSocket))
	t.RawSetString("threads_per_core", lua.LNumber(pi.ThreadsPerCore))
	t.RawSetString("cpu_mhz", lua.LNumber(pi.CPUKHz/1000))
	t.RawSetString("cpu_khz", lua.LNumber(pi.CPUKHz))
	t.RawSetString("total_kb", lua.LNumber(pi.TotalPages*4))
	t.RawSetString("free_kb", lua.LNumber(pi.FreePages*4))
	t.RawSetString("max_cpu_id", lua.LNumber(pi.MaxCPUID))
	t.RawSetString("outstanding_kb", lua.LNumber(pi.OutstandingPages*4))
	words := make([]string, len(pi.HWCap))
	for i, w := range pi.HWCap {
		words[i] = fmt.Sprintf("%08x", w)
	}
	t.RawSetString("hw_caps", lua.LString(strings.Join(words, ":")))
	// the capability names, in xl info's order and words
	caps := L.NewTable()
	for _, c := range []struct {
		bit  uint32
		name string
	}{{hc.PhysCapPV, "pv"}, {hc.PhysCapHVM, "hvm"}, {hc.PhysCapDirectIO, "directio"}, {hc.PhysCapHAP, "hap"},
		{hc.PhysCapShadow, "shadow"}, {hc.PhysCapIOMMUHAPShare, "iommu_hap_pt_share"}, {hc.PhysCapVMTrace, "vmtrace"},
		{hc.PhysCapVPMU, "vpmu"}, {hc.PhysCapGnttabV1, "gnttab-v1"}, {hc.PhysCapGnttabV2, "gnttab-v2"}} {
		if pi.Capabilities&c.bit != 0 {
			caps.Append(lua.LString(c.name))
		}
	}
	t.RawSetString("capabilities", caps)
	return t
}

func hostInfoTable(L *lua.LState, hi hc.HostInfo) lua.LValue {
	t := L.NewTable()
	for k, v := range map[string]string{"capabilities": hi.Capabilities, "changeset": hi.Changeset,
		"commandline": hi.Commandline, "compiler": hi.Compiler, "compile_by": hi.CompileBy,
		"compile_domain": hi.CompileDomain, "compile_date": hi.CompileDate, "build_id": hi.BuildID,
		"scheduler": hi.Scheduler} {
		t.RawSetString(k, lua.LString(v))
	}
	// in hex: Lua's numbers (float64) cannot hold an address like 0xffff800000000000
	t.RawSetString("virt_start", lua.LString(fmt.Sprintf("0x%x", hi.VirtStart)))
	t.RawSetString("pagesize", lua.LNumber(hi.PageSize))
	t.RawSetString("sharing_freed_pages", lua.LNumber(hi.SharingFreedPages))
	t.RawSetString("sharing_shared_pages", lua.LNumber(hi.SharingSharedPages))
	t.RawSetString("free_cpus", lua.LNumber(hi.FreeCPUs))
	return t
}

func versionString(_ *lua.LState, v hc.Version) lua.LValue { return lua.LString(v.String()) }

func buildResultTable(L *lua.LState, br hc.BuildResult) lua.LValue {
	r := L.NewTable()
	r.RawSetString("store_gfn", lua.LNumber(br.StoreGFN))
	r.RawSetString("store_port", lua.LNumber(br.StorePort))
	r.RawSetString("console_gfn", lua.LNumber(br.ConsoleGFN))
	r.RawSetString("console_port", lua.LNumber(br.ConsolePort))
	return r
}

// OpenXen registers "xen", the hypervisor operations (xenOps) and two more:
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
//	xen.inspect_kernel(path [, cache_dir]) -> {entry, low, high, guest_os}
//	xen.host() -> "xen" | "sim" | "sim-served"
func OpenXen(s *vm.Scheduler, h *host.Host) {
	hv := h.HV
	s.L.PreloadModule("xen", func(L *lua.LState) int {
		blocking := map[string]lua.LGFunction{"inspect_kernel": inspectKernel}
		for name, op := range xenOps {
			blocking[name] = op(hv)
		}
		mod := L.NewTable()
		s.SetFuncsAs(mod, "xen", map[string]lua.LGFunction{
			"host": func(L *lua.LState) int { L.Push(lua.LString(h.Kind)); return 1 },
		}, blocking)
		L.Push(mod)
		return 1
	})
}

// inspectKernel is xen.inspect_kernel(path [, cache_dir]) -> {entry, low,
// high, guest_os} | nil, "EINVAL", "path: reason": a kernel's bounds, read
// without creating anything.
func inspectKernel(L *lua.LState) int {
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
