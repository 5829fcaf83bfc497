//go:build linux

package hypercall

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"luxen/bindings/pvh"
	"luxen/bindings/savestream"
)

// Restore fills a created, paused HVM-container domain from an xl save file
// (or a migration stream), as libxl and libxc's restore do it
// (libxl__build_pre, then tools/libs/guest/xg_sr_restore.c with
// xg_sr_restore_x86_hvm.c): the TSC mode and paging pool, new xenstore and
// console event channels, the CPU policy, each saved frame populated and
// filled, TSC info, the HVM params (the rings' pages cleared, the new event
// channels set), the HVM context, and the grant table seeded for the rings.
// The domain's own memory map is not set again: libxl sets it only when it
// builds a guest, which reads it only at boot.
func (p *Privcmd) Restore(_ context.Context, id uint32, spec RestoreSpec) (RestoreResult, error) {
	var res RestoreResult
	fail := func(step string, err error) (RestoreResult, error) {
		var he *Error
		errno := syscall.EINVAL
		if errors.As(err, &he) {
			errno = he.Errno
		}
		return res, &Error{Op: "restore", Domid: id, Errno: errno, Msg: fmt.Sprintf("%s: %s: %v", spec.Path, step, err)}
	}
	f, err := os.Open(spec.Path)
	if err != nil {
		return fail("open", err)
	}
	defer f.Close()
	vcpus := int(max(spec.Vcpus, 1))
	if step, err := p.buildPre(id, vcpus, spec.MaxMemKB); err != nil {
		return fail(step, err)
	}
	if err := p.setParams(id, [][2]uint64{{hvmParamTimerMode, 1}, {hvmParamAltp2m, 0}}); err != nil {
		return fail("params", err)
	}
	var ports BuildResult
	if step, err := p.ringPorts(id, &ports); err != nil {
		return fail(step, err)
	}
	sink := &privcmdSink{p: p, id: id, ports: ports}
	sum, err := RestoreStream(savestream.NewReader(f), sink, spec.HeaderRead)
	if err != nil {
		return fail("stream", err)
	}
	if sink.storeGFN == 0 {
		return fail("stream", fmt.Errorf("no HVM_PARAM_STORE_PFN among the saved params: the guest has no xenstore ring"))
	}
	if err := p.seedGrantsAt(id, sink.consoleGFN, sink.storeGFN); err != nil {
		return fail("grant table", err)
	}
	res.BuildResult = BuildResult{StoreGFN: sink.storeGFN, StorePort: ports.StorePort,
		ConsoleGFN: sink.consoleGFN, ConsolePort: ports.ConsolePort}
	res.PFNs, res.Pages = sum.PFNs, sum.Pages
	return res, nil
}

// privcmdSink does what a restore stream asks (RestoreSink) to a domain.
type privcmdSink struct {
	p                    *Privcmd
	id                   uint32
	ports                BuildResult
	storeGFN, consoleGFN uint64
	// populated: frames backed already. A live migration sends a page
	// again each round it was dirtied; it is populated once, as libxc's
	// pfn_is_populated keeps it.
	populated map[uint64]bool
}

func (s *privcmdSink) CPUPolicy(leaves, msrs []byte) error {
	return s.p.setCPUPolicy(s.id, leaves, msrs)
}

// Pages backs each frame of a batch that is not absent or broken with a
// page (frame by frame, as libxc's populate_pfns does: the saved guest's
// layout is whatever it was) and copies in the pages that carry data.
func (s *privcmdSink) Pages(pd savestream.PageData) error {
	var alloc, data []uint64
	if s.populated == nil {
		s.populated = map[uint64]bool{}
	}
	for i, t := range pd.Types {
		if t == savestream.PageXTab || t == savestream.PageBroken {
			continue
		}
		if !s.populated[pd.PFNs[i]] {
			s.populated[pd.PFNs[i]] = true
			alloc = append(alloc, pd.PFNs[i])
		}
		if t.HasData() {
			data = append(data, pd.PFNs[i])
		}
	}
	if len(alloc) > 0 {
		if err := s.p.populateList(s.id, alloc); err != nil {
			return err
		}
	}
	if len(data) == 0 {
		return nil
	}
	mem, err := s.p.mapFrames(s.id, data, unix.PROT_READ|unix.PROT_WRITE)
	if err != nil {
		return err
	}
	defer unix.Munmap(mem)
	return touchGuest(s.id, "restore pages", func() { copy(mem, pd.Data) })
}

func (s *privcmdSink) TSC(t savestream.TSCInfo) error {
	return s.p.domctl("settscinfo", domctlSetTSCInfo, s.id, func(u unsafe.Pointer) {
		*(*domctlTSCInfo)(u) = domctlTSCInfo{TSCMode: t.Mode, GTSCKHz: t.KHz, Incarnation: t.Incarnation, ElapsedNsec: t.Nsec}
	}, nil)
}

// params sets the saved HVM params as handle_hvm_params does: the pages of
// the xenstore and console rings and of the ioreq servers are cleared (the
// guest sets its rings up afresh when it resumes), then the rings' new event
// channels are set (x86_hvm_stream_complete).
func (s *privcmdSink) Params(ps []savestream.HVMParam) error {
	for _, pr := range ps {
		if pr.Index >= HVMParamCount {
			return fmt.Errorf("HVM param %d: Xen 4.17 has %d", pr.Index, HVMParamCount)
		}
		switch pr.Index {
		case hvmParamStorePFN:
			s.storeGFN = pr.Value
		case hvmParamConsolePFN:
			s.consoleGFN = pr.Value
		}
		switch pr.Index {
		case hvmParamStorePFN, hvmParamConsolePFN, hvmParamIOReqPFN, hvmParamBufIOReqPFN:
			if err := s.p.writeGuest(s.id, pvh.Segment{Addr: pr.Value * pageSize, Mem: pageSize}); err != nil {
				return fmt.Errorf("clearing the page of HVM param %d (pfn %#x): %w", pr.Index, pr.Value, err)
			}
		}
		if err := s.p.setParam(s.id, uint32(pr.Index), pr.Value); err != nil {
			return err
		}
	}
	return s.p.setParams(s.id, [][2]uint64{{hvmParamStoreEvtchn, uint64(s.ports.StorePort)},
		{hvmParamConsoleEvtchn, uint64(s.ports.ConsolePort)}})
}

func (s *privcmdSink) HVMContext(ctx []byte) error {
	if len(ctx) > (bufPages-1)*pageSize {
		return fmt.Errorf("an HVM context of %d bytes does not fit a hypercall buffer", len(ctx))
	}
	return s.p.setHVMContext(s.id, ctx)
}

// setCPUPolicy is XEN_DOMCTL_set_cpu_policy with the stream's leaves and
// MSRs; Xen names the entry it refuses.
func (p *Privcmd) setCPUPolicy(id uint32, leaves, msrs []byte) error {
	if len(leaves)+len(msrs)+pageSize > bufPages*pageSize {
		return fmt.Errorf("set_cpu_policy: %d bytes of policy do not fit a hypercall buffer", len(leaves)+len(msrs))
	}
	return p.withBuffer("set_cpu_policy", func(b []byte) error {
		copy(b[pageSize:], leaves)
		copy(b[pageSize+len(leaves):], msrs)
		d := (*domctl)(unsafe.Pointer(&b[0]))
		*d = domctl{Cmd: domctlSetCPUPolicy, InterfaceVersion: DomctlInterfaceVersion, Domain: uint16(id)}
		c := (*domctlCPUPolicy)(unsafe.Pointer(&d.U[0]))
		*c = domctlCPUPolicy{NrLeaves: uint32(len(leaves) / savestream.CPUIDLeafSize),
			NrMSRs: uint32(len(msrs) / savestream.MSREntrySize), Leaves: addr(b[pageSize:]),
			MSRs: addr(b[pageSize+len(leaves):]), ErrLeaf: ^uint32(0), ErrSubleaf: ^uint32(0), ErrMSR: ^uint32(0)}
		if _, e := p.hypercall(hcDomctl, addr(b)); e != 0 {
			// Xen names the entry it refuses (~0: none of that kind)
			msg := ""
			if c.ErrLeaf != ^uint32(0) || c.ErrMSR != ^uint32(0) {
				msg = fmt.Sprintf("this host refuses the saved guest's CPUID leaf %#x/%#x, MSR %#x (~0: none)", c.ErrLeaf, c.ErrSubleaf, c.ErrMSR)
			}
			return &Error{Op: "set_cpu_policy", Domid: id, Errno: e, Msg: msg}
		}
		return nil
	})
}

// populateList backs each frame in pfns with a 4 KiB page.
func (p *Privcmd) populateList(id uint32, pfns []uint64) error {
	const perCall = (bufPages*pageSize - pageSize) / 8
	for len(pfns) > 0 {
		n := min(len(pfns), perCall)
		got, err := p.populateExtents(id, pfns[:n], 0)
		if err != nil {
			return err
		}
		if got < uint64(n) {
			return &Error{Op: "populate_physmap", Domid: id, Errno: syscall.ENOMEM,
				Msg: fmt.Sprintf("pfn %#x: the host (or the domain's max_mem) has no more memory", pfns[got])}
		}
		pfns = pfns[n:]
	}
	return nil
}
