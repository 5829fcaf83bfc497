package hypercall

import (
	"bytes"
	"strings"
	"testing"

	"luxen/bindings/savestream"
)

// recordingSink notes what a restore would do, in order.
type recordingSink struct{ calls []string }

func (s *recordingSink) CPUPolicy(l, m []byte) error {
	s.calls = append(s.calls, "policy")
	return nil
}
func (s *recordingSink) Pages(p savestream.PageData) error {
	s.calls = append(s.calls, "pages")
	return nil
}
func (s *recordingSink) TSC(savestream.TSCInfo) error { s.calls = append(s.calls, "tsc"); return nil }
func (s *recordingSink) Params(ps []savestream.HVMParam) error {
	s.calls = append(s.calls, "params")
	return nil
}
func (s *recordingSink) HVMContext([]byte) error { s.calls = append(s.calls, "context"); return nil }

type streamEdit struct {
	domType      savestream.DomainType
	pagesFirst   bool
	noContext    bool
	emulatorData bool
}

func testStream(t *testing.T, e streamEdit) []byte {
	var buf bytes.Buffer
	w := savestream.NewWriter(&buf)
	w.XLHeader(savestream.XLHeader{MandatoryFlags: savestream.XLFlagJSON | savestream.XLFlagStreamV2, Config: []byte("{}\x00")})
	w.LibxlHeader()
	w.LibxlRecord(savestream.LibxlLibxcContext, nil)
	if e.domType == 0 {
		e.domType = savestream.DomainX86HVM
	}
	w.LibxcHeaders(savestream.DomainHeader{Type: e.domType, XenMajor: 4, XenMinor: 17})
	page := func() {
		w.PageData([]uint64{0, 1}, []savestream.PageType{savestream.PageNormal, savestream.PageXTab}, make([]byte, savestream.PageSize))
	}
	if e.pagesFirst {
		page()
	}
	w.Record(savestream.RecX86CPUIDPolicy, make([]byte, savestream.CPUIDLeafSize))
	w.Record(savestream.RecStaticDataEnd, nil)
	page()
	page()
	w.TSCInfo(savestream.TSCInfo{KHz: 1000})
	if !e.noContext {
		w.Record(savestream.RecHVMContext, []byte{1, 2, 3})
	}
	w.HVMParams([]savestream.HVMParam{{Index: 1, Value: 0xfeffc}})
	w.Record(savestream.RecEnd, nil)
	if e.emulatorData {
		w.LibxlRecord(savestream.LibxlEmulatorContext, make([]byte, 8))
	}
	w.LibxlRecord(savestream.LibxlEnd, nil)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestRestoreOrder: the records reach a restore in libxc's order, the CPU
// policy after the static data, the vCPU context last.
func TestRestoreOrder(t *testing.T) {
	var sink recordingSink
	s, err := RestoreStream(savestream.NewReader(bytes.NewReader(testStream(t, streamEdit{}))), &sink, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sink.calls, ","); got != "policy,pages,pages,tsc,params,context" {
		t.Fatalf("calls %s", got)
	}
	if s.PFNs != 4 || s.Pages != 2 || len(s.Params) != 1 || string(s.Config) != "{}\x00" {
		t.Fatalf("summary %+v", s)
	}
}

// TestRestoreRefuses: what a PVH restore cannot take is refused, before the
// vCPUs would be given a context.
func TestRestoreRefuses(t *testing.T) {
	for _, c := range []struct {
		e    streamEdit
		want string
	}{
		{streamEdit{domType: savestream.DomainX86PV}, "a x86 PV guest: luxen restores HVM containers (PVH) only"},
		{streamEdit{pagesFirst: true}, "PAGE_DATA before STATIC_DATA_END"},
		{streamEdit{noContext: true}, "no HVM_CONTEXT"},
		{streamEdit{emulatorData: true}, "a device model's state (EMULATOR_CONTEXT)"},
	} {
		var sink recordingSink
		_, err := RestoreStream(savestream.NewReader(bytes.NewReader(testStream(t, c.e))), &sink, false)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.e, err, c.want)
		}
		for _, call := range sink.calls {
			if call == "context" && !c.e.emulatorData {
				t.Errorf("%+v: the vCPU context was set before the refusal", c.e)
			}
		}
	}
}
