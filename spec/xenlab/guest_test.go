package xenlab

import (
	"bytes"
	"testing"
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
