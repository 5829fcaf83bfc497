package hypercall

import "fmt"

// Structures that cross into Xen 4.17, laid out as the public headers lay
// them out on x86_64 (xen/include/public/domctl.h, sysctl.h, sched.h and
// Linux's include/uapi/xen/privcmd.h). abi_test.go compiles a C program
// against Debian's libxen-dev and checks every size and offset here.

// Interface versions of Xen 4.17.
const (
	DomctlInterfaceVersion = 0x15
	SysctlInterfaceVersion = 0x15
)

// Hypercall numbers (xen.h).
const (
	hcMemoryOp       = 12
	hcXenVersion     = 17
	hcGrantTableOp   = 20
	hcSchedOp        = 29
	hcEventChannelOp = 32
	hcHVMOp          = 34
	hcSysctl         = 35
	hcDomctl         = 36
)

// domctl and sysctl commands.
const (
	domctlCreateDomain    = 1
	domctlDestroyDomain   = 2
	domctlPauseDomain     = 3
	domctlUnpauseDomain   = 4
	domctlGetDomainInfo   = 5
	domctlMaxMem          = 11
	domctlMaxVcpus        = 15
	domctlSetVcpuAffinity = 9
	domctlGetVcpuAffinity = 25
	domctlGetVcpuInfo     = 14

	sysctlReadConsole       = 1
	sysctlSchedID           = 4
	domctlSchedulerOp       = 16
	sysctlPhysinfo          = 3
	sysctlGetDomainInfoList = 6

	schedopRemoteShutdown = 4

	xenverVersion            = 0
	xenverExtraversion       = 1
	xenverCompileInfo        = 2
	xenverCapabilities       = 3
	xenverChangeset          = 4
	xenverPlatformParameters = 5
	xenverPagesize           = 7
	xenverCommandline        = 9
	xenverBuildID            = 10

	sysctlCpupoolOp     = 18
	cpupoolOpFreeinfo   = 7
	xenmemSharingFreed  = 18
	xenmemSharingShared = 19
)

// xenCompileInfo is struct xen_compile_info (XENVER_compile_info).
type xenCompileInfo struct {
	Compiler      [64]byte
	CompileBy     [16]byte
	CompileDomain [32]byte
	CompileDate   [32]byte
}

// sysctlCpupool is struct xen_sysctl_cpupool_op.
type sysctlCpupool struct {
	Op        uint32
	CpupoolID uint32
	SchedID   uint32
	Domid     uint32
	CPU       uint32
	NDom      uint32
	Cpumap    xenctlBitmap
}

// createdomain flags (XEN_DOMCTL_CDF_*) and x86 emulation flags.
const (
	cdfHVM = 1 << 0
	cdfHAP = 1 << 1

	x86EmuLAPIC = 1 << 0
	// misc_flags: unknown MSRs read as 0 and writes are dropped instead of a
	// #GP (xl's msr_relaxed)
	x86MSRRelaxed = 1 << 0
	// an HVM guest with a device model: everything Xen emulates but vPCI
	// (XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI, what libxl asks and the only
	// full set Xen 4.17 accepts for a domU)
	x86EmuHVM = 0x7ff &^ (1 << 10)
)

// getdomaininfo flags (XEN_DOMINF_*).
const (
	dominfDying    = 1 << 0
	dominfHVM      = 1 << 1
	dominfShutdown = 1 << 2
	dominfPaused   = 1 << 3
	dominfBlocked  = 1 << 4
	dominfRunning  = 1 << 5
	dominfShutMask = 0xff
	dominfShutSh   = 16
)

// privcmdHypercall is struct privcmd_hypercall, IOCTL_PRIVCMD_HYPERCALL's argument.
type privcmdHypercall struct {
	Op  uint64
	Arg [5]uint64
}

// ioctlPrivcmdHypercall is _IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall)).
const ioctlPrivcmdHypercall = 0x305000

// domctl is struct xen_domctl: a header and a 128-byte union.
type domctl struct {
	Cmd              uint32
	InterfaceVersion uint32
	Domain           uint16
	Pad              [3]uint16
	U                [128]byte
}

// sysctl is struct xen_sysctl.
type sysctl struct {
	Cmd              uint32
	InterfaceVersion uint32
	U                [128]byte
}

// archDomainConfig is x86's struct xen_arch_domainconfig.
type archDomainConfig struct {
	EmulationFlags uint32
	MiscFlags      uint32
}

// domctlCreate is struct xen_domctl_createdomain.
type domctlCreate struct {
	Ssidref           uint32
	Handle            [16]byte
	Flags             uint32
	IommuOpts         uint32
	MaxVcpus          uint32
	MaxEvtchnPort     uint32
	MaxGrantFrames    int32
	MaxMaptrackFrames int32
	GrantOpts         uint32
	VmtraceSize       uint32
	CpupoolID         uint32
	Arch              archDomainConfig
}

// domctlInfo is struct xen_domctl_getdomaininfo.
type domctlInfo struct {
	Domain           uint16
	Pad1             uint16
	Flags            uint32
	TotPages         uint64
	MaxPages         uint64
	OutstandingPages uint64
	ShrPages         uint64
	PagedPages       uint64
	SharedInfoFrame  uint64
	CPUTime          uint64
	NrOnlineVcpus    uint32
	MaxVcpuID        uint32
	Ssidref          uint32
	Handle           [16]byte
	Cpupool          uint32
	GpaddrBits       uint8
	Pad2             [7]uint8
	ArchConfig       archDomainConfig
}

// domctlMaxMemArg is struct xen_domctl_max_mem.
type domctlMaxMemArg struct{ MaxMemKB uint64 }

// domctlMaxVcpusArg is struct xen_domctl_max_vcpus.
type domctlMaxVcpusArg struct{ Max uint32 }

// domctlVcpuInfo is struct xen_domctl_getvcpuinfo.
type domctlVcpuInfo struct {
	Vcpu    uint32
	Online  uint8
	Blocked uint8
	Running uint8
	Pad     uint8
	CPUTime uint64
	CPU     uint32
	Pad2    uint32
}

// sysctlReadConsole is struct xen_sysctl_readconsole.
type sysctlReadConsoleArg struct {
	Clear       uint8
	Incremental uint8
	Pad0, Pad1  uint8
	Index       uint32
	Buffer      uint64
	Count       uint32
	Pad2        uint32
}

// domctlSchedOp is struct xen_domctl_scheduler_op with its union read as
// credit's and credit2's (weight and cap at the same offsets in both).
type domctlSchedOp struct {
	SchedID uint32
	Cmd     uint32
	Weight  uint16
	Cap     uint16
	Pad     [12]byte // the rest of the union (rtds, the vcpus handle)
}

const (
	schedopPutInfo = 0
	schedopGetInfo = 1

	schedulerCredit  = 5
	schedulerCredit2 = 6
	schedulerRTDS    = 8
	schedulerNull    = 9
)

// xenctlBitmap is struct xenctl_bitmap: a guest handle to nr_bits bits,
// CPU n at bit n%8 of byte n/8.
type xenctlBitmap struct {
	Bitmap uint64
	NrBits uint32
	Pad    uint32
}

// domctlVcpuAffinity is struct xen_domctl_vcpuaffinity (set and get).
type domctlVcpuAffinity struct {
	Vcpu  uint32
	Flags uint32 // XEN_VCPUAFFINITY_HARD, _SOFT
	Hard  xenctlBitmap
	Soft  xenctlBitmap
}

const (
	vcpuAffinityHard = 1
	vcpuAffinitySoft = 2
)

// sysctlPhysinfoArg is struct xen_sysctl_physinfo.
type sysctlPhysinfoArg struct {
	ThreadsPerCore   uint32
	CoresPerSocket   uint32
	NrCPUs           uint32
	MaxCPUID         uint32
	NrNodes          uint32
	MaxNodeID        uint32
	CPUKHz           uint32
	Capabilities     uint32
	ArchCapabilities uint32
	Pad              uint32
	TotalPages       uint64
	FreePages        uint64
	ScrubPages       uint64
	OutstandingPages uint64
	MaxMFN           uint64
	HWCap            [8]uint32
}

// sysctlDomInfoList is struct xen_sysctl_getdomaininfolist.
type sysctlDomInfoList struct {
	FirstDomain uint16
	Pad         uint16
	MaxDomains  uint32
	Buffer      uint64 // XEN_GUEST_HANDLE_64
	NumDomains  uint32
	Pad2        uint32
}

// memoryReservation is struct xen_memory_reservation (XENMEM_populate_physmap).
type memoryReservation struct {
	ExtentStart uint64 // XEN_GUEST_HANDLE(xen_pfn_t)
	NrExtents   uint64
	ExtentOrder uint32
	MemFlags    uint32
	Domid       uint16
	Pad         [3]uint16
}

const xenmemPopulatePhysmap = 6

// schedRemoteShutdown is struct sched_remote_shutdown.
type schedRemoteShutdown struct {
	DomainID uint16
	Pad      uint16
	Reason   uint32
}

func (d *domctlInfo) info() DomainInfo {
	return DomainInfo{
		Domid: uint32(d.Domain), UUID: d.Handle,
		Dying: d.Flags&dominfDying != 0, HVM: d.Flags&dominfHVM != 0,
		Shutdown: d.Flags&dominfShutdown != 0, Paused: d.Flags&dominfPaused != 0,
		Blocked: d.Flags&dominfBlocked != 0, Running: d.Flags&dominfRunning != 0,
		ShutdownReason: ShutdownReason((d.Flags >> dominfShutSh) & dominfShutMask),
		TotPages:       d.TotPages, MaxPages: d.MaxPages, CPUTime: d.CPUTime,
		OnlineVcpus: d.NrOnlineVcpus, MaxVcpuID: d.MaxVcpuID,
	}
}

// CheckVersion refuses a hypervisor whose domctl interface is not the one
// luxen speaks: Xen would answer every domctl with EACCES, which explains
// nothing, so the mismatch is named up front with both versions.
func CheckVersion(v Version) error {
	want, ok := DomctlVersionFor(v.Major, v.Minor)
	switch {
	case !ok:
		return fmt.Errorf("hypercall: the hypervisor is Xen %s, whose domctl interface version luxen does not know; luxen speaks Xen 4.17's 0x%x", v, DomctlInterfaceVersion)
	case want != DomctlInterfaceVersion:
		return fmt.Errorf("hypercall: the hypervisor is Xen %s (domctl interface 0x%x); this luxen speaks Xen 4.17's 0x%x", v, want, DomctlInterfaceVersion)
	}
	return nil
}

// DomctlVersionFor says which domctl interface version a Xen release speaks
// (XEN_DOMCTL_INTERFACE_VERSION in that release's xen/include/public/domctl.h,
// bumped once a release: 0x14 in 4.16, 0x15 in 4.17, 0x16 in 4.18, 0x17 in
// 4.19 and 4.20), so a mismatch is reported as such rather than as EACCES.
func DomctlVersionFor(major, minor int) (uint32, bool) {
	switch {
	case major == 4 && minor == 16:
		return 0x14, true
	case major == 4 && minor == 17:
		return 0x15, true
	case major == 4 && minor == 18:
		return 0x16, true
	case major == 4 && (minor == 19 || minor == 20):
		return 0x17, true
	}
	return 0, false
}
