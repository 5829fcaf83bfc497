package simxen

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"syscall"

	hc "luxen/bindings/hypercall"
	"luxen/bindings/pvh"
	"luxen/bindings/savestream"
)

// Where the simulated builder puts a guest's xenstore and console rings
// (the real builder's frames, pvh.XenstorePFN and pvh.ConsolePFN).
const (
	simStoreGFN        = pvh.XenstorePFN
	simConsoleGFN      = pvh.ConsolePFN
	hvmParamStorePFN   = 1
	hvmParamConsolePFN = 17
	simTSCKHz          = 2_000_000
)

// Save writes a suspended simulated guest in xl's save format, as Xen's
// toolstack writes a real one, with what the simulated host has of it: its
// frames (populated, but with no content: a simulated guest's memory holds
// nothing, so each is written allocate-only, XEN_DOMCTL_PFINFO_XALLOC), TSC
// info, an HVM context of the header record alone (it has no vCPU
// registers) and the HVM params the real save writes. Xen's
// verify-stream-v2 takes the file; a real Xen would not run it.
func (h *Host) Save(_ context.Context, id uint32, spec hc.SaveSpec) (res hc.SaveResult, err error) {
	h.mu.Lock()
	d, err := h.dom("save", id)
	if err != nil {
		h.mu.Unlock()
		return res, err
	}
	if !d.hvm {
		h.mu.Unlock()
		return res, hc.Errorf("save", id, syscall.EOPNOTSUPP, "a PV domain: luxen saves HVM containers (PVH) only")
	}
	if !d.shutdown || d.reason != hc.Suspend {
		h.mu.Unlock()
		return res, hc.Errorf("save", id, syscall.EBUSY, "the domain has not suspended itself")
	}
	frames := d.totPages
	var params []savestream.HVMParam
	for _, i := range []uint32{hvmParamStorePFN, hvmParamConsolePFN} {
		if v := d.params[i]; v != 0 {
			params = append(params, savestream.HVMParam{Index: uint64(i), Value: v})
		}
	}
	h.mu.Unlock()

	f, err := os.OpenFile(spec.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res, hc.Errorf("save", id, hc.ErrnoOf(err), "%v", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = hc.Errorf("save", id, syscall.EIO, "%s: %v", spec.Path, cerr)
		}
		if err != nil {
			os.Remove(spec.Path)
		}
	}()
	w := savestream.NewWriter(f)
	w.XLHeader(savestream.XLHeader{MandatoryFlags: savestream.XLFlagJSON | savestream.XLFlagStreamV2, Config: spec.Config})
	w.LibxlHeader()
	w.LibxlRecord(savestream.LibxlLibxcContext, nil)
	w.LibxcHeaders(savestream.DomainHeader{Type: savestream.DomainX86HVM, XenMajor: 4, XenMinor: 17})
	w.Record(savestream.RecStaticDataEnd, nil)
	const batch = savestream.MaxPagesPerRecord
	pfns := make([]uint64, 0, batch)
	types := make([]savestream.PageType, 0, batch)
	for base := uint64(0); base < frames; base += batch {
		pfns, types = pfns[:0], types[:0]
		for pfn := base; pfn < frames && pfn < base+batch; pfn++ {
			pfns = append(pfns, pfn)
			types = append(types, savestream.PageXAlloc)
		}
		w.PageData(pfns, types, nil)
		res.PFNs += uint64(len(pfns))
	}
	w.TSCInfo(savestream.TSCInfo{KHz: simTSCKHz})
	w.Record(savestream.RecHVMContext, simContext())
	w.HVMParams(params)
	w.Record(savestream.RecEnd, nil)
	w.LibxlRecord(savestream.LibxlEnd, nil)
	if err := w.Flush(); err != nil {
		return res, hc.Errorf("save", id, hc.ErrnoOf(err), "%s: %v", spec.Path, err)
	}
	res.Bytes = uint64(w.Offset())
	h.logf("d%d saved to %s (%d frames)", id, spec.Path, frames)
	return res, nil
}

// simContext is an HVM context with its header record (struct
// hvm_save_header: magic, version, changeset, cpuid, gtsc_khz) and END.
func simContext() []byte {
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0x54381286) // HVM_FILE_MAGIC
	binary.LittleEndian.PutUint32(hdr[4:], 1)          // HVM_FILE_VERSION
	binary.LittleEndian.PutUint32(hdr[20:], simTSCKHz)
	return pvh.EncodeContext(pvh.Record{Type: pvh.RecordHeader, Body: hdr})
}

// Restore fills a created simulated domain from a save file through the
// same stream reader as the real restore (hypercall.RestoreStream): its
// frames are populated against its max_mem and the host's free memory, its
// params set, and a simulated guest resumes in it at once. A file with page
// contents (one of a real guest) is refused: the simulated host keeps no
// guest memory, and could not run what the pages hold.
func (h *Host) Restore(_ context.Context, id uint32, spec hc.RestoreSpec) (hc.RestoreResult, error) {
	var res hc.RestoreResult
	h.mu.Lock()
	d, err := h.dom("restore", id)
	if err == nil && d.built {
		err = hc.Errorf("restore", id, syscall.EEXIST, "domain already built")
	}
	h.mu.Unlock()
	if err != nil {
		return res, err
	}
	f, err := os.Open(spec.Path)
	if err != nil {
		return res, hc.Errorf("restore", id, hc.ErrnoOf(err), "%v", err)
	}
	defer f.Close()
	sink := &simSink{h: h, d: d}
	sum, err := hc.RestoreStream(savestream.NewReader(f), sink)
	if err != nil {
		if he, ok := err.(*hc.Error); ok {
			return res, he
		}
		return res, hc.Errorf("restore", id, syscall.EINVAL, "%s: %v", spec.Path, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if d.destroyed {
		return res, hc.Errorf("restore", id, syscall.ESRCH, "destroyed meanwhile")
	}
	if d.params[hvmParamStorePFN] == 0 {
		return res, hc.Errorf("restore", id, syscall.EINVAL, "%s: no HVM_PARAM_STORE_PFN among the saved params: the guest has no xenstore ring", spec.Path)
	}
	d.built = true
	store := h.allocUnbound(id, 0)
	cons := h.allocUnbound(id, 0)
	d.guest = newGuest(h, id, 0) // a resumed guest is up at once
	if d.pauses == 0 {
		d.guest.setPaused(false)
	}
	go d.guest.run()
	h.logf("d%d restored from %s (%d frames)", id, spec.Path, sum.PFNs)
	res.BuildResult = hc.BuildResult{StoreGFN: d.params[hvmParamStorePFN], StorePort: store,
		ConsoleGFN: d.params[hvmParamConsolePFN], ConsolePort: cons}
	res.PFNs = sum.PFNs
	return res, nil
}

// simSink is hypercall.RestoreSink for a simulated domain.
type simSink struct {
	h *Host
	d *domain
}

func (s *simSink) CPUPolicy(leaves, msrs []byte) error { return nil }

func (s *simSink) Pages(p savestream.PageData) error {
	if len(p.Data) > 0 {
		return hc.Errorf("restore", s.d.id, syscall.EOPNOTSUPP,
			"PAGE_DATA at pfn %#x carries page contents: a real guest's memory, which the simulated host cannot hold or run", p.PFNs[0])
	}
	n := uint64(0)
	for _, t := range p.Types {
		if t != savestream.PageXTab && t != savestream.PageBroken {
			n++
		}
	}
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	if s.d.totPages+n > s.d.maxPages {
		return hc.Errorf("populate_physmap", s.d.id, syscall.ENOMEM, "pfn %#x: over the domain's max_mem %d KiB", p.PFNs[0], s.d.maxPages*pageKB)
	}
	if n*pageKB > s.h.freeKB() {
		return hc.Errorf("populate_physmap", s.d.id, syscall.ENOMEM, "pfn %#x: the host has no more free memory", p.PFNs[0])
	}
	s.d.totPages += n
	return nil
}

func (s *simSink) TSC(savestream.TSCInfo) error { return nil }

func (s *simSink) Params(ps []savestream.HVMParam) error {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	for _, p := range ps {
		if p.Index >= hc.HVMParamCount {
			return fmt.Errorf("HVM param %d: Xen 4.17 has %d", p.Index, hc.HVMParamCount)
		}
		s.h.setParam(s.d, uint32(p.Index), p.Value)
	}
	return nil
}

func (s *simSink) HVMContext(ctx []byte) error {
	recs, err := pvh.ParseContext(ctx)
	if err != nil {
		return err
	}
	if _, ok := pvh.Find(recs, pvh.RecordHeader, 0); !ok {
		return fmt.Errorf("the HVM context has no header record")
	}
	return nil
}
