package qmp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
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
	return start(ctx, binary, sock, false, "", args...)
}

// StartDetached is Start for a device model: QEMU gets its own session and
// survives the command that started it; Stop (or KillBySocket) ends it.
func StartDetached(ctx context.Context, binary, sock string, args ...string) (*Process, error) {
	return start(ctx, binary, sock, true, "", args...)
}

// StartDetachedLogged is StartDetached with QEMU's output appended to the
// file log (the domain's qemu-dm log, as libxl keeps one), which outlives
// this process as QEMU does.
func StartDetachedLogged(ctx context.Context, binary, sock, log string, args ...string) (*Process, error) {
	return start(ctx, binary, sock, true, log, args...)
}

func start(ctx context.Context, binary, sock string, detached bool, log string, args ...string) (*Process, error) {
	os.Remove(sock)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return nil, err
	}
	all := append([]string{"-qmp", "unix:" + sock + ",server=on,wait=off"}, args...)
	cmd := exec.Command(binary, all...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	if log != "" {
		if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
			return nil, fmt.Errorf("qmp: log %s: %w", log, err)
		}
		lf, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("qmp: log %s: %w", log, err)
		}
		defer lf.Close() // QEMU has its own copy of the descriptor
		// a file, not a pipe: QEMU keeps writing after luxen exits
		cmd.Stdout, cmd.Stderr = lf, lf
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qmp: start %s: %w", binary, err)
	}
	p := &Process{Cmd: cmd, Socket: sock, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); close(p.exited) }()
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
			if log != "" {
				return nil, fmt.Errorf("qmp: %s exited before answering on QMP: %v: %s", binary, err, tail(log, 2048))
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

// KillBySocket stops the QEMU whose command line names sock (a device model
// started by another luxen process), if pid is still that QEMU. It reports
// whether it killed anything.
func KillBySocket(pid int, sock string) (bool, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		os.Remove(sock)
		return false, nil // gone already
	}
	if !strings.Contains(string(b), "unix:"+sock+",") {
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
