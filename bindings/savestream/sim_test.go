package savestream_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	hc "luxen/bindings/hypercall"
	"luxen/bindings/savestream"
	"luxen/bindings/simxen"
)

// TestSimulatedSaveRestore: the simulated host's save file is a stream
// Scan and Xen's verify-stream-v2 take, of the guest's frames without
// contents; its restore populates them again, and refuses a stream with
// page contents (a real guest's), which it could not run.
func TestSimulatedSaveRestore(t *testing.T) {
	h := simxen.New(simxen.Options{})
	defer h.Close()
	ctx := context.Background()
	made := func() uint32 {
		id, err := h.CreateDomain(ctx, hc.CreateConfig{HVM: true, HAP: true, MaxVcpus: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.SetMaxMem(ctx, id, 8<<10); err != nil {
			t.Fatal(err)
		}
		return id
	}
	id := made()
	if _, err := h.Build(ctx, id, hc.BuildSpec{Type: "pvh", MemoryKB: 8 << 10, Vcpus: 1}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "g.save")
	if _, err := h.Save(ctx, id, hc.SaveSpec{Path: path, Config: []byte("{}\x00")}); !errors.Is(err, syscall.EBUSY) {
		t.Fatalf("save of a running guest: %v, want EBUSY", err)
	}
	if err := h.Shutdown(ctx, id, hc.Suspend); err != nil {
		t.Fatal(err)
	}
	res, err := h.Save(ctx, id, hc.SaveSpec{Path: path, Config: []byte("{}\x00")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	sum, err := savestream.Scan(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if sum.PFNs != 2048 || sum.Pages != 0 || res.PFNs != 2048 || res.Bytes != uint64(len(b)) {
		t.Fatalf("saved %+v, scanned %d pfns %d pages of %d bytes", res, sum.PFNs, sum.Pages, len(b))
	}
	if tool, pylib := savestream.XenVerifier(); tool != "" {
		cmd := exec.Command("python3", tool, "-f", "xl", "-i", path)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+pylib)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("verify-stream-v2 of the simulated host's file: %v\n%s", err, out)
		}
	} else if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
		t.Fatal("no verify-stream-v2 (xen-utils-4.17) and python3")
	}

	rid := made()
	rr, err := h.Restore(ctx, rid, hc.RestoreSpec{Path: path, MaxMemKB: 8 << 10, Vcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	info, _ := h.DomainInfo(ctx, rid)
	if rr.PFNs != 2048 || info.TotPages != 2048 || rr.StoreGFN == 0 || rr.StorePort == 0 {
		t.Fatalf("restored %+v, domain has %d pages", rr, info.TotPages)
	}
	if _, err := h.Restore(ctx, rid, hc.RestoreSpec{Path: path}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("a second restore into one domain: %v, want EEXIST", err)
	}
	// over its max_mem: refused
	small, _ := h.CreateDomain(ctx, hc.CreateConfig{HVM: true, HAP: true, MaxVcpus: 1})
	h.SetMaxMem(ctx, small, 4<<10)
	if _, err := h.Restore(ctx, small, hc.RestoreSpec{Path: path}); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("restore over max_mem: %v, want ENOMEM", err)
	}

	// a stream with a page of contents
	var buf bytes.Buffer
	w := savestream.NewWriter(&buf)
	w.XLHeader(savestream.XLHeader{MandatoryFlags: savestream.XLFlagJSON | savestream.XLFlagStreamV2, Config: []byte("{}\x00")})
	w.LibxlHeader()
	w.LibxlRecord(savestream.LibxlLibxcContext, nil)
	w.LibxcHeaders(savestream.DomainHeader{Type: savestream.DomainX86HVM, XenMajor: 4, XenMinor: 17})
	w.Record(savestream.RecStaticDataEnd, nil)
	w.PageData([]uint64{0}, []savestream.PageType{savestream.PageNormal}, make([]byte, savestream.PageSize))
	w.Flush()
	real := filepath.Join(t.TempDir(), "real.save")
	os.WriteFile(real, buf.Bytes(), 0o600)
	other := made()
	_, err = h.Restore(ctx, other, hc.RestoreSpec{Path: real})
	if !errors.Is(err, syscall.EOPNOTSUPP) || !strings.Contains(err.Error(), "cannot hold or run") {
		t.Fatalf("restore of a stream with page contents: %v, want EOPNOTSUPP", err)
	}
}
