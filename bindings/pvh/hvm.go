package pvh

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
)

// An HVM guest with a device model boots Xen's hvmloader, not a kernel:
// hvmloader reads the HVM info table and the memory map the toolstack set,
// takes the BIOS (SeaBIOS) from the start_info module named "firmware",
// builds the ACPI and SMBIOS tables itself and hands over to the BIOS. The
// layout here is libxenguest's (tools/libs/guest/xg_dom_x86.c's
// meminit_hvm, alloc_magic_pages_hvm, build_hvm_info and bootlate_hvm;
// xg_dom_hvmloader.c) and libxl's memory map (libxl_x86.c's
// libxl__arch_domain_construct_memmap).
const (
	VGAHoleStart       = 0xa0000 // no RAM here: QEMU's legacy VGA window
	VGAHoleEnd         = 0xc0000
	HVMInfoPFN         = 0x9f // hvm_info_table.h
	HVMInfoOffset      = 0x800
	NrIOReqServerPages = 8                               // extra ioreq server pages QEMU's server uses
	IOReqServerPFN     = SpecialPFN - NrIOReqServerPages // 0xfeff0, just below the special pages
	HVMMMIOStart       = 0xf0000000                      // HVM_BELOW_4G_MMIO_START: libxl's default hole
	hvmLowMemStart     = 0x100000                        // RAM in the map starts at 1 MiB: below is hvmloader's
	hvmMaxVcpus        = 128
	hvmModuleMaxCount  = 2  // HVMLOADER_MODULE_MAX_COUNT
	hvmModuleNameSize  = 10 // HVMLOADER_MODULE_NAME_SIZE
	ModlistEntrySize   = 32 // struct hvm_modlist_entry
)

// HVMInfoTable is struct hvm_info_table (xen/include/public/hvm/
// hvm_info_table.h); the explicit padding keeps Go's layout C's, which
// bindings/hypercall's layout test proves against the header.
type HVMInfoTable struct {
	Signature          [8]byte
	Length             uint32
	Checksum           uint8
	APICMode           uint8
	_                  [2]byte
	NrVcpus            uint32
	LowMemPgend        uint32
	ReservedMemPgstart uint32
	HighMemPgend       uint32
	VcpuOnline         [(hvmMaxVcpus + 7) / 8]byte
}

// HVMLayout is where an HVM guest's RAM goes: below the MMIO hole up to
// LowEnd (minus the VGA hole), and from 4 GiB up to HighEnd for the rest
// (0 when it all fits below).
type HVMLayout struct {
	LowEnd, HighEnd uint64
}

// NewHVMLayout splits memBytes of RAM around the MMIO hole as libxl does.
func NewHVMLayout(memBytes uint64) HVMLayout {
	if memBytes > HVMMMIOStart {
		return HVMLayout{LowEnd: HVMMMIOStart, HighEnd: 1<<32 + memBytes - HVMMMIOStart}
	}
	return HVMLayout{LowEnd: memBytes}
}

// RAM is the guest-physical ranges to populate: the VGA hole stays empty.
func (l HVMLayout) RAM() []MemRange {
	r := []MemRange{{0, VGAHoleStart, E820RAM}, {VGAHoleEnd, l.LowEnd - VGAHoleEnd, E820RAM}}
	if l.HighEnd > 0 {
		r = append(r, MemRange{1 << 32, l.HighEnd - 1<<32, E820RAM})
	}
	return r
}

// MemoryMap is what the toolstack tells Xen (XENMEM_set_memory_map) and
// hvmloader reads back: RAM from 1 MiB, high RAM if any. hvmloader adds
// the low megabyte, its reserved ranges and the ACPI tables itself.
func (l HVMLayout) MemoryMap() []MemRange {
	m := []MemRange{{hvmLowMemStart, l.LowEnd - hvmLowMemStart, E820RAM}}
	if l.HighEnd > 0 {
		m = append(m, MemRange{1 << 32, l.HighEnd - 1<<32, E820RAM})
	}
	return m
}

// InfoPage is the page at HVMInfoPFN with the table at HVMInfoOffset:
// vcpus online of maxVcpus, the APIC on, the checksum making the bytes sum
// to zero.
func (l HVMLayout) InfoPage(vcpus, maxVcpus int) ([]byte, error) {
	if maxVcpus > hvmMaxVcpus || vcpus > maxVcpus || vcpus < 1 {
		return nil, fmt.Errorf("hvm info: %d of %d vcpus (HVM guests have 1 to %d)", vcpus, maxVcpus, hvmMaxVcpus)
	}
	t := HVMInfoTable{APICMode: 1, NrVcpus: uint32(maxVcpus),
		LowMemPgend: uint32(l.LowEnd / PageSize), HighMemPgend: uint32(l.HighEnd / PageSize),
		ReservedMemPgstart: IOReqServerPFN}
	copy(t.Signature[:], "HVM INFO")
	t.Length = uint32(binary.Size(t))
	for i := 0; i < vcpus; i++ {
		t.VcpuOnline[i/8] |= 1 << (i % 8)
	}
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, t)
	b := buf.Bytes()
	var sum uint8
	for _, c := range b {
		sum += c
	}
	b[12] = -sum // Checksum
	page := make([]byte, PageSize)
	copy(page[HVMInfoOffset:], b)
	return page, nil
}

// FirmwareStartInfo is hvmloader's start_info: no command line, no memory
// map, one module, the BIOS, named "firmware" (bootlate_hvm's layout: the
// struct, the module list, then the module names).
func FirmwareStartInfo(addr, biosAddr, biosLen uint64) []byte {
	b := make([]byte, StartInfoSize+hvmModuleMaxCount*(ModlistEntrySize+hvmModuleNameSize))
	le := binary.LittleEndian
	modlist := uint64(StartInfoSize)
	names := modlist + hvmModuleMaxCount*ModlistEntrySize
	le.PutUint32(b[0:], startInfoMagic)
	le.PutUint32(b[12:], 1)              // nr_modules
	le.PutUint64(b[16:], addr+modlist)   // modlist_paddr
	le.PutUint64(b[modlist:], biosAddr)  // paddr
	le.PutUint64(b[modlist+8:], biosLen) // size
	le.PutUint64(b[modlist+16:], addr+names)
	copy(b[names:], "firmware")
	return b
}

// LoadFirmware reads hvmloader: a 32-bit ELF with no Xen notes, entered at
// e_entry in 32-bit protected mode (xc_dom_parse_hvm_kernel refuses any
// other class).
func LoadFirmware(path string) (*Kernel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("firmware: %w", err)
	}
	k, err := elfSegments(b)
	if err != nil {
		return nil, fmt.Errorf("firmware %s: %w", path, err)
	}
	f, _ := elf.NewFile(bytes.NewReader(b))
	if f.Class != elf.ELFCLASS32 {
		return nil, fmt.Errorf("firmware %s: hvmloader is a 32-bit ELF image; this one is %v", path, f.Class)
	}
	if k.Low < hvmLowMemStart {
		return nil, fmt.Errorf("firmware %s: segments at 0x%x-0x%x overlap the low megabyte", path, k.Low, k.High)
	}
	k.Entry = k.elfEntry
	return k, nil
}
