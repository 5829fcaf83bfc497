package qmp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// bounds the start. If QEMU exits first, its error is returned.
func Start(ctx context.Context, binary, sock string, args ...string) (*Process, error) {
	os.Remove(sock)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		return nil, err
	}
	all := append([]string{"-qmp", "unix:" + sock + ",server=on,wait=off"}, args...)
	cmd := exec.Command(binary, all...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
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

// limitedBuffer keeps the first 4 KiB of QEMU's stderr for error messages.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 4096 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }
