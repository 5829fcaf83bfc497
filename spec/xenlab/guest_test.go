package xenlab

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"luxen/bindings/pvh"
)

// The boot sector's message pointer must land on the message: a wrong
// offset would print garbage and the lab spec would wait in vain.
func TestHVMBootDisk(t *testing.T) {
	img := HVMBootDisk()
	if img[510] != 0x55 || img[511] != 0xaa {
		t.Fatal("no boot signature")
	}
	si := int(img[6]) | int(img[7])<<8 // mov si, imm16
	if si < 0x7c00 || !bytes.HasPrefix(img[si-0x7c00:], []byte(HVMMarker+"\n\x00")) {
		t.Fatalf("mov si points at 0x%x, not at the marker", si)
	}
}

// luxen's own loader takes the tiny kernel as a PVH kernel, entered at its
// code; the message pointer and the three jumps land where they should.
func TestTinyPVHKernel(t *testing.T) {
	k, err := pvh.ParseKernel(TinyPVHKernel())
	if err != nil {
		t.Fatal(err)
	}
	if k.Entry != 0x100000 || len(k.Segments) != 1 || k.Segments[0].Addr != 0x100000 {
		t.Fatalf("entry 0x%x, segments %+v", k.Entry, k.Segments)
	}
	code := k.Segments[0].Data
	esi := int(binary.LittleEndian.Uint32(code[1:])) - 0x100000
	if esi < 0 || !bytes.HasPrefix(code[esi:], []byte(TinyMarker+"\n\x00")) {
		t.Fatalf("mov esi points at +0x%x, not at the marker", esi)
	}
	target := func(at int) byte { return code[at+2+int(int8(code[at+1]))] } // a short jump's destination
	if code[12] != 0x74 || target(12) != 0xfa {
		t.Fatal("jz does not land on cli")
	}
	if code[15] != 0xeb || target(15) != 0xac {
		t.Fatal("jmp next does not land on lodsb")
	}
	if code[19] != 0xeb || target(19) != 0xfa {
		t.Fatal("jmp done does not land on cli")
	}
}

func TestLabGroup(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"-- hosts: xen\n-- lab: load\nlocal x = 1\n", "load"},
		{"-- hosts: xen\n-- A spec.\n", "main"},
		{"-- hosts: xen\nlocal x = 1\n-- lab: load\n", "main"}, // only the leading comments count
		{"-- lab:  devicemodel \n", "devicemodel"},
	} {
		if got := labGroup([]byte(c.src)); got != c.want {
			t.Errorf("labGroup(%q) = %q, want %q", c.src, got, c.want)
		}
	}
	// every group a spec names has a timeout, or TestRealXen refuses to start
	specs, _ := filepath.Glob("../*_spec.lua")
	for _, f := range specs {
		b, _ := os.ReadFile(f)
		if g := labGroup(b); labGroupTimeout[g] == 0 {
			t.Errorf("%s names lab group %q, which has no timeout", f, g)
		}
	}
}
