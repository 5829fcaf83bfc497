package pvh

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// labKernel is Debian's kernel the xenlab unpacks (the same one the guests
// boot); tests that need it skip without it, and CI has it.
func labKernel(t testing.TB) string {
	m, _ := filepath.Glob(filepath.Join(os.Getenv("HOME"), ".cache/luxen/xenlab/root/boot/vmlinuz-*"))
	if len(m) == 0 {
		if os.Getenv("LUXEN_XENLAB") != "" {
			t.Fatal("the lab kernel is required (LUXEN_XENLAB) but missing")
		}
		t.Skip("no lab kernel in ~/.cache/luxen/xenlab (run the real-Xen suite once)")
	}
	return m[0]
}

func TestDebianKernelLoads(t *testing.T) {
	k, err := LoadKernel(labKernel(t))
	if err != nil {
		t.Fatal(err)
	}
	// pvh-build.md (lab): entry 0x1000850, features 0x8801, kernel 0x1000000-0x4a00000
	if k.Entry != 0x1000850 {
		t.Errorf("entry 0x%x", k.Entry)
	}
	if k.Features&(1<<15) == 0 || k.GuestOS != "linux" {
		t.Errorf("features 0x%x guest os %q", k.Features, k.GuestOS)
	}
	if k.Low != 0x1000000 || k.High > 0x4a00000 || k.High < 0x4000000 {
		t.Errorf("range 0x%x-0x%x", k.Low, k.High)
	}
	t.Logf("%d segments, 0x%x-0x%x, entry 0x%x", len(k.Segments), k.Low, k.High, k.Entry)
}

func TestBadKernelsAreNamed(t *testing.T) {
	for _, tc := range []struct {
		data []byte
		want string
	}{
		{[]byte("hello"), "neither an ELF image nor a Linux bzImage"},
		{append(make([]byte, 0x202), []byte("HdrS\x00\x02")...), "older than 2.08"},
		{[]byte("\x7fELF\x02\x01\x01"), "not a valid ELF image"},
	} {
		pad := append(tc.data, make([]byte, 0x300)...)
		_, err := ParseKernel(pad)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.data[:min(len(tc.data), 8)], err, tc.want)
		}
	}
}

func FuzzParseKernel(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	hdr := make([]byte, 0x260)
	copy(hdr[0x202:], "HdrS\x08\x02")
	hdr[0x1f1] = 1
	f.Add(hdr)
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseKernel(b) // must not panic or run away
	})
}

// TestXzMatchesTheXzTool decodes the lab kernel's payload with ours and with
// xz(1) (which implements BCJ) and wants identical bytes.
func TestXzMatchesTheXzTool(t *testing.T) {
	xzBin, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("xz not installed")
	}
	b, err := os.ReadFile(labKernel(t))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := bzPayload(b)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := decompress(payload)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xzBin, "-dc")
	cmd.Stdin = bytes.NewReader(payload)
	theirs, _ := cmd.Output() // xz_wrap appends a size trailer xz calls garbage; the data is complete
	if len(theirs) == 0 {
		t.Fatal("xz produced nothing")
	}
	if !bytes.Equal(ours, theirs) {
		n := 0
		for n < len(ours) && n < len(theirs) && ours[n] == theirs[n] {
			n++
		}
		t.Fatalf("differ: ours %d bytes, xz %d bytes, first difference at %d", len(ours), len(theirs), n)
	}
}
