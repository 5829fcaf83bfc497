package hypercall

// Structures and numbers the PVH builder needs (Xen 4.17, x86_64); checked
// against libxen-dev in abi_test.go like the rest.

const (
	domctlSendTrigger       = 28
	domctlResumeDomain      = 27
	domctlGetTSCInfo        = 59
	domctlGetPageFrameInfo3 = 61
	domctlGetCPUPolicy      = 82
	domctlSetCPUPolicy      = 83
	domctlShadowOpCmd       = 10
	shadowOpOff             = 0
	shadowOpEnableLogDirty  = 2
	shadowOpClean           = 11
	shadowLogDirtyFinal     = 1 << 0
	xenmemMaximumGPFN       = 14
	domctlGetHVMContext     = 33
	domctlSetHVMContext     = 34
	domctlSetTSCInfo        = 60
	domctlSetPagingMempool  = 86

	xenmemSetMemoryMap = 13
	resourceGrantTable = 1 // XENMEM_resource_grant_table, id 0 = shared frames

	hvmopSetParam        = 0
	hvmopGetParam        = 1
	evtchnopAllocUnbound = 6
	evtchnopStatus       = 5

	hvmParamStorePFN      = 1
	hvmParamStoreEvtchn   = 2
	hvmParamIOReqPFN      = 5
	hvmParamBufIOReqPFN   = 6
	hvmParamTimerMode     = 10
	hvmParamIdentPT       = 12
	hvmParamConsolePFN    = 17
	hvmParamConsoleEvtchn = 18
	hvmParamPagingRing    = 27
	hvmParamMonitorRing   = 28
	hvmParamSharingRing   = 29
	hvmParamAltp2m        = 35
	// saved with a domain (save_linux.go)
	hvmParamViridian       = 9
	hvmParamACPIIOPorts    = 19
	hvmParamVMGenerationID = 34
	hvmParamX87FIPWidth    = 36
	hvmParamVM86TSSSized   = 37
	hvmParamMCACap         = 38
	// HVM guests with a device model (hvmbuild_linux.go)
	hvmParamHPETEnabled       = 11
	hvmParamVPTAlign          = 16
	hvmParamNestedHVM         = 24
	hvmParamIOReqServerPFN    = 32
	hvmParamNrIOReqServerPage = 33

	ioctlPrivcmdMmapBatchV2  = 0x205004
	ioctlPrivcmdMmapResource = 0x205007
)

// hvmParam is struct xen_hvm_param.
type hvmParam struct {
	Domid uint16
	Pad   uint16
	Index uint32
	Value uint64
}

// domctlSendTriggerArgs is struct xen_domctl_sendtrigger.
type domctlSendTriggerArgs struct {
	Trigger uint32
	Vcpu    uint32
}

// domctlPageFrameInfo3 is struct xen_domctl_getpageframeinfo3.
type domctlPageFrameInfo3 struct {
	Num   uint64
	Array uint64
}

// domctlCPUPolicy is struct xen_domctl_cpu_policy.
type domctlCPUPolicy struct {
	NrLeaves   uint32
	NrMSRs     uint32
	Leaves     uint64
	MSRs       uint64
	ErrLeaf    uint32
	ErrSubleaf uint32
	ErrMSR     uint32
	Pad        uint32
}

// evtchnAllocUnbound is struct evtchn_alloc_unbound.
type evtchnAllocUnbound struct {
	Dom       uint16
	RemoteDom uint16
	Port      uint32
}

// evtchnStatus is struct evtchn_status; RemoteDom and RemotePort are its
// union u (unbound.dom and interdomain.dom share an offset).
type evtchnStatus struct {
	Dom        uint16
	Pad        uint16
	Port       uint32
	Status     uint32
	Vcpu       uint32
	RemoteDom  uint16
	Pad2       uint16
	RemotePort uint32
}

// domctlShadowOp is struct xen_domctl_shadow_op: log-dirty mode for a
// live save, and each round's dirty bitmap (CLEAN reads and clears it).
type domctlShadowOp struct {
	Op          uint32
	Mode        uint32
	MB          uint32
	_           uint32
	DirtyBitmap uint64
	Pages       uint64
	FaultCount  uint32 // stats
	DirtyCount  uint32
}

// domctlTSCInfo is struct xen_domctl_tsc_info.
type domctlTSCInfo struct {
	TSCMode     uint32
	GTSCKHz     uint32
	Incarnation uint32
	Pad         uint32
	ElapsedNsec uint64
}

// domctlPagingMempool is struct xen_domctl_paging_mempool.
type domctlPagingMempool struct{ Size uint64 }

// domctlHVMContext is struct xen_domctl_hvmcontext.
type domctlHVMContext struct {
	Size   uint32
	Pad    uint32
	Buffer uint64
}

// foreignMemoryMap is struct xen_foreign_memory_map.
type foreignMemoryMap struct {
	Domid     uint16
	Pad       [3]uint16
	NrEntries uint32
	Pad2      uint32
	Buffer    uint64
}

// privcmdMmapBatchV2 is struct privcmd_mmapbatch_v2.
type privcmdMmapBatchV2 struct {
	Num  uint32
	Dom  uint16
	Pad  uint16
	Addr uint64
	Arr  uint64
	Err  uint64
}

// privcmdMmapResource is struct privcmd_mmap_resource.
type privcmdMmapResource struct {
	Dom  uint16
	Pad  uint16
	Type uint32
	ID   uint32
	Idx  uint32
	Num  uint64
	Addr uint64
}
