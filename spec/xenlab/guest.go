package xenlab

import (
	"bytes"
	"compress/gzip"
	"os"
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
esac
# busybox poweroff/reboot (run by the kernel on a shutdown request) signal PID 1
trap 'echo LUXEN-GUEST-POWEROFF; poweroff -f' USR2
trap 'echo LUXEN-GUEST-REBOOT; reboot -f' TERM
n=0
while :; do sleep 2; n=$((n+1)); echo "LUXEN-GUEST-TICK $n"; done
`

// GuestInitrd is a gzipped cpio with a static busybox and guestInit.
func GuestInitrd() ([]byte, error) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	t := fsTree{}
	t.file("bin/busybox", 0o755, bb)
	t.file("init", 0o755, []byte(guestInit))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := t.writeCpio(zw); err != nil {
		return nil, err
	}
	zw.Close()
	return buf.Bytes(), nil
}
