//go:build linux

package hypercall

import (
	"fmt"
	"os"

	"luxen/bindings/pvh"
)

// buildHVM makes a created, paused HVM domain (with full emulation, see
// CreateConfig.DeviceModel) ready for its device model and then to run:
// hvmloader loaded as the "kernel", the BIOS as its start_info module named
// "firmware", the HVM info table, RAM around the VGA hole, the special
// pages and the ioreq server pages QEMU's ioreq server uses. It is
// libxenguest's HVM path (xg_dom_x86.c's meminit_hvm, alloc_magic_pages_hvm
// with a device model, bootlate_hvm, vcpu_hvm; xg_dom_hvmloader.c) with
// libxl's domain-wide settings (libxl_x86.c's hvm_set_conf_params,
// libxl_dom.c's hvm_build_set_params). hvmloader builds ACPI, SMBIOS and
// the MTRRs itself, so unlike buildPVH there are none here.
func (p *Privcmd) buildHVM(id uint32, spec BuildSpec) (BuildResult, error) {
	var res BuildResult
	fail := func(step string, err error) (BuildResult, error) {
		return res, fmt.Errorf("build HVM domain %d: %s: %w", id, step, err)
	}
	if spec.Firmware == "" || spec.BIOS == "" {
		return fail("firmware", fmt.Errorf("an HVM guest needs hvmloader and a BIOS (firmware %q, bios %q)", spec.Firmware, spec.BIOS))
	}
	fw, err := pvh.LoadFirmware(spec.Firmware)
	if err != nil {
		return fail("firmware", err)
	}
	bios, err := os.ReadFile(spec.BIOS)
	if err != nil {
		return fail("bios", err)
	}
	vcpus := int(max(spec.Vcpus, 1))
	lay := pvh.NewHVMLayout(spec.MemoryKB * 1024)
	info, err := lay.InfoPage(vcpus, vcpus)
	if err != nil {
		return fail("hvm info", err)
	}
	// segments after hvmloader, in libxenguest's order: the BIOS module,
	// then start_info
	biosAddr := roundPage(fw.High)
	siAddr := biosAddr + roundPage(uint64(len(bios)))
	si := pvh.FirmwareStartInfo(siAddr, biosAddr, uint64(len(bios)))
	if end := siAddr + roundPage(uint64(len(si))); end > lay.LowEnd {
		return fail("layout", fmt.Errorf("hvmloader, the BIOS and start_info need %d MiB of low memory; the guest has %d MiB",
			(end+1<<20-1)>>20, lay.LowEnd>>20))
	}

	if step, err := p.buildPre(id, vcpus, spec.MaxMemKB); err != nil {
		return fail(step, err)
	}
	// xl's defaults: hpet=1, vpt_align=1, timer_mode "no_delay_for_missed_ticks"
	// (no NESTEDHVM: Xen 4.17 takes nested virtualisation as a createdomain
	// flag and refuses the old param)
	if err := p.setParams(id, [][2]uint64{{hvmParamHPETEnabled, 1}, {hvmParamVPTAlign, 1}, {hvmParamTimerMode, 1},
		{hvmParamAltp2m, 0}}); err != nil {
		return fail("params", err)
	}
	if step, err := p.ringPorts(id, &res); err != nil {
		return fail(step, err)
	}

	for _, r := range lay.RAM() {
		if err := p.populateAt(id, r.Addr/pvh.PageSize, r.Size/pvh.PageSize, true); err != nil {
			return fail("memory", err)
		}
	}
	// the ioreq server pages sit right below the special pages: one run
	if err := p.populateAt(id, pvh.IOReqServerPFN, pvh.NrIOReqServerPages+pvh.SpecialPages, false); err != nil {
		return fail("special pages", err)
	}
	if err := p.setMemoryMap(id, pvh.E820Table(lay.MemoryMap())); err != nil {
		return fail("memory map", err)
	}

	writes := []pvh.Segment{
		{Addr: pvh.IOReqServerPFN * pvh.PageSize, Mem: (pvh.NrIOReqServerPages + pvh.SpecialPages) * pvh.PageSize}, // zeroed
		{Addr: pvh.IdentPTPFN * pvh.PageSize, Data: pvh.IdentPageTable(), Mem: pvh.PageSize},
		{Addr: pvh.HVMInfoPFN * pvh.PageSize, Data: info, Mem: pvh.PageSize},
		{Addr: biosAddr, Data: bios, Mem: uint64(len(bios))},
		{Addr: siAddr, Data: si, Mem: uint64(len(si))},
	}
	writes = append(writes, fw.Segments...)
	for _, s := range writes {
		if err := p.writeGuest(id, s); err != nil {
			return fail(fmt.Sprintf("writing guest memory at 0x%x", s.Addr), err)
		}
	}

	params := append(specialPageParams(res), [2]uint64{hvmParamIOReqServerPFN, pvh.IOReqServerPFN},
		[2]uint64{hvmParamNrIOReqServerPage, pvh.NrIOReqServerPages})
	if err := p.setParams(id, params); err != nil {
		return fail("hvm params", err)
	}

	// the boot vCPU enters hvmloader in 32-bit protected mode, start_info in ebx
	_, hdr, err := p.contextRecords(id)
	if err != nil {
		return fail("hvm context", err)
	}
	if err := p.setHVMContext(id, pvh.EncodeContext(hdr, pvh.BootCPU(fw.Entry, siAddr))); err != nil {
		return fail("boot vcpu", err)
	}
	if err := p.seedGrants(id); err != nil {
		return fail("grant table", err)
	}
	res.StoreGFN, res.ConsoleGFN = pvh.XenstorePFN, pvh.ConsolePFN
	return res, nil
}
