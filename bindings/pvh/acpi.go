package pvh

import (
	"encoding/binary"
)

// ACPI: a Linux PVH guest needs a minimal set of tables, or it finds no local
// APIC, falls back to the (unemulated) PIT and its timers never fire (Xen's
// docs/misc/pvh.pandoc: ACPI is how a PVH guest finds its hardware; libxl
// builds the same set with tools/libacpi). RSDP → RSDT/XSDT → FADT (→ FACS, DSDT) and MADT with one
// local APIC per vCPU; no \_S5, so poweroff halts the vCPUs and Xen shuts the
// domain down. Table formats: ACPI 5.0 specification.

// ACPIBase is where the tables go: the bottom of the MMIO hole, as libxl.
const ACPIBase = 0xfc000000

func putHeader(t []byte, sig string, rev byte) {
	copy(t[0:4], sig)
	binary.LittleEndian.PutUint32(t[4:], uint32(len(t)))
	t[8] = rev
	copy(t[10:16], "LUXEN ")
	copy(t[16:24], "LUXENPVH")
	binary.LittleEndian.PutUint32(t[24:], 1)
	copy(t[28:32], "LUXN")
	binary.LittleEndian.PutUint32(t[32:], 1)
}

func checksum(b []byte) byte {
	var s byte
	for _, x := range b {
		s += x
	}
	return -s
}

func sealTable(t []byte) { t[9] = 0; t[9] = checksum(t) }

// gas is a Generic Address Structure in system I/O space.
func gas(b []byte, bits byte, addr uint64) {
	b[0] = 1 // system I/O
	b[1] = bits
	b[2] = 0
	b[3] = 0
	binary.LittleEndian.PutUint64(b[4:], addr)
}

// ACPITables builds the tables for maxVcpus processors (at least vcpus),
// laid out from ACPIBase, every local APIC enabled. A vCPU beyond vcpus is
// one the guest may be given later (vcpu-set): Linux boots it, and takes it
// down again as soon as it reads its cpu/N/availability "offline" (its Xen
// cpu hotplug driver does at xenstore start), after which the toolstack can
// bring it back. A local APIC marked disabled instead gets no APIC id in
// Linux without ACPI processor objects and a hotplug event to announce it
// (which libacpi's DSDT has and these tables do not), and stays down for
// good: seen in the lab. It returns the bytes to place at ACPIBase and the
// RSDP's address.
func ACPITables(vcpus, maxVcpus int) (image []byte, rsdp uint64) {
	maxVcpus = max(maxVcpus, vcpus)
	const (
		offRSDP = 0x000
		offXSDT = 0x040
		offRSDT = 0x080
		offFACS = 0x0c0 // 64-byte aligned
		offDSDT = 0x100
		offFADT = 0x140
		offMADT = 0x280
	)
	madtLen := 44 + 8*maxVcpus
	image = make([]byte, offMADT+madtLen)
	at := func(off int) uint64 { return ACPIBase + uint64(off) }

	// MADT: PCAT_COMPAT, local APIC at the architectural address, one LAPIC per
	// vCPU with APIC id 2i (as Xen numbers them for HVM guests).
	madt := image[offMADT : offMADT+madtLen]
	putHeader(madt, "APIC", 3)
	binary.LittleEndian.PutUint32(madt[36:], 0xfee00000)
	binary.LittleEndian.PutUint32(madt[40:], 1)
	for i := 0; i < maxVcpus; i++ {
		e := madt[44+8*i:]
		e[0], e[1], e[2], e[3] = 0, 8, byte(i), byte(2*i)
		binary.LittleEndian.PutUint32(e[4:], 1) // enabled
	}
	sealTable(madt)

	// DSDT: a header and no code (no \_S5: poweroff halts instead)
	dsdt := image[offDSDT : offDSDT+36]
	putHeader(dsdt, "DSDT", 2)
	sealTable(dsdt)

	// FACS (no checksum)
	facs := image[offFACS : offFACS+64]
	copy(facs[0:4], "FACS")
	binary.LittleEndian.PutUint32(facs[4:], 64)
	facs[32] = 1 // version

	// FADT, revision 5 (268 bytes): not hardware-reduced; the PM1/GPE block
	// addresses libxl uses, no PM timer, no VGA, no CMOS RTC.
	fadt := image[offFADT : offFADT+268]
	putHeader(fadt, "FACP", 5)
	le := binary.LittleEndian
	le.PutUint32(fadt[36:], uint32(at(offFACS)))
	le.PutUint32(fadt[40:], uint32(at(offDSDT)))
	le.PutUint16(fadt[46:], 9)             // SCI_INT
	le.PutUint32(fadt[56:], 0xb000)        // PM1a_EVT_BLK
	le.PutUint32(fadt[64:], 0xb004)        // PM1a_CNT_BLK
	le.PutUint32(fadt[80:], 0xafe0)        // GPE0_BLK
	fadt[88], fadt[89], fadt[92] = 4, 2, 4 // PM1_EVT_LEN, PM1_CNT_LEN, GPE0_BLK_LEN
	le.PutUint16(fadt[109:], 1<<2|1<<5)    // IAPC_BOOT_ARCH: no VGA, no CMOS RTC
	le.PutUint32(fadt[112:], 1<<0|1<<2|1<<4|1<<5|1<<6|1<<8|1<<15)
	le.PutUint64(fadt[132:], at(offFACS)) // X_FIRMWARE_CTRL
	le.PutUint64(fadt[140:], at(offDSDT)) // X_DSDT
	gas(fadt[148:], 32, 0xb000)           // X_PM1a_EVT_BLK
	gas(fadt[172:], 16, 0xb004)           // X_PM1a_CNT_BLK
	gas(fadt[220:], 32, 0xafe0)           // X_GPE0_BLK
	sealTable(fadt)

	// XSDT and RSDT: FADT and MADT
	xsdt := image[offXSDT : offXSDT+36+16]
	putHeader(xsdt, "XSDT", 1)
	le.PutUint64(xsdt[36:], at(offFADT))
	le.PutUint64(xsdt[44:], at(offMADT))
	sealTable(xsdt)
	rsdt := image[offRSDT : offRSDT+36+8]
	putHeader(rsdt, "RSDT", 1)
	le.PutUint32(rsdt[36:], uint32(at(offFADT)))
	le.PutUint32(rsdt[40:], uint32(at(offMADT)))
	sealTable(rsdt)

	// RSDP, revision 2
	r := image[offRSDP : offRSDP+36]
	copy(r[0:8], "RSD PTR ")
	copy(r[9:15], "LUXEN ")
	r[15] = 2
	le.PutUint32(r[16:], uint32(at(offRSDT)))
	le.PutUint32(r[20:], 36)
	le.PutUint64(r[24:], at(offXSDT))
	r[8] = checksum(r[:20])
	r[32] = checksum(r[:36])
	return image, at(offRSDP)
}
