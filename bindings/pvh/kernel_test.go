package pvh

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
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
	// what Xen's own loader reads from this kernel's notes (`xl create -vvv` in
	// the lab prints them): entry 0x1000850, features 0x8801, kernel 0x1000000-0x4a00000
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
	XzTool = "" // the Go decoder is the one fuzzed
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
	ours, err := unxz(payload) // the Go decoder, whatever decompress prefers
	if err != nil {
		t.Fatal(err)
	}
	// and decompress's own path through xz(1) gives the same bytes
	if XzTool != "" {
		viaTool, err := xzTool(payload)
		if err != nil {
			t.Fatalf("decoding through %s: %v", XzTool, err)
		}
		if !bytes.Equal(viaTool, ours) {
			t.Fatalf("%s gave %d bytes, the Go decoder %d", XzTool, len(viaTool), len(ours))
		}
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

// TestCachedKernelIsMappedNotCopied: the second load of a kernel comes from
// the cache by mmap, its segments the same bytes as a fresh decompression,
// and it costs the heap next to nothing (ten creates at once in a 1 GiB dom0
// were OOM-killed when each held two heap copies of a 60 MiB image).
func TestCachedKernelIsMappedNotCopied(t *testing.T) {
	path, dir := labKernel(t), t.TempDir()
	cold, err := LoadKernel(path)
	if err != nil {
		t.Fatal(err)
	}
	filled, err := LoadKernelCached(path, dir) // decompresses and fills the cache
	if err != nil {
		t.Fatal(err)
	}
	if filled.mapped == nil {
		t.Error("once the cache is written, the kernel should be served from its mapping")
	}
	filled.Close()
	var warm *Kernel
	grew := allocatedBy(func() { warm, err = LoadKernelCached(path, dir) })
	if err != nil {
		t.Fatal(err)
	}
	if warm.mapped == nil {
		t.Fatal("the second load did not map the cached image")
	}
	if grew > 1<<20 {
		t.Errorf("a cached load allocated %d bytes; it should map, not copy", grew)
	}
	if len(warm.Segments) != len(cold.Segments) || warm.Entry != cold.Entry || warm.High != cold.High {
		t.Fatalf("cached kernel differs: %d segments entry 0x%x, fresh %d entry 0x%x",
			len(warm.Segments), warm.Entry, len(cold.Segments), cold.Entry)
	}
	for i := range cold.Segments {
		if !bytes.Equal(cold.Segments[i].Data, warm.Segments[i].Data) || cold.Segments[i].Mem != warm.Segments[i].Mem {
			t.Fatalf("segment %d differs", i)
		}
	}
	if err := warm.Close(); err != nil || warm.Segments != nil {
		t.Fatalf("close: %v, segments left %d", err, len(warm.Segments))
	}
	if err := warm.Close(); err != nil {
		t.Fatalf("a second close: %v", err)
	}
}

// TestColdCacheIsFilledOnce: creates of a new kernel at the same time (in
// this process here; flock works the same across processes) decompress it
// once; the others wait and map the result.
func TestColdCacheIsFilledOnce(t *testing.T) {
	path, dir := labKernel(t), t.TempDir()
	before := imagesLoaded.Load()
	const n = 4
	errs := make(chan error, n)
	entries := make(chan uint64, n)
	for i := 0; i < n; i++ {
		go func() {
			k, err := LoadKernelCached(path, dir)
			if err == nil {
				entries <- k.Entry
				k.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(entries)
	for e := range entries {
		if e != 0x1000850 {
			t.Errorf("entry 0x%x", e)
		}
	}
	if got := imagesLoaded.Load() - before; got != 1 {
		t.Fatalf("%d concurrent cold loads decompressed the kernel %d times, want once", n, got)
	}
}

// A broken xz(1) (or none) falls back to the Go decoder: the kernel still loads.
func TestXzToolFailureFallsBackToTheGoDecoder(t *testing.T) {
	b, err := os.ReadFile(labKernel(t))
	if err != nil {
		t.Fatal(err)
	}
	defer func(old string) { XzTool = old }(XzTool)
	fake := filepath.Join(t.TempDir(), "xz")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'xz: corrupted data' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{fake, "/nonexistent/xz", ""} {
		XzTool = tool
		if _, err := ParseKernel(b); err != nil {
			t.Fatalf("with XzTool %q: %v", tool, err)
		}
	}
}

// TestXzWritesTheCacheFile: with xz(1), a cold load has it decode straight
// into the cache entry's file (no pipe into this process's heap), and that
// file holds the same bytes as the Go decoder's image.
func TestXzWritesTheCacheFile(t *testing.T) {
	if xzUsable() != nil {
		t.Skip("no xz(1)")
	}
	path, dir := labKernel(t), t.TempDir()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := bzPayload(b)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := unxz(payload)
	if err != nil {
		t.Fatal(err)
	}
	var k *Kernel
	grew := allocatedBy(func() { k, err = LoadKernelCached(path, dir) })
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.mapped == nil {
		t.Fatal("the cold load is not served from the cache file's mapping")
	}
	// the kernel file is read (8 MiB), the 60 MiB image is not on the heap
	if grew > uint64(len(b))+4<<20 {
		t.Errorf("a cold load through xz(1) allocated %d bytes (the file is %d): the image went through the heap", grew, len(b))
	}
	if !bytes.Equal(k.mapped, ours) {
		t.Fatalf("the cache file (%d bytes) is not the Go decoder's image (%d bytes)", len(k.mapped), len(ours))
	}
	noTempFiles(t, dir, "xz(1)")
}

// allocatedBy is how many bytes fn allocated on the heap.
func allocatedBy(fn func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// noTempFiles fails t if a cache fill left a temporary file in dir.
func noTempFiles(t *testing.T, dir, with string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("with %s: left behind %s", with, e.Name())
		}
	}
}

// TestXzIntoCacheFallsBack: an xz(1) that fails, or that writes without end
// (a hostile image, here a fake tool), is stopped, leaves no file behind, and
// the Go decoder loads the kernel instead.
func TestXzIntoCacheFallsBack(t *testing.T) {
	path := labKernel(t)
	defer func(old string, limit int64) { XzTool, xzLimit = old, limit }(XzTool, xzLimit)
	xzLimit = 1 << 20
	bin := t.TempDir()
	failing := filepath.Join(bin, "xz-fails")
	endless := filepath.Join(bin, "xz-endless")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\necho 'xz: corrupted data' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(endless, []byte("#!/bin/sh\nexec cat /dev/zero\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{failing, endless} {
		XzTool = tool
		dir := t.TempDir()
		t0 := time.Now()
		k, err := LoadKernelCached(path, dir)
		if err != nil {
			t.Fatalf("with %s: %v", filepath.Base(tool), err)
		}
		if k.Entry != 0x1000850 {
			t.Errorf("with %s: entry 0x%x", filepath.Base(tool), k.Entry)
		}
		k.Close()
		if took := time.Since(t0); took > 30*time.Second {
			t.Errorf("with %s: %v", filepath.Base(tool), took)
		}
		noTempFiles(t, dir, filepath.Base(tool))
	}
}
