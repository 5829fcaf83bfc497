package simxen

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"time"

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
//
// A live save ("live", then "finish" once the guest has suspended) writes
// the same stream in two parts: the frames while the guest runs (one round:
// a simulated guest dirties no memory), the rest after its suspend.
func (h *Host) Save(_ context.Context, id uint32, spec hc.SaveSpec) (res hc.SaveResult, err error) {
	switch spec.Phase {
	case "", "live":
	case "finish", "abort":
		h.mu.Lock()
		ls := h.live[id]
		delete(h.live, id)
		h.mu.Unlock()
		if ls == nil {
			return res, hc.Errorf("save", id, syscall.EINVAL, "no live save of the domain is under way")
		}
		if spec.Phase == "abort" {
			ls.close(true)
			return res, nil
		}
		defer func() { ls.close(err != nil) }()
		params, err := h.savable(id, true)
		if err != nil {
			return res, err
		}
		h.saveEnd(ls.w, params)
		if err := ls.w.Flush(); err != nil {
			return res, hc.Errorf("save", id, hc.ErrnoOf(err), "%s: %v", ls.path, err)
		}
		ls.res.Bytes = uint64(ls.w.Offset())
		return ls.res, nil
	default:
		return res, hc.Errorf("save", id, syscall.EINVAL, "phase %q (\"\", live, finish or abort)", spec.Phase)
	}
	live := spec.Phase == "live"
	if _, err := h.savable(id, !live); err != nil {
		return res, err
	}
	h.mu.Lock()
	busy := h.live[id] != nil
	frames := h.doms[id].totPages
	h.mu.Unlock()
	if busy {
		return res, hc.Errorf("save", id, syscall.EBUSY, "a live save of the domain is under way")
	}
	f, err := os.OpenFile(spec.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res, hc.Errorf("save", id, hc.ErrnoOf(err), "%v", err)
	}
	ls := &simLiveSave{f: f, path: spec.Path, w: savestream.NewWriter(f)}
	defer func() {
		if err != nil || !live {
			ls.close(err != nil)
		}
	}()
	w := ls.w
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
		ls.res.PFNs += uint64(len(pfns))
	}
	if live {
		if err := w.Flush(); err != nil {
			return res, hc.Errorf("save", id, hc.ErrnoOf(err), "%s: %v", spec.Path, err)
		}
		ls.res.Bytes = uint64(w.Offset())
		h.mu.Lock()
		if h.live == nil {
			h.live = map[uint32]*simLiveSave{}
		}
		h.live[id] = ls
		h.mu.Unlock()
		go h.abortWhenGone(id, ls)
		return ls.res, nil
	}
	params, _ := h.savable(id, true)
	h.saveEnd(w, params)
	if err := w.Flush(); err != nil {
		return res, hc.Errorf("save", id, hc.ErrnoOf(err), "%s: %v", spec.Path, err)
	}
	ls.res.Bytes = uint64(w.Offset())
	h.logf("d%d saved to %s (%d frames)", id, spec.Path, frames)
	return ls.res, nil
}

// savable checks the domain can be saved (suspended: it has suspended
// itself; else it runs) and returns the params a save writes.
func (h *Host) savable(id uint32, suspended bool) ([]savestream.HVMParam, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("save", id)
	if err != nil {
		return nil, err
	}
	if !d.hvm {
		return nil, hc.Errorf("save", id, syscall.EOPNOTSUPP, "a PV domain: luxen saves HVM containers (PVH) only")
	}
	if suspended && (!d.shutdown || d.reason != hc.Suspend) {
		return nil, hc.Errorf("save", id, syscall.EBUSY, "the domain has not suspended itself")
	}
	if !suspended && d.shutdown {
		return nil, hc.Errorf("save", id, syscall.EINVAL, "a live save needs a running domain; it has shut down (%s)", d.reason)
	}
	var params []savestream.HVMParam
	for _, i := range []uint32{hvmParamStorePFN, hvmParamConsolePFN} {
		if v := d.params[i]; v != 0 {
			params = append(params, savestream.HVMParam{Index: uint64(i), Value: v})
		}
	}
	return params, nil
}

// saveEnd writes what follows the frames: TSC info, HVM context and
// params, both streams' END.
func (h *Host) saveEnd(w *savestream.Writer, params []savestream.HVMParam) {
	w.TSCInfo(savestream.TSCInfo{KHz: simTSCKHz})
	w.Record(savestream.RecHVMContext, simContext())
	w.HVMParams(params)
	w.Record(savestream.RecEnd, nil)
	w.LibxlRecord(savestream.LibxlEnd, nil)
}

// abortWhenGone ends a live save whose stream is a pipe of a process that
// has died (a migration's sender killed between its calls). A real live
// save's stream dies with its process; a served host's would otherwise keep
// the pipe open, and the receiver would wait for the rest for ever.
func (h *Host) abortWhenGone(id uint32, ls *simLiveSave) {
	var pid, fd int
	if n, _ := fmt.Sscanf(ls.path, "/proc/%d/fd/%d", &pid, &fd); n != 2 {
		return
	}
	for {
		time.Sleep(100 * time.Millisecond)
		h.mu.Lock()
		current := h.live[id] == ls
		h.mu.Unlock()
		if !current {
			return
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			h.mu.Lock()
			if h.live[id] == ls {
				delete(h.live, id)
			}
			h.mu.Unlock()
			ls.close(true)
			h.logf("d%d: live save aborted: the process streaming it (pid %d) is gone", id, pid)
			return
		}
	}
}

// simLiveSave is a simulated live save between its calls.
type simLiveSave struct {
	f    *os.File
	path string
	w    *savestream.Writer
	res  hc.SaveResult
}

func (ls *simLiveSave) close(failed bool) {
	ls.f.Close()
	if failed {
		if st, err := os.Stat(ls.path); err == nil && st.Mode().IsRegular() {
			os.Remove(ls.path)
		}
	}
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
	sum, err := hc.RestoreStream(savestream.NewReader(f), sink, spec.HeaderRead)
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
	h         *Host
	d         *domain
	populated map[uint64]bool // as the real restore: a frame sent again is populated once
}

func (s *simSink) CPUPolicy(leaves, msrs []byte) error { return nil }

func (s *simSink) Pages(p savestream.PageData) error {
	if len(p.Data) > 0 {
		return hc.Errorf("restore", s.d.id, syscall.EOPNOTSUPP,
			"PAGE_DATA at pfn %#x carries page contents: a real guest's memory, which the simulated host cannot hold or run", p.PFNs[0])
	}
	n := uint64(0)
	if s.populated == nil {
		s.populated = map[uint64]bool{}
	}
	for i, t := range p.Types {
		if t != savestream.PageXTab && t != savestream.PageBroken && !s.populated[p.PFNs[i]] {
			s.populated[p.PFNs[i]] = true
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
