package xenlab

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
)

// guestInit is PID 1 of the test guests. It prints a marker on the console
// (hvc0), then does what luxen_action= on the kernel command line says:
// stay (up until asked to power off or reboot), poweroff, reboot, crash
// (sysrq c), or hang (ignore every shutdown request).
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
echo "LUXEN-GUEST-UP action=$action"
case $action in
  poweroff) poweroff -f ;;
  reboot) reboot -f ;;
  crash) echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger ;;
  hang) trap '' USR1 USR2 TERM INT; while :; do sleep 1; done ;;
  devices)
    for i in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/xvda ] && break; sleep 1; done
    echo "LUXEN-DISK: $(head -c 24 /dev/xvda 2>&1)"
    echo "LUXEN-NET: $(ls /sys/class/net | tr '\n' ' ')" ;;
esac
# busybox poweroff/reboot (run by the kernel on a shutdown request) signal PID 1
trap 'echo LUXEN-GUEST-POWEROFF; poweroff -f' USR2
trap 'echo LUXEN-GUEST-REBOOT; reboot -f' TERM
n=0
while :; do sleep 2; n=$((n+1)); echo "LUXEN-GUEST-TICK $n"; done
`

// GuestInitrd is a gzipped cpio with a static busybox, guestInit and the
// PV block and network frontend modules (Debian builds them as modules).
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
