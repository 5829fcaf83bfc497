package xenlab

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// guestInit is PID 1 of the test guests. It prints a marker on the console
// (hvc0), then does what luxen_action= on the kernel command line says:
// stay (up until asked to power off or reboot), poweroff, reboot, crash
// (sysrq c), hang (ignore every shutdown request), devices (report the disk
// and network once), driver (be a block and network driver domain), reader
// (read its disks and ping the driver domain every second) or acpi (an HVM
// guest booted nopv: no PV drivers, no PV console; it reports on Xen's
// debug port 0xe9 and powers off on its ACPI power button).
const guestInit = `#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /sbin /usr/bin /usr/sbin /dev
/bin/busybox --install -s
mount -t proc proc /proc
mount -t devtmpfs dev /dev 2>/dev/null
mount -t sysfs sys /sys
for m in /lib/modules/*.ko; do [ -f "$m" ] && insmod "$m" 2>/dev/null; done
action=stay
for w in $(cat /proc/cmdline); do
  case $w in luxen_action=*) action=${w#luxen_action=};; esac
done
# e9 LINE: LINE on Xen's debug port (0xe9), which Xen prints in its own
# console (xl dmesg) as "(dN) LINE": a byte at a time, each an outb
e9() {
  s="$*
"
  while [ -n "$s" ]; do
    printf '%s' "${s%"${s#?}"}" | dd of=/dev/port bs=1 seek=233 count=1 2>/dev/null
    s=${s#?}
  done
}
# the guest type the kernel sees (PVH, or PV inside Xen's PV shim)
echo "LUXEN-GUEST-UP action=$action type=$(cat /sys/hypervisor/guest_type 2>/dev/null)"
case $action in
  acpi)
    # the fixed power button's events are counted in sysfs once the button
    # driver has enabled them; the count going up is the button pressed
    insmod /lib/modules/acpi/button.ko 2>/dev/null
    e9 "LUXEN-GUEST-UP action=acpi xenbus=$(ls /sys/bus/xen/devices 2>/dev/null | wc -l) button=$(ls /sys/firmware/acpi/interrupts/ff_pwr_btn 2>/dev/null)"
    ( while :; do
        read n rest < /sys/firmware/acpi/interrupts/ff_pwr_btn
        if [ "${n:-0}" != 0 ]; then e9 "LUXEN-ACPI-POWER-BUTTON"; poweroff -f; fi
        sleep 1
      done ) & ;;
  poweroff) poweroff -f ;;
  reboot) reboot -f ;;
  crash) echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
  hang) trap '' USR1 USR2 TERM INT; while :; do sleep 1; done ;;
  devices)
    for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/xvda ] && break; sleep 1; done
    echo "LUXEN-DISK: $(head -c 24 /dev/xvda 2>&1)"
    echo "LUXEN-NET: $(ls /sys/class/net | tr '\n' ' ')" ;;
  driver)
    # a driver domain: blkback serving a ramdisk whose first bytes are a
    # marker with this boot's nonce, netback whose vifs it brings up itself
    # with the link's address (what xl devd's vif script would do)
    echo 1 > /proc/sys/kernel/sysrq # so that a spec can crash it (xl sysrq D c)
    insmod /lib/modules/backend/brd.ko rd_nr=2 rd_size=4096
    insmod /lib/modules/backend/xen-blkback.ko
    insmod /lib/modules/backend/xen-netback.ko
    nonce=$(head -c 8 /proc/sys/kernel/random/uuid)
    for r in 0 1; do printf 'LUXEN-DRV-RAM%s-%s' $r $nonce | dd of=/dev/ram$r conv=notrunc 2>/dev/null; done
    sync
    echo "LUXEN-DRV-READY nonce=$nonce"
    ( while :; do
        for v in /sys/class/net/vif*; do
          [ -e "$v" ] || continue; v=${v##*/}
          ip link show $v | grep -q ',UP' || { ip link set $v up; ip addr add 10.99.0.1/24 dev $v; echo "LUXEN-DRV-VIF $v"; }
        done
        sleep 1
      done ) & ;;
  reader)
    # a frontend that reads its disk (past the page cache) and pings the
    # driver domain's end of its vif every second, for as long as it runs;
    # each read runs in the background so that a device gone mid-read
    # cannot stop the loop. A line "stop" on the console (a spec writes it
    # to the console's pty) quiesces it: the loop waits (at most 30 s) for
    # the reads under way and says LUXEN-QUIET, naming any still stuck; "go"
    # starts it again. The console is read by a process of its own with a
    # plain blocking read: read -t gives up mid-line at its deadline and the
    # bytes it took are lost, and a command must never be.
    mkdir -p /run/cmd
    ( exec </dev/console; while read cmd; do
        case "$cmd" in stop|go) echo "LUXEN-CMD $cmd"; : > /run/cmd/$cmd ;; esac
      done ) &
    ( n=0; quiet=0; while :; do
        if [ -e /run/cmd/stop ]; then
          rm -f /run/cmd/stop; quiet=1
          for i in $(seq 30); do
            live=; for p in $pids; do kill -0 $p 2>/dev/null && live="$live $p"; done; pids=$live
            [ -z "$pids" ] && break
            sleep 1
          done
          echo "LUXEN-QUIET${pids:+ stuck:$pids}"
        fi
        if [ -e /run/cmd/go ]; then rm -f /run/cmd/go; quiet=0; echo "LUXEN-GO"; fi
        sleep 1
        [ $quiet = 1 ] && continue
        n=$((n+1))
        # the reads still under way (a stop waits for them, not for pings)
        live=; for p in $pids; do kill -0 $p 2>/dev/null && live="$live $p"; done; pids=$live
        echo 3 > /proc/sys/vm/drop_caches
        for d in xvda xvdb xvdc; do
          if [ -b /dev/$d ]; then
            (m=$(dd if=/dev/$d bs=512 count=1 2>/dev/null | head -c 32 | tr -d '\0'); echo "LUXEN-READ $d $n ${m:-nothing}") &
            pids="$pids $!"
          elif [ $d = xvda ]; then
            echo "LUXEN-READ $d $n absent"
          fi
        done
        if ip link show eth0 >/dev/null 2>&1; then
          ip link show eth0 | grep -q ',UP' || { ip link set eth0 up; ip addr add 10.99.0.2/24 dev eth0; }
          (ping -c 1 -W 1 10.99.0.1 >/dev/null 2>&1 && echo "LUXEN-PING $n ok") &
        fi
      done ) & ;;
esac
# busybox poweroff/reboot (run by the kernel on a shutdown request) signal PID 1
trap 'echo LUXEN-GUEST-POWEROFF; poweroff -f' USR2
trap 'echo LUXEN-GUEST-REBOOT; reboot -f' TERM
n=0
while :; do
  sleep 2; n=$((n+1)); echo "LUXEN-GUEST-TICK $n"
  # what a distribution's udev rule does: a vCPU the toolstack made
  # available (Linux makes it present) is brought online; one taken away
  # the kernel takes down itself (vcpu-set)
  for f in /sys/devices/system/cpu/cpu[1-9]*/online; do
    [ -f "$f" ] && [ "$(cat $f)" = 0 ] && echo 1 > $f && echo "LUXEN-CPU-ONLINE $f"
  done
done
`

// GuestInitrd is a gzipped cpio with a static busybox, guestInit and the
// PV block and network frontend modules (Debian builds them as modules), and
// a driver domain's backend modules (blkback, netback, brd) apart.
func (l *Lab) GuestInitrd() ([]byte, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	t := fsTree{}
	t.file("bin/busybox", 0o755, bb)
	mods := filepath.Join(l.Root, "lib/modules", l.KV, "kernel/drivers")
	for _, m := range []string{"block/xen-blkfront.ko", "net/xen-netfront.ko"} {
		if b, err := os.ReadFile(filepath.Join(mods, m)); err == nil {
			t.file("lib/modules/"+filepath.Base(m), 0o644, b)
		}
	}
	// the ACPI button driver, loaded by luxen_action=acpi only
	b, err := os.ReadFile(filepath.Join(mods, "acpi/button.ko"))
	if err != nil {
		return nil, fmt.Errorf("guest initrd: the ACPI button driver: %w", err)
	}
	t.file("lib/modules/acpi/button.ko", 0o644, b)
	// a driver domain's (luxen_action=driver), loaded only there
	for _, m := range []string{"block/brd.ko", "block/xen-blkback/xen-blkback.ko", "net/xen-netback/xen-netback.ko"} {
		b, err := os.ReadFile(filepath.Join(mods, m))
		if err != nil {
			return nil, fmt.Errorf("guest initrd: the driver domain's module: %w", err)
		}
		t.file("lib/modules/backend/"+filepath.Base(m), 0o644, b)
	}
	t.file("init", 0o755, []byte(guestInit))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := t.writeCpio(zw); err != nil {
		return nil, err
	}
	zw.Close()
	return buf.Bytes(), nil
}

// HVMMarker is what HVMBootDisk's boot sector prints on port 0xe9, which Xen
// shows in `xl dmesg` as "(dN) LUXEN-HVM-MARKER".
const HVMMarker = "LUXEN-HVM-MARKER"

// HVMBootDisk is a 1 MiB raw disk whose MBR boot sector, once SeaBIOS has
// loaded it at 0x7c00 in real mode, writes HVMMarker and a newline to port
// 0xe9 and halts with interrupts off, for good:
//
//	xor ax,ax; mov ds,ax; cld; mov si,msg; mov dx,0xe9
//	next: lodsb; test al,al; jz done; out dx,al; jmp next
//	done: cli; hlt; jmp done
//	msg: db "LUXEN-HVM-MARKER", 10, 0
func HVMBootDisk() []byte {
	code := []byte{0x31, 0xc0, 0x8e, 0xd8, 0xfc, 0xbe, 0x17, 0x7c, 0xba, 0xe9, 0x00,
		0xac, 0x84, 0xc0, 0x74, 0x03, 0xee, 0xeb, 0xf8, 0xfa, 0xf4, 0xeb, 0xfc}
	img := make([]byte, 1<<20)
	n := copy(img, code)
	copy(img[n:], HVMMarker+"\n\x00")
	img[510], img[511] = 0x55, 0xaa
	return img
}

// LinuxHVMDisk is a raw disk an HVM guest boots Linux from through SeaBIOS:
// a FAT file system over the whole disk (no partition table) whose boot
// sector is SYSLINUX's, with the lab's kernel, the guest initrd and a
// syslinux.cfg that boots them with the command line given. It is made in
// a file with mkfs.vfat, syslinux --install and mcopy (Debian's dosfstools,
// syslinux and mtools): nothing is mounted.
func (l *Lab) LinuxHVMDisk(initrd []byte, cmdline string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "luxen-hvmdisk-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	kernel := filepath.Join(l.Root, "boot", "vmlinuz-"+l.KV)
	kst, err := os.Stat(kernel)
	if err != nil {
		return nil, err
	}
	rd := filepath.Join(dir, "initrd.gz")
	cfg := filepath.Join(dir, "syslinux.cfg")
	img := filepath.Join(dir, "disk.img")
	if err := os.WriteFile(rd, initrd, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfg, []byte("DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.gz "+cmdline+"\n"), 0o644); err != nil {
		return nil, err
	}
	// room for both files and the file system, in whole MiB
	size := (kst.Size()+int64(len(initrd)))/(1<<20) + 4
	f, err := os.Create(img)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(size << 20)
	f.Close()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	mkfs := "mkfs.vfat"
	if _, err := exec.LookPath(mkfs); err != nil {
		mkfs = "/usr/sbin/mkfs.vfat"
	}
	for _, c := range [][]string{
		{mkfs, "-n", "LUXENHVM", img},
		{"syslinux", "--install", img},
		{"mcopy", "-i", img, kernel, "::vmlinuz"},
		{"mcopy", "-i", img, rd, cfg, "::"},
	} {
		if _, err := run(ctx, "", c[0], c[1:]...); err != nil {
			return nil, fmt.Errorf("xenlab: Linux HVM disk: %w", err)
		}
	}
	return os.ReadFile(img)
}

// TinyMarker is what TinyPVHKernel prints on port 0xe9, which Xen shows in
// `xl dmesg` as "(dN) LUXEN-TINY-MARKER".
const TinyMarker = "LUXEN-TINY-MARKER"

// TinyPVHKernel is the smallest PVH guest kernel: a 32-bit ELF (EM_386) with
// one loadable segment at 1 MiB and a XEN_ELFNOTE_PHYS32_ENTRY note naming
// it, whose code, entered in 32-bit protected mode with paging off (the
// PVH boot ABI), writes TinyMarker and a newline to port 0xe9 and halts
// with interrupts off for good. Xen takes its only vCPU going down so for a
// poweroff. A guest of it needs about 2 MiB.
//
//	mov esi, msg; mov dx, 0xe9
//	next: lodsb; test al, al; jz done; out dx, al; jmp next
//	done: cli; hlt; jmp done
//	msg: db "LUXEN-TINY-MARKER", 10, 0
func TinyPVHKernel() []byte {
	const (
		load     = 0x100000 // guest-physical address of the code
		codeOff  = 0x1000   // where the code is in the file
		ehdrSize = 52
		phdrSize = 32
		notePhys = 18 // XEN_ELFNOTE_PHYS32_ENTRY
	)
	code := []byte{0xbe, 0, 0, 0, 0, // mov esi, msg (patched below)
		0x66, 0xba, 0xe9, 0x00, // mov dx, 0xe9
		0xac,       // next: lodsb
		0x84, 0xc0, // test al, al
		0x74, 0x03, // jz done
		0xee,       // out dx, al
		0xeb, 0xf8, // jmp next
		0xfa,       // done: cli
		0xf4,       // hlt
		0xeb, 0xfc, // jmp done
	}
	le := binary.LittleEndian
	le.PutUint32(code[1:], load+uint32(len(code)))
	code = append(code, TinyMarker+"\n\x00"...)
	note := make([]byte, 20)
	le.PutUint32(note[0:], 4) // namesz: "Xen\0"
	le.PutUint32(note[4:], 4) // descsz
	le.PutUint32(note[8:], notePhys)
	copy(note[12:], "Xen\x00")
	le.PutUint32(note[16:], load)
	noteOff := uint32(ehdrSize + 2*phdrSize)
	b := make([]byte, codeOff+len(code))
	copy(b, "\x7fELF\x01\x01\x01") // ELFCLASS32, little-endian, version 1
	le.PutUint16(b[16:], 2)        // ET_EXEC
	le.PutUint16(b[18:], 3)        // EM_386
	le.PutUint32(b[20:], 1)        // EV_CURRENT
	le.PutUint32(b[24:], load)     // e_entry (Xen enters at the note's address)
	le.PutUint32(b[28:], ehdrSize) // e_phoff
	le.PutUint16(b[40:], ehdrSize)
	le.PutUint16(b[42:], phdrSize)
	le.PutUint16(b[44:], 2)
	phdr := func(i int, typ, off, addr, size, flags uint32) {
		p := b[ehdrSize+phdrSize*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], off)
		le.PutUint32(p[8:], addr)
		le.PutUint32(p[12:], addr)
		le.PutUint32(p[16:], size)
		le.PutUint32(p[20:], size)
		le.PutUint32(p[24:], flags)
		le.PutUint32(p[28:], 4)
	}
	phdr(0, 1, codeOff, load, uint32(len(code)), 5) // PT_LOAD, R+X
	phdr(1, 4, noteOff, 0, uint32(len(note)), 4)    // PT_NOTE, R
	copy(b[noteOff:], note)
	copy(b[codeOff:], code)
	return b
}
