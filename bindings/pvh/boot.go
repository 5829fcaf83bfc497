package pvh

import (
	"encoding/binary"
	"fmt"
)

// Guest-physical layout of a PVH guest, as libxl/libxenguest lay it out.
const (
	PageSize        = 4096
	SpecialPFN      = 0xfeff8 // 8 special pages end at 0xff000 (xenguest.h)
	PagingPFN       = SpecialPFN + 0
	AccessPFN       = SpecialPFN + 1
	SharingPFN      = SpecialPFN + 2
	BufIOReqPFN     = SpecialPFN + 3
	XenstorePFN     = SpecialPFN + 4 // 0xfeffc
	IOReqPFN        = SpecialPFN + 5
	IdentPTPFN      = SpecialPFN + 6
	ConsolePFN      = SpecialPFN + 7 // 0xfefff
	SpecialPages    = 8
	MMIOHoleStart   = ACPIBase // RAM stops below the ACPI tables and the rest of the hole
	startInfoMagic  = 0x336ec578
	StartInfoSize   = 56
	memmapEntrySize = 24
	modlistSize     = 32
)

// E820 memory types.
const (
	E820RAM      = 1
	E820Reserved = 2
	E820ACPI     = 3
)

// MemRange is one memory map entry.
type MemRange struct {
	Addr, Size uint64
	Type       uint32
}

// MemoryMap is the guest's map: low RAM, the ACPI tables, the special pages,
// and RAM above 4 GiB for what does not fit below the hole.
func MemoryMap(memBytes uint64, acpiBytes uint64) []MemRange {
	low := min(memBytes, uint64(MMIOHoleStart))
	m := []MemRange{{0, low, E820RAM}}
	m = append(m, MemRange{ACPIBase, roundUp(acpiBytes, PageSize), E820ACPI})
	m = append(m, MemRange{SpecialPFN * PageSize, SpecialPages * PageSize, E820Reserved})
	if memBytes > low {
		m = append(m, MemRange{1 << 32, memBytes - low, E820RAM})
	}
	return m
}

func roundUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// E820Table encodes the map for XENMEM_set_memory_map (packed 20-byte entries).
func E820Table(m []MemRange) []byte {
	b := make([]byte, 20*len(m))
	for i, r := range m {
		binary.LittleEndian.PutUint64(b[20*i:], r.Addr)
		binary.LittleEndian.PutUint64(b[20*i+8:], r.Size)
		binary.LittleEndian.PutUint32(b[20*i+16:], r.Type)
	}
	return b
}

// StartInfo is the page hvm_start_info lives in (start_info.h, version 1):
// the struct, the command line, the module list and the memory map.
type StartInfo struct {
	Addr    uint64 // guest-physical address of the page(s)
	Image   []byte
	Cmdline string
}

// A Module is one entry of start_info's module list: a ramdisk, or for the
// PV shim the PV kernel (with its command line) and then its ramdisk.
type Module struct {
	Addr, Size uint64
	Cmdline    string
}

// BuildStartInfo lays out hvm_start_info at addr: the struct, the command
// line, the module list and the modules' command lines, then the memory map.
func BuildStartInfo(addr uint64, cmdline string, rsdp uint64, mods []Module, mm []MemRange) (*StartInfo, error) {
	const (
		offCmdline = 64
		maxCmdline = 2048
	)
	if len(cmdline) >= maxCmdline {
		return nil, fmt.Errorf("command line of %d bytes is longer than %d", len(cmdline), maxCmdline-1)
	}
	offModlist := offCmdline + maxCmdline
	offNames := offModlist + modlistSize*len(mods)
	names := offNames
	for _, m := range mods {
		if m.Cmdline != "" {
			if len(m.Cmdline) >= maxCmdline {
				return nil, fmt.Errorf("module command line of %d bytes is longer than %d", len(m.Cmdline), maxCmdline-1)
			}
			names += len(m.Cmdline) + 1
		}
	}
	offMemmap := int(roundUp(uint64(names), 8))
	size := roundUp(uint64(offMemmap+memmapEntrySize*len(mm)), PageSize)
	b := make([]byte, size)
	le := binary.LittleEndian
	le.PutUint32(b[0:], startInfoMagic)
	le.PutUint32(b[4:], 1) // version: with the memory map fields
	copy(b[offCmdline:], cmdline)
	le.PutUint64(b[24:], addr+offCmdline)
	le.PutUint64(b[32:], rsdp)
	if len(mods) > 0 {
		le.PutUint32(b[12:], uint32(len(mods)))
		le.PutUint64(b[16:], addr+uint64(offModlist))
		at := offNames
		for i, m := range mods {
			e := b[offModlist+modlistSize*i:]
			le.PutUint64(e[0:], m.Addr)
			le.PutUint64(e[8:], m.Size)
			if m.Cmdline != "" {
				copy(b[at:], m.Cmdline) // NUL-terminated: b is zeroed
				le.PutUint64(e[16:], addr+uint64(at))
				at += len(m.Cmdline) + 1
			}
		}
	}
	le.PutUint64(b[40:], addr+uint64(offMemmap))
	le.PutUint32(b[48:], uint32(len(mm)))
	for i, r := range mm {
		e := b[offMemmap+memmapEntrySize*i:]
		le.PutUint64(e[0:], r.Addr)
		le.PutUint64(e[8:], r.Size)
		le.PutUint32(e[16:], r.Type)
	}
	return &StartInfo{Addr: addr, Image: b, Cmdline: cmdline}, nil
}

// HVM save records (xen/include/public/arch-x86/hvm/save.h).
const (
	hvmRecordEnd    = 0
	hvmRecordHeader = 1
	hvmRecordCPU    = 2
	hvmRecordMTRR   = 14
	cpuRecordLen    = 1032
	hvmHeaderLen    = 24
)

// Record is one HVM save record.
type Record struct {
	Type     uint16
	Instance uint16
	Body     []byte
}

// ParseContext splits a gethvmcontext blob into records.
func ParseContext(b []byte) ([]Record, error) {
	var out []Record
	for len(b) >= 8 {
		r := Record{Type: binary.LittleEndian.Uint16(b[0:]), Instance: binary.LittleEndian.Uint16(b[2:])}
		n := int(binary.LittleEndian.Uint32(b[4:]))
		if 8+n > len(b) {
			return nil, fmt.Errorf("hvm context record type %d length %d overruns the %d bytes left", r.Type, n, len(b))
		}
		r.Body = b[8 : 8+n]
		out = append(out, r)
		b = b[8+n:]
		if r.Type == hvmRecordEnd {
			return out, nil
		}
	}
	return nil, fmt.Errorf("hvm context has no END record")
}

// EncodeContext joins records, adding END.
func EncodeContext(rs ...Record) []byte {
	var b []byte
	for _, r := range rs {
		h := make([]byte, 8)
		binary.LittleEndian.PutUint16(h[0:], r.Type)
		binary.LittleEndian.PutUint16(h[2:], r.Instance)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(r.Body)))
		b = append(append(b, h...), r.Body...)
	}
	return append(b, make([]byte, 8)...) // END: type 0, instance 0, length 0
}

// Find returns the record of a type and instance.
func Find(rs []Record, typ, inst uint16) (Record, bool) {
	for _, r := range rs {
		if r.Type == typ && r.Instance == inst {
			return r, true
		}
	}
	return Record{}, false
}

// BootCPU is the boot vCPU's register state as docs/misc/pvh.pandoc asks:
// 32-bit protected mode, paging off, flat 4 GiB segments, ebx pointing at
// hvm_start_info, rip at the PHYS32 entry.
func BootCPU(entry, startInfo uint64) Record {
	b := make([]byte, cpuRecordLen)
	le := binary.LittleEndian
	le.PutUint64(b[520:], startInfo) // rbx
	le.PutUint64(b[640:], entry)     // rip
	le.PutUint64(b[656:], 0x11)      // cr0: PE | ET
	le.PutUint64(b[720:], 0xffff0ff0)
	le.PutUint64(b[728:], 0x400)
	for _, off := range []int{768, 772, 776, 788} { // cs, ds, es, ss limits
		le.PutUint32(b[off:], 0xffffffff)
	}
	le.PutUint32(b[792:], 0x67)  // tr limit
	le.PutUint32(b[888:], 0xc9b) // cs: 32-bit code, present, accessed
	le.PutUint32(b[892:], 0xc93) // ds
	le.PutUint32(b[896:], 0xc93) // es
	le.PutUint32(b[908:], 0xc93) // ss
	le.PutUint32(b[912:], 0x8b)  // tr: busy 32-bit TSS
	return Record{Type: hvmRecordCPU, Instance: 0, Body: b}
}

// WriteBackMTRR sets an MTRR record's default type to write-back, enabled.
func WriteBackMTRR(r Record) Record {
	body := append([]byte(nil), r.Body...)
	if len(body) >= 240 {
		binary.LittleEndian.PutUint64(body[232:], 0x806)
	}
	return Record{Type: r.Type, Instance: r.Instance, Body: body}
}

// Constants the builder needs for records.
const (
	RecordHeader = hvmRecordHeader
	RecordCPU    = hvmRecordCPU
	RecordMTRR   = hvmRecordMTRR
)

// IdentPageTable is the identity page table IDENT_PT points at: 1024 4 MiB
// pages (PSE), what libxenguest writes for HVM guests.
func IdentPageTable() []byte {
	b := make([]byte, PageSize)
	for i := uint32(0); i < 1024; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], i<<22|0xe7)
	}
	return b
}

// GrantEntryV1 is a grant_entry_v1 permitting domid to access frame.
func GrantEntryV1(domid uint16, frame uint32) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b[0:], 1) // GTF_permit_access
	binary.LittleEndian.PutUint16(b[2:], domid)
	binary.LittleEndian.PutUint32(b[4:], frame)
	return b
}
