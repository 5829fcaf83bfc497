package pvh

import (
	"encoding/binary"
	"testing"
)

// TestMADTListsEveryVcpuUpToTheMaximum: a guest created with 1 vCPU of 3
// finds three enabled local APICs (Linux boots them and takes the two down
// at once, as cpu/N/availability says; vcpu-set brings them back), the
// table's bytes summing to zero.
func TestMADTListsEveryVcpuUpToTheMaximum(t *testing.T) {
	image, rsdp := ACPITables(1, 3)
	if rsdp != ACPIBase {
		t.Fatalf("RSDP at %#x, want %#x", rsdp, ACPIBase)
	}
	madt := image[0x280:]
	if string(madt[:4]) != "APIC" {
		t.Fatalf("no MADT at 0x280: %q", madt[:4])
	}
	n := binary.LittleEndian.Uint32(madt[4:])
	if n != 44+3*8 || int(n) != len(madt) {
		t.Fatalf("MADT length %d (image has %d), want %d", n, len(madt), 44+3*8)
	}
	if checksum(madt[:n]) != 0 {
		t.Fatal("MADT checksum")
	}
	for i := 0; i < 3; i++ {
		e := madt[44+8*i:]
		if e[0] != 0 || e[1] != 8 || int(e[2]) != i || int(e[3]) != 2*i {
			t.Fatalf("entry %d: % x", i, e[:8])
		}
		if f := binary.LittleEndian.Uint32(e[4:]); f != 1 {
			t.Fatalf("entry %d flags %d, want 1 (enabled)", i, f)
		}
	}
	// never fewer entries than vCPUs online
	if image, _ := ACPITables(2, 1); binary.LittleEndian.Uint32(image[0x280+4:]) != 44+2*8 {
		t.Fatal("a maximum below vcpus shrank the MADT")
	}
}
