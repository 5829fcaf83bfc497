package hypercall

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"luxen/bindings/pvh"
	"luxen/bindings/savestream"

	"golang.org/x/sys/unix"
)

// savedParams are the HVM params libxc's save writes (xg_sr_save_x86_hvm.c,
// write_hvm_params), each when it is not 0: the special pages and what the
// restored domain needs set before it runs.
var savedParams = []uint32{hvmParamStorePFN, hvmParamIOReqPFN, hvmParamBufIOReqPFN, hvmParamPagingRing,
	hvmParamMonitorRing, hvmParamSharingRing, hvmParamVM86TSSSized, hvmParamConsolePFN, hvmParamACPIIOPorts,
	hvmParamViridian, hvmParamIdentPT, hvmParamVMGenerationID, hvmParamIOReqServerPFN, hvmParamNrIOReqServerPage,
	hvmParamX87FIPWidth, hvmParamMCACap}

// Save writes a suspended HVM-container domain (PVH, or HVM without a
// device model's state) to spec.Path as xl's save file, as libxc's
// non-live save writes it: its CPU policy, every pfn up to the highest
// with its type and, for those with data, the page; TSC info, HVM context
// and params. A failure removes the partial file.
func (p *Privcmd) Save(ctx context.Context, id uint32, spec SaveSpec) (res SaveResult, err error) {
	switch spec.Phase {
	case "":
	case "live":
		return p.saveLive(id, spec)
	case "finish":
		return p.saveFinish(id)
	case "abort":
		return res, p.saveAbort(id)
	default:
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EINVAL, Msg: fmt.Sprintf("phase %q (\"\", live, finish or abort)", spec.Phase)}
	}
	info, err := p.DomainInfo(context.Background(), id)
	if err != nil {
		return res, err
	}
	if !info.HVM {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EOPNOTSUPP, Msg: "a PV domain: luxen saves HVM containers (PVH) only"}
	}
	if !info.Shutdown || info.ShutdownReason != Suspend {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EBUSY, Msg: "the domain has not suspended itself"}
	}
	ver, err := p.xenVersion()
	if err != nil {
		return res, err
	}
	f, err := os.OpenFile(spec.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res, fmt.Errorf("save: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("save: %s: %w", spec.Path, cerr)
		}
		if err != nil {
			os.Remove(spec.Path)
		}
	}()
	w := savestream.NewWriter(f)
	if err := p.saveStart(id, w, ver, spec.Config); err != nil {
		return res, err
	}
	if err := p.savePages(id, w, &res); err != nil {
		return res, err
	}
	if err := p.saveEnd(id, w); err != nil {
		return res, err
	}
	if err := w.Flush(); err != nil {
		return res, fmt.Errorf("save: %s: %w", spec.Path, err)
	}
	if err := f.Sync(); err != nil {
		return res, fmt.Errorf("save: %s: %w", spec.Path, err)
	}
	res.Bytes = uint64(w.Offset())
	return res, nil
}

// saveStart writes the stream up to the pages: xl's header with the
// config, libxl's and libxc's headers, the CPU policy.
func (p *Privcmd) saveStart(id uint32, w *savestream.Writer, ver Version, config []byte) error {
	w.XLHeader(savestream.XLHeader{MandatoryFlags: savestream.XLFlagJSON | savestream.XLFlagStreamV2, Config: config})
	w.LibxlHeader()
	w.LibxlRecord(savestream.LibxlLibxcContext, nil)
	w.LibxcHeaders(savestream.DomainHeader{Type: savestream.DomainX86HVM, XenMajor: uint32(ver.Major), XenMinor: uint32(ver.Minor)})
	leaves, msrs, err := p.cpuPolicy(id)
	if err != nil {
		return err
	}
	w.Record(savestream.RecX86CPUIDPolicy, leaves)
	w.Record(savestream.RecX86MSRPolicy, msrs)
	return w.Record(savestream.RecStaticDataEnd, nil)
}

// saveEnd writes the stream after the pages of a suspended domain: TSC
// info, HVM context and params, and both streams' END.
func (p *Privcmd) saveEnd(id uint32, w *savestream.Writer) error {
	tsc, err := p.tscInfo(id)
	if err != nil {
		return err
	}
	w.TSCInfo(tsc)
	hctx, err := p.hvmContext(id)
	if err != nil {
		return err
	}
	w.Record(savestream.RecHVMContext, hctx)
	var params []savestream.HVMParam
	for _, i := range savedParams {
		v, err := p.HVMParam(context.Background(), id, i)
		if err != nil {
			return err
		}
		if v != 0 {
			params = append(params, savestream.HVMParam{Index: uint64(i), Value: v})
		}
	}
	w.HVMParams(params)
	w.Record(savestream.RecEnd, nil)
	return w.LibxlRecord(savestream.LibxlEnd, nil)
}

// Resume is xc_domain_resume's cooperative path: a domain that suspended
// itself runs on in place, its suspend hypercall returning 1 ("cancelled"),
// so the guest keeps its devices and memory as they are. The return value
// is vCPU 0's rax in its HVM context; a guest without PV drivers made no
// such call and only needs the domain resumed.
func (p *Privcmd) Resume(_ context.Context, id uint32) error {
	info, err := p.DomainInfo(context.Background(), id)
	if err != nil {
		return err
	}
	if !info.Shutdown || info.ShutdownReason != Suspend {
		return &Error{Op: "resumedomain", Domid: id, Errno: syscall.EINVAL, Msg: "the domain is not suspended"}
	}
	if !info.HVM {
		return &Error{Op: "resumedomain", Domid: id, Errno: syscall.EOPNOTSUPP, Msg: "a PV domain: luxen resumes HVM containers (PVH) only"}
	}
	if cb, err := p.HVMParam(context.Background(), id, HVMParamCallbackIRQ); err != nil {
		return err
	} else if cb != 0 {
		hctx, err := p.hvmContext(id)
		if err != nil {
			return err
		}
		if err := setSuspendCancelled(hctx); err != nil {
			return &Error{Op: "resumedomain", Domid: id, Errno: syscall.EINVAL, Msg: err.Error()}
		}
		if err := p.setHVMContext(id, hctx); err != nil {
			return err
		}
	}
	return p.domctl("resumedomain", domctlResumeDomain, id, nil, nil)
}

// setSuspendCancelled sets rax of vCPU 0's CPU record (struct hvm_hw_cpu:
// rax follows the 512-byte FPU area) to 1 in an HVM context, in place.
func setSuspendCancelled(hctx []byte) error {
	for off := 0; off+8 <= len(hctx); {
		typ, inst := binary.LittleEndian.Uint16(hctx[off:]), binary.LittleEndian.Uint16(hctx[off+2:])
		n := int(binary.LittleEndian.Uint32(hctx[off+4:]))
		body := off + 8
		if body+n > len(hctx) {
			break
		}
		if typ == pvh.RecordCPU && inst == 0 && n >= 520 {
			binary.LittleEndian.PutUint64(hctx[body+512:], 1)
			return nil
		}
		if typ == 0 {
			break
		}
		off = body + n
	}
	return fmt.Errorf("no CPU record for vCPU 0 in the HVM context")
}

// savePages writes PAGE_DATA records for pfns 0 to the domain's highest,
// a batch of savestream.MaxPagesPerRecord at a time.
func (p *Privcmd) savePages(id uint32, w *savestream.Writer, res *SaveResult) error {
	maxPFN, err := p.maximumGPFN(id)
	if err != nil {
		return err
	}
	const batch = savestream.MaxPagesPerRecord
	pfns := make([]uint64, 0, batch)
	for base := uint64(0); base <= maxPFN; base += batch {
		pfns = pfns[:0]
		for pfn := base; pfn <= maxPFN && pfn < base+batch; pfn++ {
			pfns = append(pfns, pfn)
		}
		if err := p.writePages(id, w, pfns, res); err != nil {
			return err
		}
	}
	return nil
}

// writePages writes one PAGE_DATA record: the pfns (at most a batch) with
// their types, and the pages of those that have data.
func (p *Privcmd) writePages(id uint32, w *savestream.Writer, pfns []uint64, res *SaveResult) error {
	raw, err := p.pageTypes(id, pfns)
	if err != nil {
		return err
	}
	types := make([]savestream.PageType, len(pfns))
	var data []uint64
	for i, t := range raw {
		types[i] = savestream.PageType(t >> 28)
		if types[i].HasData() {
			data = append(data, pfns[i])
		}
	}
	if len(data) == 0 {
		if err := w.PageData(pfns, types, nil); err != nil {
			return err
		}
	} else {
		mem, err := p.mapFrames(id, data, unix.PROT_READ)
		if err != nil {
			return fmt.Errorf("save: %w", err)
		}
		// written from the mapping itself: no copy of the pages in between
		// (the writer's buffer takes what it keeps)
		var werr error
		err = touchGuest(id, "save", func() { werr = w.PageData(pfns, types, mem) })
		unix.Munmap(mem)
		if err != nil {
			return err
		}
		if werr != nil {
			return werr
		}
	}
	res.PFNs += uint64(len(pfns))
	res.Pages += uint64(len(data))
	return nil
}

// maximumGPFN is XENMEM_maximum_gpfn: the domain's highest frame number.
func (p *Privcmd) maximumGPFN(id uint32) (uint64, error) {
	var max uint64
	err := p.withBuffer("maximum_gpfn", func(b []byte) error {
		*(*uint16)(unsafe.Pointer(&b[0])) = uint16(id)
		r, e := p.hypercall(hcMemoryOp, xenmemMaximumGPFN, addr(b))
		if e != 0 {
			return &Error{Op: "maximum_gpfn", Domid: id, Errno: e}
		}
		max = r
		return nil
	})
	return max, err
}

// pageTypes is XEN_DOMCTL_getpageframeinfo3: each pfn's type
// (XEN_DOMCTL_PFINFO_*, in bits 28-31).
func (p *Privcmd) pageTypes(id uint32, pfns []uint64) ([]uint64, error) {
	out := make([]uint64, len(pfns))
	err := p.domctlBuf("getpageframeinfo3", domctlGetPageFrameInfo3, id, func(u unsafe.Pointer, b []byte) {
		arr := unsafe.Slice((*uint64)(unsafe.Pointer(&b[pageSize])), len(pfns))
		copy(arr, pfns)
		*(*domctlPageFrameInfo3)(u) = domctlPageFrameInfo3{Num: uint64(len(pfns)), Array: addr(b[pageSize:])}
	}, func(_ *domctl, b []byte) {
		copy(out, unsafe.Slice((*uint64)(unsafe.Pointer(&b[pageSize])), len(pfns)))
	})
	return out, err
}

// tscInfo is XEN_DOMCTL_gettscinfo.
func (p *Privcmd) tscInfo(id uint32) (savestream.TSCInfo, error) {
	var t savestream.TSCInfo
	err := p.domctl("gettscinfo", domctlGetTSCInfo, id, nil, func(d *domctl) {
		i := (*domctlTSCInfo)(unsafe.Pointer(&d.U[0]))
		t = savestream.TSCInfo{Mode: i.TSCMode, KHz: i.GTSCKHz, Nsec: i.ElapsedNsec, Incarnation: i.Incarnation}
	})
	return t, err
}

// cpuPolicy is XEN_DOMCTL_get_cpu_policy: the domain's CPUID leaves and
// MSRs, as the stream's X86_CPUID_POLICY and X86_MSR_POLICY records carry
// them (xen_cpuid_leaf_t and xen_msr_entry_t arrays).
func (p *Privcmd) cpuPolicy(id uint32) (leaves, msrs []byte, err error) {
	var nl, nm uint32
	err = p.domctl("get_cpu_policy", domctlGetCPUPolicy, id, nil, func(d *domctl) {
		c := (*domctlCPUPolicy)(unsafe.Pointer(&d.U[0]))
		nl, nm = c.NrLeaves, c.NrMSRs
	})
	if err != nil {
		return nil, nil, err
	}
	if (int(nl)*savestream.CPUIDLeafSize+int(nm)*savestream.MSREntrySize)+pageSize > bufPages*pageSize {
		return nil, nil, fmt.Errorf("get_cpu_policy: %d leaves and %d MSRs do not fit a hypercall buffer", nl, nm)
	}
	err = p.domctlBuf("get_cpu_policy", domctlGetCPUPolicy, id, func(u unsafe.Pointer, b []byte) {
		*(*domctlCPUPolicy)(u) = domctlCPUPolicy{NrLeaves: nl, NrMSRs: nm,
			Leaves: addr(b[pageSize:]), MSRs: addr(b[pageSize+int(nl)*savestream.CPUIDLeafSize:])}
	}, func(d *domctl, b []byte) {
		c := (*domctlCPUPolicy)(unsafe.Pointer(&d.U[0]))
		leaves = append([]byte(nil), b[pageSize:pageSize+int(c.NrLeaves)*savestream.CPUIDLeafSize]...)
		msrs = append([]byte(nil), b[pageSize+int(nl)*savestream.CPUIDLeafSize:pageSize+int(nl)*savestream.CPUIDLeafSize+int(c.NrMSRs)*savestream.MSREntrySize]...)
	})
	return leaves, msrs, err
}

// mapFrames maps the guest frames gfns, in order, into our address space
// (privcmd's mmap-then-MMAPBATCH_V2). Unmap with unix.Munmap.
func (p *Privcmd) mapFrames(id uint32, gfns []uint64, prot int) ([]byte, error) {
	mem, err := unix.Mmap(int(p.f.Fd()), 0, len(gfns)*pageSize, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap privcmd: %w", err)
	}
	errs := make([]int32, len(gfns))
	arg := privcmdMmapBatchV2{Num: uint32(len(gfns)), Dom: uint16(id), Addr: uint64(uintptr(unsafe.Pointer(&mem[0]))),
		Arr: uint64(uintptr(unsafe.Pointer(&gfns[0]))), Err: uint64(uintptr(unsafe.Pointer(&errs[0])))}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, p.f.Fd(), ioctlPrivcmdMmapBatchV2, uintptr(unsafe.Pointer(&arg)))
	// MMAPBATCH_V2 can succeed with some frames not mapped (their errors in
	// errs, the ioctl itself 0): touching one would fault
	for i, x := range errs {
		if x != 0 {
			unix.Munmap(mem)
			return nil, fmt.Errorf("map guest frame 0x%x: %w", gfns[i], syscall.Errno(-x))
		}
	}
	if e != 0 {
		unix.Munmap(mem)
		return nil, fmt.Errorf("map guest frames 0x%x+%d: %w", gfns[0], len(gfns), e)
	}
	return mem, nil
}
