// Package xenlab boots a real Xen 4.17 host under QEMU (software emulation)
// and runs a script in its dom0: Debian's hypervisor, a Linux PV dom0 with the
// real xenstored, xenconsoled and xl, built into an initrd here. It is how
// luxen's real-Xen specs run from a fresh clone; packages are fetched with
// apt-get download and cached.
package xenlab

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Lab is a prepared package cache.
type Lab struct {
	Cache string // where downloads and the unpacked packages live
	Root  string // the unpacked packages
	KV    string // the Linux kernel ABI (6.1.0-NN-amd64)
	Logf  func(format string, a ...any)
}

// packages are Debian's, as the shared xenlab recipe uses them.
func packages(kv string) []string {
	return []string{"xen-hypervisor-4.17-amd64", "xen-utils-4.17", "xen-utils-common", "xenstore-utils",
		"libxenstore4", "libxenmisc4.17", "libxencall1", "libxendevicemodel1", "libxenevtchn1",
		"libxenforeignmemory1", "libxengnttab1", "libxenhypfs1", "libxentoolcore1", "libxentoollog1",
		"libyajl2", "linux-image-" + kv}
}

// DefaultCache is $LUXEN_XENLAB_CACHE, else ~/.cache/luxen/xenlab.
func DefaultCache() string {
	if c := os.Getenv("LUXEN_XENLAB_CACHE"); c != "" {
		return c
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, ".cache", "luxen", "xenlab")
}

func run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("xenlab: %s %s: %w\n%s", name, strings.Join(args, " "), err, out)
	}
	return out, nil
}

// Prepare makes sure QEMU and busybox are installed (installing them with
// apt-get when running as root) and that the Xen and kernel packages are
// downloaded and unpacked in the cache.
func Prepare(ctx context.Context, cache string, logf func(string, ...any)) (*Lab, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l := &Lab{Cache: cache, Root: filepath.Join(cache, "root"), Logf: logf}
	var missing []string
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		missing = append(missing, "qemu-system-x86")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		missing = append(missing, "busybox-static")
	}
	// HVM guests: Debian's Xen device model and the BIOS hvmloader hands
	// over to. They run in dom0, copied there with their libraries from this
	// machine's install (qemu-system-xen pulls in some forty libraries, which
	// apt resolves better than a list here could).
	if _, err := os.Stat(QEMUXen); err != nil {
		missing = append(missing, "qemu-system-xen")
	}
	if _, err := os.Stat(SeaBIOS); err != nil {
		missing = append(missing, "seabios")
	}
	// a Linux HVM guest's boot disk (LinuxHVMDisk): a FAT file system with
	// SYSLINUX, made in a file without mounting anything
	for _, t := range [][2]string{{"syslinux", "syslinux"}, {"mcopy", "mtools"}, {"mkfs.vfat", "dosfstools"}} {
		if _, err := exec.LookPath(t[0]); err != nil {
			if _, err := os.Stat("/usr/sbin/" + t[0]); err != nil {
				missing = append(missing, t[1])
			}
		}
	}
	if len(missing) > 0 {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("xenlab: install %s first (apt-get install %s)", strings.Join(missing, " and "), strings.Join(missing, " "))
		}
		logf("installing %s", strings.Join(missing, " "))
		if _, err := run(ctx, "", "apt-get", "update", "-qq"); err != nil {
			return nil, err
		}
		args := append([]string{"install", "-y", "-qq"}, missing...)
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("xenlab: apt-get install: %w\n%s", err, out)
		}
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	kvFile := filepath.Join(cache, "kv")
	if b, err := os.ReadFile(kvFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
		l.KV = string(bytes.TrimSpace(b))
	} else {
		// The kernel ABI moves with Debian's security updates: resolve it through
		// the metapackage rather than pinning it.
		kvRe := regexp.MustCompile(`Depends: linux-image-(\S+-amd64)\s*$`)
		find := func() string {
			out, _ := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
			for _, line := range strings.Split(string(out), "\n") {
				if m := kvRe.FindStringSubmatch(line); m != nil {
					return m[1]
				}
			}
			return ""
		}
		if l.KV = find(); l.KV == "" {
			run(ctx, "", "apt-get", "update", "-qq")
			l.KV = find()
		}
		if l.KV == "" {
			return nil, errors.New("xenlab: cannot resolve the kernel behind linux-image-amd64 (apt-cache depends)")
		}
		os.WriteFile(kvFile, []byte(l.KV+"\n"), 0o644)
	}
	done := filepath.Join(l.Root, ".done-"+l.KV)
	if _, err := os.Stat(done); err == nil {
		return l, nil
	}
	debs := filepath.Join(cache, "debs")
	os.MkdirAll(debs, 0o755)
	logf("downloading Xen 4.17 and linux-image-%s (once; cached in %s)", l.KV, cache)
	args := append([]string{"download"}, packages(l.KV)...)
	if _, err := run(ctx, debs, "apt-get", args...); err != nil {
		run(ctx, "", "apt-get", "update", "-qq") // the lists may be missing or old
		if _, err := run(ctx, debs, "apt-get", args...); err != nil {
			return nil, err
		}
	}
	ents, _ := os.ReadDir(debs)
	os.RemoveAll(l.Root)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".deb") {
			if _, err := run(ctx, "", "dpkg", "-x", filepath.Join(debs, e.Name()), l.Root); err != nil {
				return nil, err
			}
		}
	}
	return l, os.WriteFile(done, nil, 0o644)
}

// RunOptions say what to put into dom0 and what to run there.
type RunOptions struct {
	Files     map[string][]byte // extra files by path in dom0 (mode 0755)
	Script    string            // sh script run in dom0 once xenstored and xenconsoled are up
	Timeout   time.Duration     // whole boot; default 10 minutes
	MemMB     int               // host memory; default 4096
	SerialLog string            // where the serial console goes; default a temp file
	// ExportDisk, a host file, is dom0's /dev/vda (virtio, raw): what a
	// spec writes there comes back to the host (a save file, for Xen's
	// verify-stream-v2, which the lab's dom0 has no Python to run)
	ExportDisk string
}

// Result is what came back from dom0.
type Result struct {
	Output string        // the script's output (between the LAB-BEGIN/LAB-END markers)
	RC     int           // the script's exit status; 99 if it never finished
	Boot   time.Duration // until LAB-BEGIN
	Total  time.Duration
	// BootStalls counts boots killed for going quiet before the script
	// began (see bootStall)
	BootStalls int
	Serial     string // path of the serial log
}

const initScript = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts; mount -t devpts devpts /dev/pts
mount -t tmpfs tmp /tmp; mount -t tmpfs run /run
mkdir -p /run/xenstored /run/xen /var/lib/xen/dump
for m in xen-evtchn xen-privcmd xen-gntdev xen-gntalloc xenfs xen-blkback xen-netback loop \
  virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk; do
  [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko 2>/dev/null
done
mkdir -p /proc/xen; mount -t xenfs xenfs /proc/xen
xenstored --pid-file /run/xenstored.pid
xen-init-dom0 >/dev/null 2>&1
xenconsoled --log=guest --log-dir=/var/log/xen
echo LAB-BEGIN
sh /lab-run.sh
echo "LAB-END rc=$?"
poweroff -f
`

// Where Debian's libxl expects the device model and SeaBIOS; the same paths
// in dom0.
const (
	QEMUXen = "/usr/libexec/xen-qemu-system-i386"
	SeaBIOS = "/usr/share/seabios/bios-256k.bin"
)

// copyBinary adds a program to bin/ and the shared libraries it needs.
func (l *Lab) copyBinary(t fsTree, path string) error {
	return l.copyBinaryTo(t, path, "bin/"+filepath.Base(path))
}

// copyBinaryTo adds a program at dst (a path in dom0) with its libraries.
func (l *Lab) copyBinaryTo(t fsTree, path, dst string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	t.file(dst, 0o755, b)
	cmd := exec.Command("ldd", path)
	cmd.Env = append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(l.Root, "usr/lib/x86_64-linux-gnu"))
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("xenlab: ldd %s: %w", path, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/") {
			lib, err := os.ReadFile(f[2]) // follows the symlink
			if err != nil {
				return err
			}
			t.file("lib/x86_64-linux-gnu/"+f[0], 0o755, lib)
		}
	}
	return nil
}

// Run boots the host and runs opts.Script in dom0.
func (l *Lab) Run(ctx context.Context, opts RunOptions) (*Result, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Minute
	}
	if opts.MemMB == 0 {
		// ten guests at once (load_xen_spec) need ~1 GiB; ten xl creates
		// need ~100 MB each in dom0 (libxenguest holds the kernel in memory)
		opts.MemMB = 4096
	}
	work, err := os.MkdirTemp("", "xenlab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	t := fsTree{}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "run", "var/lib/xen", "var/log/xen", "lib/modules", "guest", "etc/xen"} {
		t.dir(d)
	}
	t.symlink("var/run", "/run")
	t.file("etc/xen/xl.conf", 0o644, nil)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return nil, err
	}
	t.file("bin/busybox", 0o755, bb)
	for _, b := range []string{"xl", "xenstored", "xen-init-dom0", "xenconsoled", "test-xenstore"} {
		if err := l.copyBinary(t, filepath.Join(l.Root, "usr/lib/xen-4.17/bin", b)); err != nil {
			return nil, err
		}
	}
	// xl save and xl restore run the stream through libxl's helper, which
	// libxl looks for in its own directory
	helper := "usr/lib/xen-4.17/bin/libxl-save-helper"
	if err := l.copyBinaryTo(t, filepath.Join(l.Root, helper), helper); err != nil {
		return nil, err
	}
	for _, b := range []string{"xenstore-read", "xenstore-write", "xenstore-ls", "xenstore-list", "xenstore-rm",
		"xenstore-watch", "xenstore-chmod", "xenstore-exists"} {
		if err := l.copyBinary(t, filepath.Join(l.Root, "usr/bin", b)); err != nil {
			return nil, err
		}
	}
	// xz(1) decodes with liblzma, as xl's libxenguest does: guest_spec times
	// it on the guest kernel's payload beside the creates (issue 16's cold
	// create); a machine without it just skips that line
	// (in usr/bin: busybox's own xz, which takes /bin, is another decoder)
	if _, err := os.Stat("/usr/bin/xz"); err == nil {
		if err := l.copyBinaryTo(t, "/usr/bin/xz", "usr/bin/xz"); err != nil {
			return nil, err
		}
	}
	if err := l.copyBinaryTo(t, QEMUXen, strings.TrimPrefix(QEMUXen, "/")); err != nil {
		return nil, err
	}
	for _, f := range []string{"usr/lib/xen-4.17/boot/hvmloader", "usr/lib/xen-4.17/boot/xen-shim"} {
		b, err := os.ReadFile(filepath.Join(l.Root, f))
		if err != nil {
			return nil, err
		}
		t.file(f, 0o644, b)
	}
	for src, dst := range map[string]string{"/lib64/ld-linux-x86-64.so.2": "lib64/ld-linux-x86-64.so.2",
		SeaBIOS: strings.TrimPrefix(SeaBIOS, "/"),
		// QEMU's data: the keymap `-vnc none` still reads (xl passes it), the
		// VGA BIOSes of stdvga and cirrus, and the option ROM that direct
		// kernel boot (-kernel) runs
		"/usr/share/qemu/keymaps/en-us":         "usr/share/qemu/keymaps/en-us",
		"/usr/share/seabios/vgabios-stdvga.bin": "usr/share/seabios/vgabios-stdvga.bin",
		"/usr/share/seabios/vgabios-cirrus.bin": "usr/share/seabios/vgabios-cirrus.bin",
		"/usr/share/qemu/linuxboot_dma.bin":     "usr/share/qemu/linuxboot_dma.bin",
		"/lib/x86_64-linux-gnu/libgcc_s.so.1":   "lib/x86_64-linux-gnu/libgcc_s.so.1"} { // xl aborts without libgcc_s
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		t.file(dst, 0o755, b)
	}
	mods := filepath.Join(l.Root, "lib/modules", l.KV, "kernel/drivers")
	for _, m := range []string{"xen/xen-evtchn", "xen/xen-privcmd", "xen/xen-gntdev", "xen/xen-gntalloc",
		"xen/xenfs/xenfs", "block/xen-blkback/xen-blkback", "net/xen-netback/xen-netback",
		"block/loop", // loop: file-backed disks go through loop devices
		// virtio's block driver: the export disk (RunOptions.ExportDisk)
		"virtio/virtio", "virtio/virtio_ring", "virtio/virtio_pci_modern_dev", "virtio/virtio_pci_legacy_dev",
		"virtio/virtio_pci", "block/virtio_blk",
		"block/brd"} { // brd: not loaded at boot; a spec's dom0 ramdisk (a driver domain's fallback)
		if b, err := os.ReadFile(filepath.Join(mods, m+".ko")); err == nil {
			t.file("lib/modules/"+filepath.Base(m)+".ko", 0o644, b)
		}
	}
	vmlinuz := filepath.Join(l.Root, "boot", "vmlinuz-"+l.KV)
	kb, err := os.ReadFile(vmlinuz)
	if err != nil {
		return nil, err
	}
	t.file("guest/vmlinuz", 0o644, kb) // the same kernel boots as a PV or PVH guest
	for p, b := range opts.Files {
		t.file(p, 0o755, b)
	}
	t.file("init", 0o755, []byte(initScript))
	t.file("lab-run.sh", 0o755, []byte(opts.Script))

	initrd := filepath.Join(work, "initrd.gz")
	f, err := os.Create(initrd)
	if err != nil {
		return nil, err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err := t.writeCpio(zw); err != nil {
		f.Close()
		return nil, err
	}
	zw.Close()
	f.Close()

	xen := filepath.Join(work, "xen")
	if err := gunzip(filepath.Join(l.Root, "boot", "xen-4.17-amd64.gz"), xen); err != nil {
		return nil, err
	}
	serial := opts.SerialLog
	if serial == "" {
		serial = filepath.Join(os.TempDir(), fmt.Sprintf("xenlab-%d.log", time.Now().UnixNano()))
	}
	sf, err := os.Create(serial)
	if err != nil {
		return nil, err
	}
	defer sf.Close()
	// TCG, not KVM: under KVM here Xen dies on a CET instruction. qemu64 with
	// SVM and nested paging gives Xen HAP, which PVH guests need.
	// LUXEN_LAB_XEN_ARGS adds to Xen's command line: a developer's way to
	// try a hypervisor option in the lab without editing the harness
	xenArgs := os.Getenv("LUXEN_LAB_XEN_ARGS")
	rctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	// LUXEN_LAB_ACCEL replaces "tcg" (e.g. "tcg,thread=single": one host
	// thread for both CPUs, no guest triple faults but 2-3x slower boots)
	accel := "tcg"
	if a := os.Getenv("LUXEN_LAB_ACCEL"); a != "" {
		accel = a
	}
	args := []string{"-accel", accel, "-cpu", "qemu64,+svm,+npt",
		"-m", strconv.Itoa(opts.MemMB), "-smp", "2", "-nographic", "-no-reboot", "-kernel", xen,
		"-append", strings.TrimSpace("console=com1 com1=115200 dom0_mem=1536M,max:1536M loglvl=all guest_loglvl=all conring_size=4M " + xenArgs),
		"-initrd", vmlinuz + " console=hvc0 earlyprintk=xen," + initrd}
	if opts.ExportDisk != "" {
		args = append(args, "-drive", "file="+opts.ExportDisk+",if=virtio,format=raw")
	}
	res, err := l.bootAgainOnStall(rctx, args, filepath.Join(work, "monitor.sock"), sf, serial)
	if err == nil && rctx.Err() != nil {
		err = fmt.Errorf("xenlab: timed out after %v (serial log %s)", opts.Timeout, serial)
	}
	return res, err
}

// bootAgainOnStall boots, and boots again (up to bootAttempts in all) when
// a boot stalls before the script begins.
func (l *Lab) bootAgainOnStall(ctx context.Context, args []string, monSock string, sf io.Writer, serial string) (*Result, error) {
	for stalls := 0; ; {
		res, stalled, err := l.boot(ctx, args, monSock, sf, serial)
		if stalled {
			stalls++
		}
		if !stalled || stalls == bootAttempts || ctx.Err() != nil {
			if res != nil {
				res.BootStalls = stalls
			}
			return res, err
		}
		fmt.Fprintf(sf, "XENLAB: booting again, attempt %d of %d\n", stalls+1, bootAttempts)
		if l.Logf != nil {
			l.Logf("xenlab: the emulated boot stalled (no serial output for %v before the script began); booting again (serial log %s)", bootStall, serial)
		}
	}
}

// A boot that prints nothing for bootStall before the script begins has
// hung in the emulator, not in anything of the project's: nothing of luxen
// runs before LAB-BEGIN. Twice in CI (2026-12-04) QEMU's two TCG threads
// spun at 100% with dom0's kernel silent, once right after
// "sched_clock: Marking stable" (a static-key flip that waits for the other
// vCPU). Such a boot is killed, the vCPUs' registers are written to the
// serial log for whoever chases it, and the lab boots once more; a boot
// takes 25-60 s and prints all the way, so 2 minutes of silence is no slow
// boot. A test that stalls after LAB-BEGIN is not retried.
var (
	bootStall    = 2 * time.Minute
	bootAttempts = 2
	qemuProgram  = "qemu-system-x86_64"
)

// boot runs QEMU once with the monitor on monSock, copying the serial
// console to sf; stalled says the boot was killed for going quiet before
// LAB-BEGIN.
func (l *Lab) boot(ctx context.Context, args []string, monSock string, sf io.Writer, serial string) (res *Result, stalled bool, err error) {
	os.Remove(monSock)
	sf = &lockedWriter{w: sf} // the serial copier and the stall watch both write
	qctx, kill := context.WithCancel(ctx)
	defer kill()
	cmd := exec.CommandContext(qctx, qemuProgram, append(args, "-monitor", "unix:"+monSock+",server=on,wait=off")...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	res = &Result{RC: 99, Serial: serial}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("xenlab: qemu: %w", err)
	}
	var lastLine atomic.Int64 // unix nanoseconds of the last serial line
	var begun atomic.Bool
	lastLine.Store(start.UnixNano())
	scanDone := make(chan struct{})
	var out strings.Builder
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		in := false
		for sc.Scan() {
			lastLine.Store(time.Now().UnixNano())
			line := strings.TrimRight(sc.Text(), "\r")
			fmt.Fprintln(sf, line)
			switch {
			case line == "LAB-BEGIN":
				in = true
				begun.Store(true)
				res.Boot = time.Since(start)
			case strings.HasPrefix(line, "LAB-END rc="):
				in = false
				res.RC, _ = strconv.Atoi(strings.TrimPrefix(line, "LAB-END rc="))
			case in:
				out.WriteString(line + "\n")
			}
		}
	}()
	waitDone, watchDone := make(chan struct{}), make(chan struct{})
	var stalledFlag atomic.Bool
	stall := bootStall
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(stall / 8)
		defer tick.Stop()
		for {
			select {
			case <-waitDone:
				return
			case <-tick.C:
				if begun.Load() || time.Since(time.Unix(0, lastLine.Load())) < stall {
					continue
				}
				stalledFlag.Store(true)
				fmt.Fprintf(sf, "XENLAB: no serial output for %v before LAB-BEGIN; the vCPUs:\n%s", stall, monitor(monSock, "info registers -a"))
				kill()
				return
			}
		}
	}()
	werr := cmd.Wait()
	close(waitDone)
	<-watchDone
	pw.Close()
	<-scanDone
	res.Output = out.String()
	res.Total = time.Since(start)
	if stalledFlag.Load() {
		return res, true, fmt.Errorf("xenlab: the boot stalled: no serial output for %v before the script began (serial log %s)", stall, serial)
	}
	if ctx.Err() != nil {
		return res, false, nil // the caller names its timeout
	}
	if res.RC == 99 && werr != nil {
		return res, false, fmt.Errorf("xenlab: qemu: %v (serial log %s)", werr, serial)
	}
	return res, false, nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// monitor sends one command to QEMU's human monitor and returns what it
// answered within a few seconds (or why it could not ask).
func monitor(sock, command string) string {
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return fmt.Sprintf("(QEMU's monitor: %v)\n", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\n", command)
	b, _ := io.ReadAll(c) // until the deadline: the monitor keeps the connection open
	return string(b) + "\n"
}

func gunzip(src, dst string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	o, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer o.Close()
	_, err = io.Copy(o, zr)
	return err
}
