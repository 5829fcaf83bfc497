// Package hypercall defines the hypervisor operations the toolstack needs
// (domctl, sysctl, sched_op and friends) as a Go interface. The simulated host
// implements it in package simxen; the privcmd implementation talks to real Xen.
// It does not import Lua.
package hypercall

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// DomidFirstReserved is DOMID_FIRST_RESERVED: domids at or above it are special.
const DomidFirstReserved = 0x7FF0

// PrivcmdPath is Linux's privcmd device: the real Hypervisor opens it, and its
// presence is what says luxen runs in a Xen dom0.
const PrivcmdPath = "/dev/xen/privcmd"

// ShutdownReason is SHUTDOWN_* of xen/include/public/sched.h.
type ShutdownReason uint8

// Shutdown reasons.
const (
	Poweroff  ShutdownReason = 0
	Reboot    ShutdownReason = 1
	Suspend   ShutdownReason = 2
	Crash     ShutdownReason = 3
	Watchdog  ShutdownReason = 4
	SoftReset ShutdownReason = 5
)

var reasonNames = []string{"poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset"}

func (r ShutdownReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason-%d", r)
}

// ParseShutdownReason maps "poweroff", "reboot", ... to the reason.
func ParseShutdownReason(s string) (ShutdownReason, error) {
	for i, n := range reasonNames {
		if n == s {
			return ShutdownReason(i), nil
		}
	}
	return 0, fmt.Errorf("unknown shutdown reason %q (want one of %v)", s, reasonNames)
}

// DomainInfo is what getdomaininfo reports of one domain.
type DomainInfo struct {
	Domid          uint32
	UUID           [16]byte
	Dying          bool
	HVM            bool
	Shutdown       bool
	Paused         bool
	Blocked        bool
	Running        bool
	ShutdownReason ShutdownReason
	TotPages       uint64
	MaxPages       uint64
	CPUTime        uint64 // nanoseconds
	OnlineVcpus    uint32
	MaxVcpuID      uint32
}

// State renders the six-letter state column of `xl list` (r b p s c d).
func (d DomainInfo) State() string {
	b := []byte("------")
	if d.Running {
		b[0] = 'r'
	}
	if d.Blocked {
		b[1] = 'b'
	}
	if d.Paused {
		b[2] = 'p'
	}
	if d.Shutdown {
		if d.ShutdownReason == Crash {
			b[4] = 'c'
		} else {
			b[3] = 's'
		}
	}
	if d.Dying {
		b[5] = 'd'
	}
	return string(b)
}

// CreateConfig is the part of xen_domctl_createdomain the toolstack sets.
type CreateConfig struct {
	UUID [16]byte
	HVM  bool // PVH and HVM guests are HVM containers
	HAP  bool
	// DeviceModel asks for an HVM guest with Xen's full platform emulation
	// (PIC, IOAPIC, RTC, PIT, HPET, ...) and a QEMU for the rest; without it
	// an HVM container is PVH (only the local APIC).
	DeviceModel bool
	// MSRRelaxed: the guest reads 0 from an MSR Xen does not know, and its
	// writes there are dropped, instead of a #GP (xl.cfg's msr_relaxed)
	MSRRelaxed bool
	MaxVcpus   uint32
	// Negative means Xen's default, as libxl passes.
	MaxEvtchnPort     int32
	MaxGrantFrames    int32
	MaxMaptrackFrames int32
}

// PhysInfo is what sysctl physinfo says of the machine (`xl info`'s first half).
type PhysInfo struct {
	NrCPUs         uint32
	MaxCPUID       uint32
	NrNodes        uint32
	CoresPerSocket uint32
	ThreadsPerCore uint32
	CPUKHz         uint32
	// Capabilities are XEN_SYSCTL_PHYSCAP_* bits (PhysCapHVM, ...)
	Capabilities     uint32
	HWCap            [8]uint32 // the boot CPU's feature words, as xl's hw_caps
	TotalPages       uint64
	FreePages        uint64
	ScrubPages       uint64
	OutstandingPages uint64 // claimed and not yet populated
}

// XEN_SYSCTL_PHYSCAP_* bits of PhysInfo.Capabilities.
const (
	PhysCapHVM           = 1 << 0
	PhysCapPV            = 1 << 1
	PhysCapDirectIO      = 1 << 2
	PhysCapHAP           = 1 << 3
	PhysCapShadow        = 1 << 4
	PhysCapIOMMUHAPShare = 1 << 5
	PhysCapVMTrace       = 1 << 6
	PhysCapVPMU          = 1 << 7
	PhysCapGnttabV1      = 1 << 8
	PhysCapGnttabV2      = 1 << 9
)

// HostInfo is what the hypervisor says of itself beyond physinfo: the rest
// of `xl info` (xen_version's sub-commands, the scheduler, sharing counts
// and the CPUs no cpupool holds).
type HostInfo struct {
	Capabilities  string // XENVER_capabilities: "xen-3.0-x86_64 hvm-3.0-x86_32 ..."
	Changeset     string // XENVER_changeset
	Commandline   string // XENVER_commandline: Xen's boot command line
	Compiler      string // XENVER_compile_info
	CompileBy     string
	CompileDomain string
	CompileDate   string
	VirtStart     uint64 // XENVER_platform_parameters
	PageSize      uint32 // XENVER_pagesize
	BuildID       string // XENVER_build_id in hex; "" when Xen was built without one
	Scheduler     string // XEN_SYSCTL_sched_id of the default pool
	// XENMEM_get_sharing_freed_pages and _shared_pages (0 without mem_sharing)
	SharingFreedPages  uint64
	SharingSharedPages uint64
	FreeCPUs           uint32 // XEN_SYSCTL_CPUPOOL_OP_FREEINFO: CPUs in no pool
}

// Version is xen_version's answer.
type Version struct {
	Major, Minor int
	Extra        string
}

func (v Version) String() string { return fmt.Sprintf("%d.%d%s", v.Major, v.Minor, v.Extra) }

// BuildSpec says what to load into a created domain.
type BuildSpec struct {
	Type     string // pv, pvh or hvm
	MemoryKB uint64
	MaxMemKB uint64
	Vcpus    uint32
	// MaxVcpus is how many vCPUs the guest may have online later (0: Vcpus):
	// a PVH guest's MADT lists them all (see pvh.ACPITables)
	MaxVcpus uint32
	Kernel   string
	Ramdisk  string
	Cmdline  string
	// CacheDir keeps decompressed kernels between builds ("" for none).
	CacheDir string
	// HVM: Firmware is hvmloader, BIOS the ROM it hands over to (SeaBIOS);
	// the guest's own kernel, if any, is QEMU's to load.
	Firmware string
	BIOS     string
	// Modules go after the ramdisk in start_info's module list, each with
	// its command line: the PV shim (Kernel = xen-shim) takes the PV kernel
	// as module 0 and its ramdisk as module 1.
	Modules []BootModule
}

// BootModule is a file loaded into the guest and named in start_info.
type BootModule struct {
	Path    string
	Cmdline string
}

// BuildResult is what the toolstack needs after building: where the xenstore and
// console rings are and their event channels, to introduce the domain.
type BuildResult struct {
	StoreGFN    uint64
	StorePort   uint32
	ConsoleGFN  uint64
	ConsolePort uint32
}

// PortState is EVTCHNSTAT_* of xen/include/public/event_channel.h.
type PortState uint32

// Event channel states.
const (
	PortClosed      PortState = 0
	PortUnbound     PortState = 1
	PortInterdomain PortState = 2
	PortPIRQ        PortState = 3
	PortVIRQ        PortState = 4
	PortIPI         PortState = 5
)

var portStateNames = []string{"closed", "unbound", "interdomain", "pirq", "virq", "ipi"}

func (s PortState) String() string {
	if int(s) < len(portStateNames) {
		return portStateNames[s]
	}
	return fmt.Sprintf("state-%d", s)
}

// PortStatus is what EVTCHNOP_status says of one of a domain's event
// channels: its state, and for an unbound or interdomain channel the domain
// (and port) at the other end.
type PortStatus struct {
	State      PortState
	RemoteDom  uint32
	RemotePort uint32
}

// VcpuAffinity is one vCPU's hard and soft affinity: physical CPU numbers,
// ascending.
type VcpuAffinity struct {
	Vcpu uint32
	Hard []uint32
	Soft []uint32
}

// VcpuInfo is one vCPU as XEN_DOMCTL_getvcpuinfo reports it.
type VcpuInfo struct {
	Vcpu    uint32
	Online  bool
	Blocked bool
	Running bool
	CPUTime uint64 // nanoseconds
	CPU     uint32 // the physical CPU it is on, or last ran on
}

// SchedParams are a domain's scheduler parameters under credit or credit2:
// its weight (share of CPU against others) and cap (percent of one CPU, 0
// for none). Scheduler names the host's scheduler.
type SchedParams struct {
	Scheduler string
	Weight    uint16
	Cap       uint16
}

// Trigger is an event XEN_DOMCTL_sendtrigger delivers to a guest's vCPU
// (XEN_DOMCTL_SENDTRIGGER_*). Xen 4.17 on x86 acts on NMI, Power and Sleep
// (the last two HVM only, as ACPI button presses); Reset and Init are
// refused with ENOSYS there, which is why libxl resets an HVM guest through
// its device model instead.
type Trigger uint32

const (
	TriggerNMI   Trigger = 0
	TriggerReset Trigger = 1
	TriggerInit  Trigger = 2
	TriggerPower Trigger = 3
	TriggerSleep Trigger = 4
)

var triggerNames = []string{"nmi", "reset", "init", "power", "sleep"}

func (t Trigger) String() string {
	if int(t) < len(triggerNames) {
		return triggerNames[t]
	}
	return fmt.Sprintf("trigger %d", uint32(t))
}

// ParseTrigger is the inverse of Trigger.String.
func ParseTrigger(s string) (Trigger, error) {
	for i, n := range triggerNames {
		if n == s {
			return Trigger(i), nil
		}
	}
	return 0, fmt.Errorf("unknown trigger %q (nmi, reset, init, power or sleep)", s)
}

// HVMParamCallbackIRQ is HVM_PARAM_CALLBACK_IRQ: how Xen signals an HVM
// guest's event channels. A guest's PV drivers set it when they start, so 0
// means the guest has none (yet), and cannot be asked to shut down through
// xenstore (libxl__domain_pvcontrol_available reads it for the same reason).
const HVMParamCallbackIRQ = 0

// HVMParamCount is HVM_NR_PARAMS of Xen 4.17: parameter indexes run below it.
const HVMParamCount = 39

// SaveSpec is what Save writes where.
type SaveSpec struct {
	Path   string // the file, made (or truncated) with mode 0600, or a pipe's path
	Config []byte // xl's config: libxl_domain_config JSON, NUL-terminated
	// Phase: "" saves a suspended domain whole. A live save (a migration)
	// is three calls: "live" starts the stream while the guest runs, with
	// log-dirty mode on, sends every frame and then the frames dirtied
	// meanwhile, round after round; the caller then has the guest suspend,
	// and "finish" sends what it dirtied last and the CPU state. "abort"
	// ends a live save that cannot finish (log-dirty off, the stream
	// closed) and leaves the guest as it is.
	Phase string
}

// SaveResult is what Save wrote.
type SaveResult struct {
	Bytes uint64 // the stream's size so far
	PFNs  uint64 // frames in its PAGE_DATA records
	Pages uint64 // of them, pages with data
	// a live save's rounds after the first, and the pages dirtied in the
	// last (what the guest's pause will cost)
	Rounds int
	Dirty  uint64
}

// RestoreSpec is what Restore reads, and the domain settings the stream
// does not carry (the caller's config has them).
type RestoreSpec struct {
	Path string // an xl save file or migration stream
	// HeaderRead: Path is a stream whose xl header has been read already
	// (savestream.ReadXLHeader, by a migration's receiver); it goes on
	// from libxl's header
	HeaderRead bool
	MaxMemKB   uint64 // sizes the paging pool, as at create
	Vcpus      uint32
}

// RestoreResult is a restored domain's rings, to introduce it and start its
// console, and what its stream held.
type RestoreResult struct {
	BuildResult
	PFNs  uint64
	Pages uint64
}

// Hypervisor is the set of hypervisor operations luxen uses. A new one is a
// method here, the same method on *Privcmd (privcmd_linux.go), and on the
// simulated host, simxen.Host; `go generate ./bindings/simxen` then writes
// the served host's client forwarder, and its RPC carries it with no more
// code (bindings/simxen/rpc_server.go says how). Lua reaches it through a
// row of bindings/lualib/xen.go's xenOps.
type Hypervisor interface {
	CreateDomain(ctx context.Context, cfg CreateConfig) (uint32, error)
	DestroyDomain(ctx context.Context, domid uint32) error
	PauseDomain(ctx context.Context, domid uint32) error
	UnpauseDomain(ctx context.Context, domid uint32) error
	DomainInfo(ctx context.Context, domid uint32) (DomainInfo, error)
	ListDomains(ctx context.Context) ([]DomainInfo, error)
	SetMaxMem(ctx context.Context, domid uint32, kb uint64) error
	SetMaxVcpus(ctx context.Context, domid uint32, n uint32) error
	// SetVcpuAffinity is XEN_DOMCTL_setvcpuaffinity: the physical CPUs a
	// vCPU may run on (hard) and prefers (soft); a nil list is left as it is.
	SetVcpuAffinity(ctx context.Context, domid uint32, a VcpuAffinity) error
	// VcpuAffinity is XEN_DOMCTL_getvcpuaffinity of one vCPU.
	VcpuAffinity(ctx context.Context, domid uint32, vcpu uint32) (VcpuAffinity, error)
	// VcpuInfo is XEN_DOMCTL_getvcpuinfo: one vCPU's state, time and CPU.
	VcpuInfo(ctx context.Context, domid uint32, vcpu uint32) (VcpuInfo, error)
	// Shutdown is SCHEDOP_remote_shutdown: the domain stops with the reason.
	Shutdown(ctx context.Context, domid uint32, reason ShutdownReason) error
	PhysInfo(ctx context.Context) (PhysInfo, error)
	// HostInfo is the rest of what `xl info` prints of the hypervisor.
	HostInfo(ctx context.Context) (HostInfo, error)
	// SchedParams is XEN_DOMCTL_scheduler_op getinfo under the host's
	// scheduler (XEN_SYSCTL_sched_id); only credit and credit2 have weights.
	SchedParams(ctx context.Context, domid uint32) (SchedParams, error)
	// SetSchedParams is XEN_DOMCTL_scheduler_op putinfo; p.Scheduler must
	// be the host's (Xen refuses another's parameters).
	SetSchedParams(ctx context.Context, domid uint32, p SchedParams) error
	// ReadConsole is XEN_SYSCTL_readconsole: the hypervisor's console ring
	// (xl dmesg), emptied after it is read when clear is set.
	ReadConsole(ctx context.Context, clear bool) (string, error)
	Version(ctx context.Context) (Version, error)
	// EvtchnStatus is EVTCHNOP_status of a domain's port: whether a guest
	// still holds a channel to a backend (a frontend lets go of it when it
	// drops the device).
	EvtchnStatus(ctx context.Context, domid uint32, port uint32) (PortStatus, error)
	// HVMParam is HVMOP_get_param: one of an HVM container's parameters
	// (HVM_PARAM_*, below HVMParamCount).
	HVMParam(ctx context.Context, domid uint32, index uint32) (uint64, error)
	// SendTrigger is XEN_DOMCTL_sendtrigger to the domain's vCPU 0: an NMI,
	// or an ACPI power or sleep button press for an HVM guest.
	SendTrigger(ctx context.Context, domid uint32, t Trigger) error
	// Save writes a domain that has suspended itself (shut down with reason
	// suspend) to a file in xl's save format (package savestream): its
	// memory and CPU state, with the config given. The domain is left as
	// it was: destroying or resuming it is the caller's.
	Save(ctx context.Context, domid uint32, spec SaveSpec) (SaveResult, error)
	// Resume lets a domain that suspended itself run on in place, its
	// suspend cancelled (xc_domain_resume's cooperative path): after a
	// save that keeps the guest, or one that failed.
	Resume(ctx context.Context, domid uint32) error
	// Restore fills a created, paused domain from a save file written by
	// Save or by xl save: its memory, CPU state and params, with new event
	// channels for its rings. The guest carries on where it was saved once
	// it is introduced and unpaused; the devices are the caller's.
	Restore(ctx context.Context, domid uint32, spec RestoreSpec) (RestoreResult, error)
	// Build populates memory and loads the guest (the domain builder).
	Build(ctx context.Context, domid uint32, spec BuildSpec) (BuildResult, error)
	Close() error
}

// Error is a failed hypervisor operation.
type Error struct {
	Op    string
	Domid uint32
	Errno syscall.Errno
	Msg   string // extra detail, when there is any
}

func (e *Error) Error() string {
	s := fmt.Sprintf("hypercall: %s", e.Op)
	if e.Domid != 0 {
		s += fmt.Sprintf(" domain %d", e.Domid)
	}
	s += ": " + ErrnoName(e.Errno)
	if e.Msg != "" {
		s += " (" + e.Msg + ")"
	}
	return s
}

// Unwrap lets errors.Is(err, syscall.ENOMEM) work.
func (e *Error) Unwrap() error { return e.Errno }

// Errorf builds an *Error.
func Errorf(op string, domid uint32, errno syscall.Errno, format string, a ...any) *Error {
	return &Error{Op: op, Domid: domid, Errno: errno, Msg: fmt.Sprintf(format, a...)}
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.ESRCH: "ESRCH", syscall.EINTR: "EINTR",
	syscall.EIO: "EIO", syscall.E2BIG: "E2BIG", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM",
	syscall.EACCES: "EACCES", syscall.EFAULT: "EFAULT", syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST",
	syscall.EINVAL: "EINVAL", syscall.ENOSPC: "ENOSPC", syscall.ENOSYS: "ENOSYS", syscall.EOPNOTSUPP: "EOPNOTSUPP",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ENODEV: "ENODEV", syscall.ENXIO: "ENXIO",
}

// ErrnoName is "ENOMEM" for syscall.ENOMEM, as Lua scripts see errors.
func ErrnoName(e syscall.Errno) string {
	if n, ok := errnoNames[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// ErrnoByName is the inverse of ErrnoName.
func ErrnoByName(n string) (syscall.Errno, bool) {
	for e, name := range errnoNames {
		if name == n {
			return e, true
		}
	}
	return 0, false
}

// ErrnoOf returns the errno an error carries, or 0.
func ErrnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// FormatUUID renders a handle as 8-4-4-4-12 hex.
func FormatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// ParseUUID parses 8-4-4-4-12 hex.
func ParseUUID(s string) ([16]byte, error) {
	var u [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("bad uuid %q", s)
	}
	hex := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	for i := 0; i < 16; i++ {
		var b byte
		for _, c := range hex[2*i : 2*i+2] {
			b <<= 4
			switch {
			case c >= '0' && c <= '9':
				b |= byte(c - '0')
			case c >= 'a' && c <= 'f':
				b |= byte(c-'a') + 10
			case c >= 'A' && c <= 'F':
				b |= byte(c-'A') + 10
			default:
				return u, fmt.Errorf("bad uuid %q", s)
			}
		}
		u[i] = b
	}
	return u, nil
}
