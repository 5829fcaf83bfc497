//go:build linux

package hypercall

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"luxen/bindings/pvh"
)

// buildPVH loads a Linux kernel into a created, paused HVM-container domain
// and makes it ready to unpause, in the order Xen's own toolstack does it:
//   - libxl__build_pre and libxl__build_hvm (tools/libs/light/libxl_dom.c, with
//     libxl__arch_domain_create of libxl_x86.c): the TSC mode, the paging
//     pool, the HVM params, the xenstore and console event channels;
//   - libxenguest's domain builder: the kernel, start_info and ramdisk
//     segments (tools/libs/guest/xg_dom_core.c's xc_dom_build_image), then
//     tools/libs/guest/xg_dom_x86.c's
//     meminit_hvm (RAM), alloc_magic_pages_hvm (the special pages and their
//     HVM params) and vcpu_hvm (MTRRs, the boot vCPU), and the grant table
//     seeded as xc_dom_gnttab_seed does;
//   - what the guest finds at its entry point, docs/misc/pvh.pandoc's PVH boot
//     ABI: start_info (command line, modules, the memory map, RSDP) in %ebx.
func (p *Privcmd) buildPVH(id uint32, spec BuildSpec) (BuildResult, error) {
	var res BuildResult
	fail := func(step string, err error) (BuildResult, error) {
		return res, fmt.Errorf("build domain %d: %s: %w", id, step, err)
	}
	k, err := pvh.LoadKernelCached(spec.Kernel, spec.CacheDir)
	if err != nil {
		return fail("kernel", err)
	}
	defer k.Close()
	// the modules: the ramdisk, or the PV shim's PV kernel and its ramdisk
	type module struct {
		data    []byte
		cmdline string
	}
	var mods []module
	if spec.Ramdisk != "" {
		b, err := os.ReadFile(spec.Ramdisk)
		if err != nil {
			return fail("ramdisk", err)
		}
		mods = append(mods, module{data: b})
	}
	for _, m := range spec.Modules {
		b, err := os.ReadFile(m.Path)
		if err != nil {
			return fail("module", err)
		}
		mods = append(mods, module{data: b, cmdline: m.Cmdline})
	}
	vcpus := int(max(spec.Vcpus, 1))
	memBytes := spec.MemoryKB * 1024
	acpi, rsdp := pvh.ACPITables(vcpus, max(int(spec.MaxVcpus), vcpus))
	mm := pvh.MemoryMap(memBytes, uint64(len(acpi)))
	siAddr := roundPage(k.High)
	// start_info first, the modules after it (libxenguest's segment order);
	// its size depends only on the count and command lines, not the addresses
	list := make([]pvh.Module, len(mods))
	for i, m := range mods {
		list[i] = pvh.Module{Size: uint64(len(m.data)), Cmdline: m.cmdline}
	}
	si, err := pvh.BuildStartInfo(siAddr, spec.Cmdline, rsdp, list, mm)
	if err != nil {
		return fail("start_info", err)
	}
	end := siAddr + uint64(len(si.Image))
	for i := range list {
		list[i].Addr = end
		end += roundPage(list[i].Size)
	}
	if len(list) > 0 {
		if si, err = pvh.BuildStartInfo(siAddr, spec.Cmdline, rsdp, list, mm); err != nil {
			return fail("start_info", err)
		}
	}
	if end > min(memBytes, pvh.MMIOHoleStart) {
		return fail("layout", fmt.Errorf("kernel, start info and modules need %d MiB of low memory; the guest has %d MiB",
			end>>20, memBytes>>20))
	}

	if step, err := p.buildPre(id, vcpus, spec.MaxMemKB); err != nil {
		return fail(step, err)
	}
	if err := p.setParams(id, [][2]uint64{{hvmParamTimerMode, 1}, {hvmParamAltp2m, 0}}); err != nil {
		return fail("params", err)
	}
	if step, err := p.ringPorts(id, &res); err != nil {
		return fail(step, err)
	}

	// memory: RAM, the ACPI pages, the special pages
	for _, r := range mm {
		if r.Type == pvh.E820RAM {
			if err := p.populateAt(id, r.Addr/pvh.PageSize, r.Size/pvh.PageSize, true); err != nil {
				return fail("memory", err)
			}
		}
	}
	if err := p.populateAt(id, pvh.ACPIBase/pvh.PageSize, roundPage(uint64(len(acpi)))/pvh.PageSize, false); err != nil {
		return fail("acpi pages", err)
	}
	if err := p.populateAt(id, pvh.SpecialPFN, pvh.SpecialPages, false); err != nil {
		return fail("special pages", err)
	}
	if err := p.setMemoryMap(id, pvh.E820Table(mm)); err != nil {
		return fail("memory map", err)
	}

	// contents
	writes := []pvh.Segment{{Addr: pvh.ACPIBase, Data: acpi, Mem: uint64(len(acpi))},
		{Addr: pvh.SpecialPFN * pvh.PageSize, Mem: pvh.SpecialPages * pvh.PageSize}, // zeroed
		{Addr: pvh.IdentPTPFN * pvh.PageSize, Data: pvh.IdentPageTable(), Mem: pvh.PageSize},
		{Addr: si.Addr, Data: si.Image, Mem: uint64(len(si.Image))}}
	writes = append(writes, k.Segments...)
	for i, m := range mods {
		writes = append(writes, pvh.Segment{Addr: list[i].Addr, Data: m.data, Mem: uint64(len(m.data))})
	}
	for _, s := range writes {
		if err := p.writeGuest(id, s); err != nil {
			return fail(fmt.Sprintf("writing guest memory at 0x%x", s.Addr), err)
		}
	}

	if err := p.setParams(id, specialPageParams(res)); err != nil {
		return fail("hvm params", err)
	}

	// the boot vCPU: MTRRs for every vCPU, then the BSP's registers last
	recs, hdr, err := p.contextRecords(id)
	if err != nil {
		return fail("hvm context", err)
	}
	for i := 0; i < vcpus; i++ {
		if m, ok := pvh.Find(recs, pvh.RecordMTRR, uint16(i)); ok {
			if err := p.setHVMContext(id, pvh.EncodeContext(hdr, pvh.WriteBackMTRR(m))); err != nil {
				return fail(fmt.Sprintf("mtrr of vcpu %d", i), err)
			}
		}
	}
	if err := p.setHVMContext(id, pvh.EncodeContext(hdr, pvh.BootCPU(k.Entry, si.Addr))); err != nil {
		return fail("boot vcpu", err)
	}

	// grant table: entry 0 gives dom0 the console ring, entry 1 the xenstore ring
	if err := p.seedGrants(id); err != nil {
		return fail("grant table", err)
	}
	res.StoreGFN, res.ConsoleGFN = pvh.XenstorePFN, pvh.ConsolePFN
	return res, nil
}

// buildPre makes the domain-wide settings libxl__build_pre makes for every
// HVM-container guest: the TSC mode and the paging pool. It names the step
// that failed.
func (p *Privcmd) buildPre(id uint32, vcpus int, maxMemKB uint64) (string, error) {
	if err := p.domctl("settscinfo", domctlSetTSCInfo, id, func(u unsafe.Pointer) {
		*(*domctlTSCInfo)(u) = domctlTSCInfo{}
	}, nil); err != nil {
		return "tsc", err
	}
	pool := uint64(4*(256*vcpus+int(maxMemKB>>10))) * 1024
	if err := p.domctl("set_paging_mempool_size", domctlSetPagingMempool, id, func(u unsafe.Pointer) {
		(*domctlPagingMempool)(u).Size = pool
	}, nil); err != nil {
		return "paging pool", err
	}
	return "", nil
}

// ringPorts allocates the xenstore and console event channels, for the
// daemons to bind later; it names the step that failed.
func (p *Privcmd) ringPorts(id uint32, res *BuildResult) (string, error) {
	var err error
	if res.StorePort, err = p.allocUnbound(id, 0); err != nil {
		return "store event channel", err
	}
	if res.ConsolePort, err = p.allocUnbound(id, 0); err != nil {
		return "console event channel", err
	}
	return "", nil
}

// specialPageParams tells Xen where the special pages are and which event
// channels the rings use (alloc_magic_pages_hvm), for PVH and HVM alike.
func specialPageParams(res BuildResult) [][2]uint64 {
	return [][2]uint64{
		{hvmParamStorePFN, pvh.XenstorePFN}, {hvmParamConsolePFN, pvh.ConsolePFN},
		{hvmParamBufIOReqPFN, pvh.BufIOReqPFN}, {hvmParamIOReqPFN, pvh.IOReqPFN},
		{hvmParamPagingRing, pvh.PagingPFN}, {hvmParamMonitorRing, pvh.AccessPFN},
		{hvmParamSharingRing, pvh.SharingPFN}, {hvmParamIdentPT, pvh.IdentPTPFN * pvh.PageSize},
		{hvmParamStoreEvtchn, uint64(res.StorePort)}, {hvmParamConsoleEvtchn, uint64(res.ConsolePort)},
	}
}

// setParams sets HVM params in order; setParam's error names the index.
func (p *Privcmd) setParams(id uint32, params [][2]uint64) error {
	for _, pr := range params {
		if err := p.setParam(id, uint32(pr[0]), pr[1]); err != nil {
			return err
		}
	}
	return nil
}

// contextRecords reads the domain's HVM context and its header record,
// which every setHVMContext must carry (cpuid is Xen's to fill in).
func (p *Privcmd) contextRecords(id uint32) ([]pvh.Record, pvh.Record, error) {
	ctx, err := p.hvmContext(id)
	if err != nil {
		return nil, pvh.Record{}, err
	}
	recs, err := pvh.ParseContext(ctx)
	if err != nil {
		return nil, pvh.Record{}, err
	}
	hdr, ok := pvh.Find(recs, pvh.RecordHeader, 0)
	if !ok {
		return nil, pvh.Record{}, fmt.Errorf("no header record")
	}
	return recs, hdr, nil
}

func roundPage(n uint64) uint64 { return (n + pvh.PageSize - 1) &^ (pvh.PageSize - 1) }

func (p *Privcmd) setParam(id, index uint32, value uint64) error {
	return p.withBuffer("hvm set_param", func(b []byte) error {
		*(*hvmParam)(unsafe.Pointer(&b[0])) = hvmParam{Domid: uint16(id), Index: index, Value: value}
		if _, e := p.hypercall(hcHVMOp, hvmopSetParam, addr(b)); e != 0 {
			return &Error{Op: fmt.Sprintf("hvm set_param %d", index), Domid: id, Errno: e}
		}
		return nil
	})
}

func (p *Privcmd) allocUnbound(id, remote uint32) (uint32, error) {
	var port uint32
	err := p.withBuffer("evtchn alloc_unbound", func(b []byte) error {
		a := (*evtchnAllocUnbound)(unsafe.Pointer(&b[0]))
		*a = evtchnAllocUnbound{Dom: uint16(id), RemoteDom: uint16(remote)}
		if _, e := p.hypercall(hcEventChannelOp, evtchnopAllocUnbound, addr(b)); e != 0 {
			return &Error{Op: "evtchn alloc_unbound", Domid: id, Errno: e}
		}
		port = a.Port
		return nil
	})
	return port, err
}

func (p *Privcmd) setMemoryMap(id uint32, e820 []byte) error {
	return p.withBuffer("set_memory_map", func(b []byte) error {
		copy(b[pageSize:], e820)
		*(*foreignMemoryMap)(unsafe.Pointer(&b[0])) = foreignMemoryMap{Domid: uint16(id),
			NrEntries: uint32(len(e820) / 20), Buffer: addr(b[pageSize:])}
		if _, e := p.hypercall(hcMemoryOp, xenmemSetMemoryMap, addr(b)); e != 0 {
			return &Error{Op: "set_memory_map", Domid: id, Errno: e}
		}
		return nil
	})
}

func (p *Privcmd) hvmContext(id uint32) ([]byte, error) {
	var out []byte
	err := p.domctl("gethvmcontext", domctlGetHVMContext, id, nil, func(d *domctl) {
		out = make([]byte, (*domctlHVMContext)(unsafe.Pointer(&d.U[0])).Size)
	})
	if err != nil {
		return nil, err
	}
	if len(out) > (bufPages-1)*pageSize {
		return nil, fmt.Errorf("hvm context of %d bytes does not fit a hypercall buffer", len(out))
	}
	err = p.withBuffer("gethvmcontext", func(b []byte) error {
		d := (*domctl)(unsafe.Pointer(&b[0]))
		*d = domctl{Cmd: domctlGetHVMContext, InterfaceVersion: DomctlInterfaceVersion, Domain: uint16(id)}
		*(*domctlHVMContext)(unsafe.Pointer(&d.U[0])) = domctlHVMContext{Size: uint32(len(out)), Buffer: addr(b[pageSize:])}
		if _, e := p.hypercall(hcDomctl, addr(b)); e != 0 {
			return &Error{Op: "gethvmcontext", Domid: id, Errno: e}
		}
		n := (*domctlHVMContext)(unsafe.Pointer(&d.U[0])).Size
		out = append([]byte(nil), b[pageSize:pageSize+int(n)]...)
		return nil
	})
	return out, err
}

func (p *Privcmd) setHVMContext(id uint32, ctx []byte) error {
	return p.withBuffer("sethvmcontext", func(b []byte) error {
		copy(b[pageSize:], ctx)
		d := (*domctl)(unsafe.Pointer(&b[0]))
		*d = domctl{Cmd: domctlSetHVMContext, InterfaceVersion: DomctlInterfaceVersion, Domain: uint16(id)}
		*(*domctlHVMContext)(unsafe.Pointer(&d.U[0])) = domctlHVMContext{Size: uint32(len(ctx)), Buffer: addr(b[pageSize:])}
		if _, e := p.hypercall(hcDomctl, addr(b)); e != 0 {
			return &Error{Op: "sethvmcontext", Domid: id, Errno: e}
		}
		return nil
	})
}

// populateAt backs n frames from pfn with memory; with super, 2 MiB extents
// are used where aligned.
func (p *Privcmd) populateAt(id uint32, pfn, n uint64, super bool) error {
	const perCall = (bufPages*pageSize - pageSize) / 8
	done := uint64(0)
	for done < n {
		order := uint32(0)
		if super && (pfn+done)%512 == 0 && n-done >= 512 {
			order = 9
		}
		size := uint64(1) << order
		cnt := min((n-done)/size, perCall)
		if order == 9 {
			// stay in superpages only while aligned runs last
			cnt = min(cnt, (n-done)/512)
		}
		extents := make([]uint64, cnt)
		for i := range extents {
			extents[i] = pfn + done + uint64(i)*size
		}
		got, err := p.populateExtents(id, extents, order)
		if err != nil {
			return err
		}
		done += got * size
		if got < cnt {
			if order == 9 {
				super = false // fall back to 4 KiB pages for the rest
				continue
			}
			return &Error{Op: "populate_physmap", Domid: id, Errno: syscall.ENOMEM,
				Msg: fmt.Sprintf("%d of %d KiB populated: the host has no more free memory", done*4, n*4)}
		}
	}
	return nil
}

// populateExtents is one XENMEM_populate_physmap of extents of 2^order
// frames each, at most a buffer's worth; it returns how many Xen populated.
func (p *Privcmd) populateExtents(id uint32, extents []uint64, order uint32) (uint64, error) {
	var got uint64
	err := p.withBuffer("populate_physmap", func(b []byte) error {
		*(*memoryReservation)(unsafe.Pointer(&b[0])) = memoryReservation{ExtentStart: addr(b[pageSize:]),
			NrExtents: uint64(len(extents)), ExtentOrder: order, Domid: uint16(id)}
		copy(unsafe.Slice((*uint64)(unsafe.Pointer(&b[pageSize])), len(extents)), extents)
		rc, e := p.hypercall(hcMemoryOp, xenmemPopulatePhysmap, addr(b))
		if e != 0 {
			return &Error{Op: "populate_physmap", Domid: id, Errno: e}
		}
		got = rc
		return nil
	})
	return got, err
}

// mapGuest maps n guest frames from pfn, read-write. Unmap with unix.Munmap.
func (p *Privcmd) mapGuest(id uint32, pfn, n uint64) ([]byte, error) {
	gfns := make([]uint64, n)
	for i := range gfns {
		gfns[i] = pfn + uint64(i)
	}
	return p.mapFrames(id, gfns, unix.PROT_READ|unix.PROT_WRITE)
}

// touchGuest runs fn, which reads or writes guest memory mapped through
// privcmd, turning a fault there into an error. Such memory can go from
// under the mapping (the domain destroyed while it is built, seen in the
// lab when a restart raced a destroy), and a fault in Go's memmove is
// otherwise fatal to the whole process and every other domain's work in it.
func touchGuest(id uint32, what string, fn func()) (err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			re, ok := r.(runtime.Error)
			if !ok {
				panic(r)
			}
			err = &Error{Op: what, Domid: id, Errno: syscall.EFAULT,
				Msg: "the domain's memory went away while it was written (destroyed meanwhile?): " + re.Error()}
		}
	}()
	fn()
	return nil
}

// writeGuest copies a segment into guest memory, zeroing the rest of it.
func (p *Privcmd) writeGuest(id uint32, s pvh.Segment) error {
	const chunk = 1024 // pages mapped at a time
	first := s.Addr / pageSize
	last := (s.Addr + s.Mem + pageSize - 1) / pageSize
	for base := first; base < last; base += chunk {
		n := min(chunk, last-base)
		mem, err := p.mapGuest(id, base, n)
		if err != nil {
			return err
		}
		// the part of the segment inside this window: data, then zeroes
		lo, hi := base*pageSize, (base+n)*pageSize
		from, to := max(lo, s.Addr), min(hi, s.Addr+s.Mem)
		dataEnd := s.Addr + uint64(len(s.Data))
		err = touchGuest(id, "write guest memory", func() {
			if from < min(to, dataEnd) {
				copy(mem[from-lo:], s.Data[from-s.Addr:min(to, dataEnd)-s.Addr])
			}
			if z := max(from, dataEnd); z < to {
				clear(mem[z-lo : to-lo])
			}
		})
		unix.Munmap(mem)
		if err != nil {
			return err
		}
	}
	return nil
}

// seedGrants writes the two reserved grant entries the console and xenstore
// daemons use to map the rings (xc_dom_gnttab_seed), at the rings' places
// in a guest luxen builds.
func (p *Privcmd) seedGrants(id uint32) error {
	return p.seedGrantsAt(id, pvh.ConsolePFN, pvh.XenstorePFN)
}

// seedGrantsAt seeds the grant entries for rings at the frames given (a
// restored guest's are where its builder put them).
func (p *Privcmd) seedGrantsAt(id uint32, consoleGFN, storeGFN uint64) error {
	mem, err := unix.Mmap(int(p.f.Fd()), 0, pageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap privcmd: %w", err)
	}
	defer unix.Munmap(mem)
	arg := privcmdMmapResource{Dom: uint16(id), Type: resourceGrantTable, ID: 0, Idx: 0, Num: 1,
		Addr: uint64(uintptr(unsafe.Pointer(&mem[0])))}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, p.f.Fd(), ioctlPrivcmdMmapResource, uintptr(unsafe.Pointer(&arg))); e != 0 {
		return fmt.Errorf("map the grant table (MMAP_RESOURCE): %w", e)
	}
	return touchGuest(id, "seed grant table", func() {
		copy(mem[0:], pvh.GrantEntryV1(0, uint32(consoleGFN)))
		copy(mem[8:], pvh.GrantEntryV1(0, uint32(storeGFN)))
	})
}
