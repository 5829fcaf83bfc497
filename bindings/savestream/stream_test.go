package savestream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pvhStream is a stream shaped as xl saves a PVH guest: xl's header with a
// JSON config, libxl's header, LIBXC_CONTEXT, libxc's headers, the static
// data, pages (normal ones with data, one absent), TSC info, HVM context
// and params, libxc's END, libxl's END.
func pvhStream(t testing.TB) []byte {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.XLHeader(XLHeader{MandatoryFlags: XLFlagJSON | XLFlagStreamV2, Config: []byte("{\"c_info\":{\"name\":\"g\"}}\x00")})
	w.LibxlHeader()
	w.LibxlRecord(LibxlLibxcContext, nil)
	w.LibxcHeaders(DomainHeader{Type: DomainX86HVM, XenMajor: 4, XenMinor: 17})
	w.Record(RecX86CPUIDPolicy, make([]byte, 24*2))
	w.Record(RecX86MSRPolicy, make([]byte, 16))
	w.Record(RecStaticDataEnd, nil)
	page := func(b byte) []byte { return bytes.Repeat([]byte{b}, PageSize) }
	w.PageData([]uint64{0, 1, 0xfeffc}, []PageType{PageNormal, PageXTab, PageNormal}, append(page(0xaa), page(0xbb)...))
	w.PageData([]uint64{2}, []PageType{PageNormal}, page(0xcc))
	w.TSCInfo(TSCInfo{Mode: 0, KHz: 2096000, Nsec: 123, Incarnation: 1})
	w.Record(RecHVMContext, []byte("hvm-context-bytes"))
	w.HVMParams([]HVMParam{{Index: 1, Value: 0xfeffc}, {Index: 2, Value: 1}})
	w.Record(RecEnd, nil)
	w.LibxlRecord(LibxlEnd, nil)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	b := pvhStream(t)
	s, err := Scan(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.XL.Config) != "{\"c_info\":{\"name\":\"g\"}}\x00" || s.Domain != (DomainHeader{DomainX86HVM, 4, 17}) || s.ImageVersion != 3 {
		t.Fatalf("headers: %+v", s)
	}
	if len(s.Libxl) != 2 || s.Libxl[0] != LibxlLibxcContext || s.Libxl[1] != LibxlEnd {
		t.Fatalf("libxl records %v", s.Libxl)
	}
	if s.PFNs != 4 || s.Pages != 3 || s.MaxPFN != 0xfeffc || s.Records[RecPageData] != 2 || s.Records[RecEnd] != 1 {
		t.Fatalf("pages: %+v", s)
	}
	if s.TSC == nil || s.TSC.KHz != 2096000 || len(s.Params) != 2 || s.Params[0] != (HVMParam{1, 0xfeffc}) {
		t.Fatalf("tsc %+v params %+v", s.TSC, s.Params)
	}
	if s.Bytes != int64(len(b)) {
		t.Fatalf("read %d of %d bytes", s.Bytes, len(b))
	}
	// a page's data comes back where it went
	r := NewReader(bytes.NewReader(b))
	r.XLHeader()
	r.LibxlHeader()
	r.LibxlRecord()
	r.LibxcHeaders()
	for {
		rec, err := r.Record()
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type == RecPageData {
			p, _ := rec.PageData()
			if len(p.PFNs) != 3 || p.Types[1] != PageXTab || p.Data[0] != 0xaa || p.Data[PageSize] != 0xbb {
				t.Fatalf("first PAGE_DATA: pfns %v types %v", p.PFNs, p.Types)
			}
			break
		}
	}
}

// TestXenVerifies runs Xen's own checker, verify-stream-v2 (Python, from
// xen-utils-4.17), on what the writer writes: the format is Xen's, not
// luxen's reading of it. xen-utils unpacked under $LUXEN_XEN_ROOT (as CI
// does) or the lab's download serve when the host has none.
func TestXenVerifies(t *testing.T) {
	tool, pylib := XenVerifier()
	if tool == "" {
		msg := "no verify-stream-v2 (xen-utils-4.17) and python3; set LUXEN_XEN_ROOT to an unpacked xen-utils-4.17"
		if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	f := filepath.Join(t.TempDir(), "g.save")
	if err := os.WriteFile(f, pvhStream(t), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() ([]byte, error) {
		cmd := exec.Command("python3", tool, "-v", "-f", "xl", "-i", f)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+pylib)
		return cmd.CombinedOutput()
	}
	out, err := run()
	if err != nil {
		t.Fatalf("verify-stream-v2: %v\n%s", err, out)
	}
	for _, want := range []string{"Processed xl header", "Libxc Image Header: Version 3", "x86 HVM from Xen 4.17", "HVM params", "Libxl Record: End"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("verify-stream-v2 did not say %q:\n%s", want, out)
		}
	}
	// and it refuses what Scan refuses: the checker is not blind
	bad := pvhStream(t)
	bad[len(bad)-16] = 0x7f // libxc END's type (libxl END is the last 8 bytes)
	os.WriteFile(f, bad, 0o644)
	if out, err := run(); err == nil || !strings.Contains(string(out), "Unrecognised record type 0x7f") {
		t.Fatalf("verify-stream-v2 took a stream with an unknown record (%v):\n%s", err, out)
	}
}

// TestBadStreams: every truncation, and each kind of corruption, is a
// FormatError that names the offset and the header or record at fault.
func TestBadStreams(t *testing.T) {
	good := pvhStream(t)
	for n := 0; n < len(good); n += 97 {
		_, err := Scan(bytes.NewReader(good[:n]))
		var fe *FormatError
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	// the offsets of things in the good stream
	const xlLen = 48 + 4 + 24 // header, config length, config
	libxcHdr := xlLen + 16 + 8
	firstRec := libxcHdr + 40
	le := binary.LittleEndian
	cases := []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"magic", func(b []byte) []byte { b[0] = 'x'; return b }, "offset 0: xl header: not an xl save file"},
		{"byte order", func(b []byte) []byte { le.PutUint32(b[32:], 0x04030201); return b }, "offset 32: xl header: byte order mark"},
		{"mandatory flag", func(b []byte) []byte { b[36] |= 0x10; return b }, "mandatory flags 0x10"},
		{"libxl version", func(b []byte) []byte { b[xlLen+11] = 3; return b }, "libxl header: version 3"},
		{"libxc version", func(b []byte) []byte { b[libxcHdr+15] = 4; return b }, "libxc image header: version 4: luxen reads versions 2 and 3"},
		{"domain type", func(b []byte) []byte { b[libxcHdr+24] = 9; return b }, "libxc domain header: unknown domain type 0x9"},
		{"record type", func(b []byte) []byte { le.PutUint32(b[firstRec:], 0x99); return b },
			"offset " + strconv.Itoa(firstRec) + ": libxc record: unknown type 0x99"},
		{"policy length", func(b []byte) []byte { le.PutUint32(b[firstRec+4:], 40); return b }, "libxc record X86_CPUID_POLICY: length 40, not a multiple"},
		{"padding", func(b []byte) []byte {
			// the HVM context's 17 bytes are padded with 7 zeros
			i := bytes.Index(b, []byte("hvm-context-bytes"))
			b[i+17] = 1
			return b
		}, "libxc record HVM_CONTEXT: non-zero padding"},
		{"page count", func(b []byte) []byte {
			// the first PAGE_DATA: type 1, 8 + 3*8 + 2*4096 = 0x2020 bytes
			i := bytes.Index(b, []byte{1, 0, 0, 0, 0x20, 0x20, 0, 0})
			if i < 0 {
				t.Fatal("no PAGE_DATA")
			}
			le.PutUint32(b[i+8:], 2) // 2 pfns announced, 3 present
			return b
		}, "libxc record PAGE_DATA: 1 pages of data need 4096 bytes after the pfns, the record has 8200"},
		{"trailing", func(b []byte) []byte { return append(b, 0, 0, 0, 0) }, "4 bytes follow libxl's END record"},
	}
	for _, c := range cases {
		b := c.edit(append([]byte(nil), good...))
		_, err := Scan(bytes.NewReader(b))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
		}
	}
}

// FuzzScan: no input panics the reader or makes it allocate past its
// bounds; what it accepts, it accepts whole.
func FuzzScan(f *testing.F) {
	f.Add(pvhStream(f))
	f.Add([]byte(XLMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Scan(bytes.NewReader(b))
		if err == nil && s.Bytes != int64(len(b)) {
			t.Fatalf("accepted %d of %d bytes", s.Bytes, len(b))
		}
	})
}
