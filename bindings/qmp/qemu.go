package qmp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process is a QEMU started with a QMP socket.
type Process struct {
	Cmd     *exec.Cmd
	Socket  string
	Monitor *Monitor
	exited  chan error
}

// Start runs QEMU (binary with args) with a QMP socket at sock and waits until
// it answers on QMP: readiness through the protocol, never a sleep. ctx
// bounds the start. If QEMU exits first, its error is returned. QEMU dies
// with this process (for tests); StartDetached makes one that outlives it.
func Start(ctx context.Context, binary, sock string, args ...string) (*Process, error) {
	return StartWith(ctx, binary, sock, Options{}, args...)
}

// StartDetached is Start for a device model: QEMU gets its own session and
// survives the command that started it; Stop (or KillBySocket) ends it.
func StartDetached(ctx context.Context, binary, sock string, args ...string) (*Process, error) {
	return StartWith(ctx, binary, sock, Options{Detached: true}, args...)
}

// StartDetachedLogged is StartDetached with QEMU's output appended to the
// file log (the domain's qemu-dm log, as libxl keeps one), which outlives
// this process as QEMU does.
func StartDetachedLogged(ctx context.Context, binary, sock, log string, args ...string) (*Process, error) {
	return StartWith(ctx, binary, sock, Options{Detached: true, Log: log}, args...)
}

// Options say how a QEMU is started.
type Options struct {
	Detached bool   // its own session, outliving this process
	Log      string // file its output goes to (the previous run's is kept as Log.1, ...)
	// PassSocket: this process binds the QMP socket and QEMU gets the
	// listening descriptor (fd 3, -chardev socket,fd=3), as libxl does for a
	// deprivileged QEMU (dm_restrict): QEMU never touches the path, and the
	// socket is there, with this process's owner and mode, before QEMU runs.
	PassSocket bool
	// Rlimits are set on QEMU once it is started (libxl's dm_restrict set:
	// file size, core, message queues, locks, locked memory).
	Rlimits []Rlimit
}

// An Rlimit is one resource limit, soft and hard alike.
type Rlimit struct {
	Resource int // unix.RLIMIT_*
	Limit    uint64
}

// keptLogs is how many earlier runs' logs StartWith keeps (libxl keeps 10).
const keptLogs = 10

// rotate moves log to log.1, log.1 to log.2, ... so that each run starts a
// new file: a size limit (RLIMIT_FSIZE) then counts one run's output, not
// every run's since the host was installed.
func rotate(log string) {
	if st, err := os.Stat(log); err != nil || st.Size() == 0 {
		return
	}
	for i := keptLogs - 1; i >= 1; i-- {
		os.Rename(fmt.Sprintf("%s.%d", log, i), fmt.Sprintf("%s.%d", log, i+1))
	}
	os.Rename(log, log+".1")
}

// StartWith is Start with options.
func StartWith(ctx context.Context, binary, sock string, o Options, args ...string) (*Process, error) {
	os.Remove(sock)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return nil, err
	}
	var all []string
	var listener *os.File
	if o.PassSocket {
		l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
		if err != nil {
			return nil, fmt.Errorf("qmp: listen %s: %w", sock, err)
		}
		l.SetUnlinkOnClose(false) // the socket is QEMU's from here on
		listener, err = l.File()
		l.Close()
		if err != nil {
			os.Remove(sock)
			return nil, fmt.Errorf("qmp: listen %s: %w", sock, err)
		}
		defer listener.Close() // QEMU has its own copy
		all = []string{"-chardev", "socket,id=luxen-qmp,fd=3,server=on,wait=off", "-mon", "chardev=luxen-qmp,mode=control"}
	} else {
		all = []string{"-qmp", "unix:" + sock + ",server=on,wait=off"}
	}
	all = append(all, args...)
	cmd := exec.Command(binary, all...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if o.Detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	if listener != nil {
		cmd.ExtraFiles = []*os.File{listener}
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if o.Log != "" {
		if err := os.MkdirAll(filepath.Dir(o.Log), 0o755); err != nil {
			return nil, fmt.Errorf("qmp: log %s: %w", o.Log, err)
		}
		rotate(o.Log)
		lf, err := os.OpenFile(o.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("qmp: log %s: %w", o.Log, err)
		}
		defer lf.Close() // QEMU has its own copy of the descriptor
		// a file, not a pipe: QEMU keeps writing after luxen exits
		cmd.Stdout, cmd.Stderr = lf, lf
	}
	if err := cmd.Start(); err != nil {
		os.Remove(sock)
		return nil, fmt.Errorf("qmp: start %s: %w", binary, err)
	}
	p := &Process{Cmd: cmd, Socket: sock, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); close(p.exited) }()
	// Go cannot set a child's limits between fork and exec, so they are set
	// at once after: QEMU has done nothing with its guest by then (a device
	// model starts with the domain paused), and the limits bind from here on.
	for _, r := range o.Rlimits {
		lim := unix.Rlimit{Cur: r.Limit, Max: r.Limit}
		if err := unix.Prlimit(cmd.Process.Pid, r.Resource, &lim, nil); err != nil {
			p.Kill()
			return nil, fmt.Errorf("qmp: %s: limit resource %d to %d: %w", binary, r.Resource, r.Limit, err)
		}
	}
	for {
		if _, err := os.Stat(sock); err == nil {
			m, err := Dial(ctx, sock)
			if err == nil {
				p.Monitor = m
				return p, nil
			}
		}
		select {
		case err := <-p.exited:
			if o.Log != "" {
				return nil, fmt.Errorf("qmp: %s exited before answering on QMP: %v: %s", binary, err, tail(o.Log, 2048))
			}
			return nil, fmt.Errorf("qmp: %s exited before answering on QMP: %v: %s", binary, err, stderr.String())
		case <-ctx.Done():
			p.Kill()
			return nil, fmt.Errorf("qmp: %s did not answer on QMP: %w", binary, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Kill stops QEMU at once and waits for it, closing the monitor.
func (p *Process) Kill() {
	if p.Monitor != nil {
		p.Monitor.Close()
	}
	if p.Cmd.Process != nil {
		syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
	}
	<-p.exited
	os.Remove(p.Socket)
}

// Exited is closed once QEMU has exited.
func (p *Process) Exited() <-chan error { return p.exited }

// tail is the last n bytes of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, _ := f.Stat()
	off := max(0, st.Size()-n)
	b := make([]byte, st.Size()-off)
	f.ReadAt(b, off)
	return strings.TrimSpace(string(b))
}

// limitedBuffer keeps the first 4 KiB of QEMU's stderr for error messages.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// holdsSocket reports whether process pid has the unix socket bound at path
// open (a QEMU that was given its QMP socket as a descriptor names no path
// on its command line): /proc/net/unix maps the path to socket inodes,
// /proc/PID/fd says which the process holds.
func holdsSocket(pid int, path string) bool {
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 8 && f[7] == path {
			inodes["socket:["+f[6]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if link, err := os.Readlink(dir + "/" + fd.Name()); err == nil && inodes[link] {
			return true
		}
	}
	return false
}

// KillBySocket stops the QEMU that serves QMP at sock (a device model started
// by another luxen process), if pid is still that QEMU: its command line
// names sock, or it holds the socket bound there. It reports
// whether it killed anything.
func KillBySocket(pid int, sock string) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		os.Remove(sock)
		return false, nil // gone already
	}
	if !strings.Contains(string(b), "unix:"+sock+",") && !holdsSocket(pid, sock) {
		os.Remove(sock)
		return false, nil // the pid was reused by something else: leave it alone
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return false, fmt.Errorf("qmp: kill %d: %w", pid, err)
	}
	for i := 0; i < 100; i++ { // reaped by its parent or init; wait for /proc to say so
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			break
		}
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if strings.Contains(string(st), ") Z ") {
			break // a zombie holds nothing
		}
		time.Sleep(10 * time.Millisecond)
	}
	os.Remove(sock)
	return true, nil
}
