package pvh

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// elf32 is a minimal ELF32 i386 executable: one PT_LOAD of code at paddr,
// and a PHYS32_ENTRY note when note is true.
func elf32(paddr uint32, code []byte, note bool) []byte {
	le := binary.LittleEndian
	const ehsz, phsz = 52, 32
	nph := 1
	var notes []byte
	if note {
		nph = 2
		notes = make([]byte, 12+4+4)
		le.PutUint32(notes[0:], 4)               // namesz "Xen\0"
		le.PutUint32(notes[4:], 4)               // descsz
		le.PutUint32(notes[8:], notePhys32Entry) // type
		copy(notes[12:], "Xen\x00")
		le.PutUint32(notes[16:], paddr)
	}
	off := uint32(ehsz + phsz*nph)
	b := make([]byte, int(off)+len(notes)+len(code))
	copy(b, "\x7fELF\x01\x01\x01")
	le.PutUint16(b[16:], 2) // ET_EXEC
	le.PutUint16(b[18:], 3) // EM_386
	le.PutUint32(b[20:], 1)
	le.PutUint32(b[24:], paddr) // e_entry
	le.PutUint32(b[28:], ehsz)  // e_phoff
	le.PutUint16(b[40:], ehsz)
	le.PutUint16(b[42:], phsz)
	le.PutUint16(b[44:], uint16(nph))
	ph := func(i int, typ, o, addr, sz uint32) {
		p := b[ehsz+phsz*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], o)
		le.PutUint32(p[8:], addr)
		le.PutUint32(p[12:], addr)
		le.PutUint32(p[16:], sz)
		le.PutUint32(p[20:], sz)
		le.PutUint32(p[24:], 5)
	}
	ph(0, 1, off+uint32(len(notes)), paddr, uint32(len(code)))
	if note {
		ph(1, 4, off, 0, uint32(len(notes)))
	}
	copy(b[off:], notes)
	copy(b[int(off)+len(notes):], code)
	return b
}

func TestELF32PVHKernelIsAccepted(t *testing.T) {
	k, err := ParseKernel(elf32(0x100000, []byte{0xfa, 0xf4}, true))
	if err != nil {
		t.Fatal(err)
	}
	if k.Entry != 0x100000 || len(k.Segments) != 1 || k.Segments[0].Addr != 0x100000 {
		t.Fatalf("entry 0x%x, segments %+v", k.Entry, k.Segments)
	}
	// without the note it is not a PVH kernel, whatever its class
	if _, err := ParseKernel(elf32(0x100000, []byte{0xfa, 0xf4}, false)); err == nil || !strings.Contains(err.Error(), "PHYS32_ENTRY") {
		t.Fatalf("want the missing-note error, got %v", err)
	}
}

func TestLoadFirmware(t *testing.T) {
	dir := t.TempDir()
	fw := filepath.Join(dir, "hvmloader")
	os.WriteFile(fw, elf32(0x100000, make([]byte, 5000), false), 0o644)
	k, err := LoadFirmware(fw)
	if err != nil {
		t.Fatal(err)
	}
	if k.Entry != 0x100000 || k.High != 0x100000+5000 {
		t.Fatalf("entry 0x%x high 0x%x", k.Entry, k.High)
	}
	low := filepath.Join(dir, "low")
	os.WriteFile(low, elf32(0x7c00, []byte{0xf4}, false), 0o644)
	if _, err := LoadFirmware(low); err == nil || !strings.Contains(err.Error(), "low megabyte") {
		t.Fatalf("firmware in the low megabyte: %v", err)
	}
	if _, err := LoadFirmware(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing firmware loaded")
	}
}

func TestHVMLayout(t *testing.T) {
	l := NewHVMLayout(64 << 20)
	ram := l.RAM()
	if len(ram) != 2 || ram[0].Addr+ram[0].Size != VGAHoleStart || ram[1].Addr != VGAHoleEnd || ram[1].Addr+ram[1].Size != 64<<20 {
		t.Fatalf("RAM %+v", ram)
	}
	if mm := l.MemoryMap(); len(mm) != 1 || mm[0].Addr != 1<<20 || mm[0].Size != 63<<20 {
		t.Fatalf("map %+v", mm)
	}
	big := NewHVMLayout(5 << 30)
	if big.LowEnd != HVMMMIOStart || big.HighEnd != 1<<32+5<<30-HVMMMIOStart {
		t.Fatalf("5 GiB: %+v", big)
	}
	if mm := big.MemoryMap(); len(mm) != 2 || mm[1].Addr != 1<<32 {
		t.Fatalf("5 GiB map %+v", mm)
	}
}

func TestHVMInfoPage(t *testing.T) {
	page, err := NewHVMLayout(64<<20).InfoPage(3, 4)
	if err != nil {
		t.Fatal(err)
	}
	tab := page[HVMInfoOffset:]
	if string(tab[:8]) != "HVM INFO" {
		t.Fatalf("signature %q", tab[:8])
	}
	n := binary.LittleEndian.Uint32(tab[8:])
	var sum uint8
	for _, c := range tab[:n] {
		sum += c
	}
	if sum != 0 {
		t.Fatalf("bytes sum to %d, not 0", sum)
	}
	if binary.LittleEndian.Uint32(tab[16:]) != 4 || tab[32] != 0x7 || binary.LittleEndian.Uint32(tab[20:]) != (64<<20)/PageSize {
		t.Fatalf("table %x", tab[:n])
	}
	if binary.LittleEndian.Uint32(tab[24:]) != IOReqServerPFN {
		t.Fatal("reserved memory does not start at the ioreq server pages")
	}
	if _, err := NewHVMLayout(64<<20).InfoPage(2, 200); err == nil {
		t.Fatal("200 vcpus accepted")
	}
}

func TestFirmwareStartInfo(t *testing.T) {
	const at, bios = 0x200000, 0x140000
	b := FirmwareStartInfo(at, bios, 256<<10)
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != startInfoMagic || le.Uint32(b[12:]) != 1 {
		t.Fatal("magic or module count")
	}
	ml := le.Uint64(b[16:]) - at
	if le.Uint64(b[ml:]) != bios || le.Uint64(b[ml+8:]) != 256<<10 {
		t.Fatal("module 0 is not the BIOS")
	}
	name := le.Uint64(b[ml+16:]) - at
	if !strings.HasPrefix(string(b[name:]), "firmware\x00") {
		t.Fatalf("module name %q", b[name:name+10])
	}
}

// The PV shim's start_info: module 0 the PV kernel with its command line,
// module 1 the ramdisk without one; each field where hvm_start_info says.
func TestStartInfoModules(t *testing.T) {
	const at = 0x600000
	mods := []Module{{Addr: 0x700000, Size: 12345, Cmdline: "console=hvc0 root=/dev/xvda"}, {Addr: 0x900000, Size: 777}}
	mm := MemoryMap(256<<20, 4096)
	si, err := BuildStartInfo(at, "pv-shim console=xen,pv", 0xfc008000, mods, mm)
	if err != nil {
		t.Fatal(err)
	}
	b, le := si.Image, binary.LittleEndian
	cstr := func(paddr uint64) string {
		off := paddr - at
		end := bytes.IndexByte(b[off:], 0)
		return string(b[off : off+uint64(end)])
	}
	if n := le.Uint32(b[12:]); n != 2 {
		t.Fatalf("nr_modules %d", n)
	}
	if got := cstr(le.Uint64(b[24:])); got != "pv-shim console=xen,pv" {
		t.Fatalf("cmdline %q", got)
	}
	list := le.Uint64(b[16:]) - at
	for i, m := range mods {
		e := b[list+32*uint64(i):]
		if le.Uint64(e[0:]) != m.Addr || le.Uint64(e[8:]) != m.Size {
			t.Fatalf("module %d: %x %d", i, le.Uint64(e[0:]), le.Uint64(e[8:]))
		}
		if p := le.Uint64(e[16:]); (p == 0) != (m.Cmdline == "") || (p != 0 && cstr(p) != m.Cmdline) {
			t.Fatalf("module %d cmdline at %x", i, p)
		}
	}
	mmap := le.Uint64(b[40:]) - at
	if mmap%8 != 0 || le.Uint32(b[48:]) != uint32(len(mm)) || le.Uint64(b[mmap:]) != mm[0].Addr || le.Uint64(b[mmap+8:]) != mm[0].Size {
		t.Fatalf("memory map at %x wrong", mmap)
	}
}
