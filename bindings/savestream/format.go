// Package savestream holds the format of xl's save files and migration
// streams, as Xen 4.17 writes them: xl's header with the domain's config,
// libxl's stream (docs/specs/libxl-migration-stream.pandoc, version 2) and,
// inside its LIBXC_CONTEXT record, libxc's (libxc-migration-stream.pandoc,
// version 3). It reads and writes the records; what goes in them (the
// guest's pages, its CPU state) is the save and restore code's business.
//
// Everything is checked as it is read, as Xen's verify-stream-v2 checks it,
// and a bad stream is an error that names the offset and the record: a
// restore must refuse a truncated or corrupted file before it makes
// anything from it.
package savestream

import "fmt"

// XLMagic opens an xl save file (xl.h's savefileheader_magic).
const XLMagic = "Xen saved domain, xl format\n \x00 \r"

// xl's byte order mark and its mandatory flags (xl.h).
const (
	xlByteOrder    = 0x01020304
	XLFlagJSON     = 1 << 0 // the config is libxl_domain_config JSON
	XLFlagStreamV2 = 1 << 1 // a libxl stream follows (not a bare libxc one)
)

// libxl's stream header: "LibxlFmt", version 2, big-endian, with options.
const (
	libxlIdent       = 0x4c6962786c466d74
	libxlVersion     = 2
	libxlOptBigEnd   = 1 << 0
	libxlOptLegacy   = 1 << 1
	libxlOptReserved = 0xfffc
)

// libxc's image header: a marker of all ones, "XENF", version 2 or 3,
// big-endian; then the domain header, in the stream's (little) endianness.
const (
	imageMarker      = 0xffffffffffffffff
	imageIdent       = 0x58454e46
	imageVersion     = 3
	imageOptBigEnd   = 1 << 0
	imageOptReserved = 0xfffe
	pageShift        = 12
	PageSize         = 1 << pageShift
)

// DomainType is the libxc domain header's type.
type DomainType uint32

const (
	DomainX86PV  DomainType = 1
	DomainX86HVM DomainType = 2 // HVM and PVH guests alike
)

func (t DomainType) String() string {
	switch t {
	case DomainX86PV:
		return "x86 PV"
	case DomainX86HVM:
		return "x86 HVM"
	}
	return fmt.Sprintf("domain type %#x", uint32(t))
}

// LibxlType is a libxl record's type.
type LibxlType uint32

const (
	LibxlEnd                  LibxlType = 0
	LibxlLibxcContext         LibxlType = 1
	LibxlEmulatorXenstoreData LibxlType = 2
	LibxlEmulatorContext      LibxlType = 3
	LibxlCheckpointEnd        LibxlType = 4
	LibxlCheckpointState      LibxlType = 5
)

var libxlNames = map[LibxlType]string{LibxlEnd: "END", LibxlLibxcContext: "LIBXC_CONTEXT",
	LibxlEmulatorXenstoreData: "EMULATOR_XENSTORE_DATA", LibxlEmulatorContext: "EMULATOR_CONTEXT",
	LibxlCheckpointEnd: "CHECKPOINT_END", LibxlCheckpointState: "CHECKPOINT_STATE"}

func (t LibxlType) String() string { return name(libxlNames, t) }

// name is a record type's name in the spec, or its number when it has none.
func name[T ~uint32](names map[T]string, t T) string {
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("%#x", uint32(t))
}

// RecordType is a libxc record's type.
type RecordType uint32

const (
	RecEnd                    RecordType = 0x00
	RecPageData               RecordType = 0x01
	RecX86PVInfo              RecordType = 0x02
	RecX86PVP2MFrames         RecordType = 0x03
	RecX86PVVcpuBasic         RecordType = 0x04
	RecX86PVVcpuExtended      RecordType = 0x05
	RecX86PVVcpuXsave         RecordType = 0x06
	RecSharedInfo             RecordType = 0x07
	RecX86TSCInfo             RecordType = 0x08
	RecHVMContext             RecordType = 0x09
	RecHVMParams              RecordType = 0x0a
	RecToolstack              RecordType = 0x0b // obsolete: refused
	RecX86PVVcpuMSRs          RecordType = 0x0c
	RecVerify                 RecordType = 0x0d
	RecCheckpoint             RecordType = 0x0e
	RecCheckpointDirtyPFNList RecordType = 0x0f
	RecStaticDataEnd          RecordType = 0x10
	RecX86CPUIDPolicy         RecordType = 0x11
	RecX86MSRPolicy           RecordType = 0x12
)

var recordNames = map[RecordType]string{RecEnd: "END", RecPageData: "PAGE_DATA", RecX86PVInfo: "X86_PV_INFO",
	RecX86PVP2MFrames: "X86_PV_P2M_FRAMES", RecX86PVVcpuBasic: "X86_PV_VCPU_BASIC",
	RecX86PVVcpuExtended: "X86_PV_VCPU_EXTENDED", RecX86PVVcpuXsave: "X86_PV_VCPU_XSAVE",
	RecSharedInfo: "SHARED_INFO", RecX86TSCInfo: "X86_TSC_INFO", RecHVMContext: "HVM_CONTEXT",
	RecHVMParams: "HVM_PARAMS", RecToolstack: "TOOLSTACK", RecX86PVVcpuMSRs: "X86_PV_VCPU_MSRS",
	RecVerify: "VERIFY", RecCheckpoint: "CHECKPOINT", RecCheckpointDirtyPFNList: "CHECKPOINT_DIRTY_PFN_LIST",
	RecStaticDataEnd: "STATIC_DATA_END", RecX86CPUIDPolicy: "X86_CPUID_POLICY", RecX86MSRPolicy: "X86_MSR_POLICY"}

func (t RecordType) String() string { return name(recordNames, t) }

// A PAGE_DATA record's pfn entries: the frame number in bits 0-51, its type
// (XEN_DOMCTL_PFINFO_* shifted up by 32) in bits 60-63, 52-59 reserved.
const (
	pfnMask      = 1<<52 - 1
	pfnReserved  = (1<<60 - 1) &^ pfnMask
	pfnTypeShift = 60
	// MaxPagesPerRecord is libxc's batch: a writer sends at most this many
	// pfns in one PAGE_DATA record, and a reader takes no more.
	MaxPagesPerRecord = 1024
)

// PageType is a pfn's type in PAGE_DATA (XEN_DOMCTL_PFINFO_* >> 28).
type PageType uint8

const (
	PageNormal PageType = 0x0 // NOTAB: a page with data
	PageL1     PageType = 0x1 // page tables (PV only) carry data too
	PageL4     PageType = 0x4
	PageBroken PageType = 0xd
	PageXAlloc PageType = 0xe // allocate, no data
	PageXTab   PageType = 0xf // not present, no data
)

// HasData: normal pages and page tables (pinned ones have bit 3 set) are
// followed by their 4 KiB; broken, allocate-only and absent ones are not.
func (t PageType) HasData() bool { return t&0x7 <= 0x4 }

// validPageType: 5-8 are not types (verify-stream-v2 refuses them).
func validPageType(t PageType) bool { return t < 5 || t > 8 }

// The entries of X86_CPUID_POLICY and X86_MSR_POLICY: xen_cpuid_leaf_t
// {leaf, subleaf, a, b, c, d} and xen_msr_entry_t {idx, flags, val}, as
// XEN_DOMCTL_get_cpu_policy returns them (sizes checked against libxen-dev
// in the hypercall package).
const (
	CPUIDLeafSize = 24
	MSREntrySize  = 16
)

// maxBody bounds a record's body that is not PAGE_DATA: the largest libxc
// writes is an HVM context (a few KiB a vCPU) or a CPU policy; 16 MiB is
// far past any, and keeps a corrupt length from asking for 4 GiB.
const maxBody = 16 << 20

// maxPageData is PAGE_DATA's largest body: the count header, a full batch
// of pfns and their pages.
const maxPageData = 8 + MaxPagesPerRecord*(8+PageSize)
