//go:build linux

package hypercall

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestTouchGuestFault: memory that goes from under a mapping (here a file
// truncated beneath it: SIGBUS, as guest frames freed by a destroy are) is an
// error from touchGuest, not a crash of the process.
func TestTouchGuestFault(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "page"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(pageSize); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if err := touchGuest(7, "write guest memory", func() { mem[0] = 1 }); err != nil {
		t.Fatalf("a good write failed: %v", err)
	}
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	err = touchGuest(7, "write guest memory", func() { copy(mem, make([]byte, pageSize)) })
	var he *Error
	if !errors.As(err, &he) || he.Errno != syscall.EFAULT || he.Domid != 7 {
		t.Fatalf("a write to vanished memory: got %v, want an EFAULT error for domain 7", err)
	}
}
