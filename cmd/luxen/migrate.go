package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"luxen/bindings/savestream"
	"luxen/toolstack"
)

// xl's migration protocol (tools/xl/xl_migrate.c): the receiver's banner,
// the stream (xl's save file format), the receiver's "ready" once it has
// restored the domain paused (a receiver that fails just exits), the
// sender's permission to go, and the receiver's report followed by a
// one-byte result (0: the guest runs there; else the receiver hands the
// domain back with a permission to go of its own). The messages after the
// banner are sent with their C string's NUL, as xl sends sizeof(message).
const (
	migrateBanner = "xl migration receiver ready, send binary domain data.\n"
	migrateReady  = "domain received, ready to unpause\x00"
	migrateGo     = "domain is yours, you are cleared to unpause\x00"
	migrateReport = "my copy unpause results are as follows\x00"
)

// readFixed reads msg from r, byte for byte, naming what it got instead.
func readFixed(r io.Reader, msg, what string) error {
	got := make([]byte, len(msg))
	n, err := io.ReadFull(r, got)
	if err != nil {
		return fmt.Errorf("migration: waiting for the %s: %w (got %q)", what, err, got[:n])
	}
	if !bytes.Equal(got, []byte(msg)) {
		return fmt.Errorf("migration: expected the %s %q, got %q", what, msg, got)
	}
	return nil
}

func readResult(r io.Reader, what string) (byte, error) {
	var b [1]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("migration: waiting for the %s's result: %w", what, err)
	}
	return b[0], nil
}

// migrateRune is the command that runs the receiver, as xl builds it: ssh
// to host by default, sshCommand instead of ssh with -s, and with -s ""
// host is the whole command.
func migrateRune(host string, sshSet bool, sshCommand string, debug bool) string {
	recv := "luxen migrate-receive"
	if debug {
		recv += " -d"
	}
	switch {
	case !sshSet:
		return "exec ssh " + host + " " + recv
	case sshCommand == "":
		return host
	default:
		return sshCommand + " " + host + " " + recv
	}
}

func cmdMigrate(g *globals, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ssh := fs.String("s", "", "")
	fs.Bool("e", false, "") // xl's: the receiver does not wait in the background; luxen's supervisor watches every domain
	debug := fs.Bool("debug", false, "")
	cfgFile := fs.String("C", "", "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if *cfgFile != "" {
		return usagef("-C (a config to send instead of the domain's) is not supported: luxen sends the config it keeps")
	}
	if len(pos) != 2 {
		return usagef("expected NAME HOST")
	}
	sshSet := false
	fs.Visit(func(f *flag.Flag) { sshSet = sshSet || f.Name == "s" })
	rune := migrateRune(pos[1], sshSet, *ssh, *debug)
	return inSession(g, func(ctx context.Context, s *session) error {
		return s.withRuntime("", nil, func(r *toolstack.Runtime) error {
			line := newProgressLine(g, os.Stderr)
			r.SetProgress(line.Set)
			defer line.Close()
			return migrateSend(ctx, r, pos[0], pos[1], rune, line.Set)
		})
	})
}

// migrateSend is the sender's side: the receiver started through the
// transport, the stream written to it while the guest runs, then xl's
// handshake, the source resumed if the receiver fails.
func migrateSend(ctx context.Context, r *toolstack.Runtime, name, host, rune string, progress func(string)) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pw.Close()
	widenPipe(pw)
	cmd := exec.CommandContext(ctx, "sh", "-c", rune)
	cmd.Stdin = pr
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		pr.Close()
		return err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		return fmt.Errorf("migration: starting %q: %w", rune, err)
	}
	pr.Close()
	defer cmd.Wait()
	out := bufio.NewReader(stdout)
	progress(fmt.Sprintf("migrate %s: waiting for the receiver (%s)", name, rune))
	err = readFixed(out, migrateBanner, "receiver's banner (from "+rune+")")
	progress("")
	if err != nil {
		pw.Close()
		return err
	}
	call := func(fn string, args ...lua.LValue) ([]lua.LValue, error) {
		res, err := r.Call(ctx, "commands", fn, args...)
		if err == nil && len(res) >= 2 && res[0] == lua.LNil {
			err = errors.New(lua.LVAsString(res[1]))
		}
		return res, err
	}
	// the stream goes to the transport through the pipe, by its path: the
	// hypervisor's save may be another process's (a served simulated host)
	path := fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), pw.Fd())
	res, err := call("migrate_send", lua.LString(name), lua.LString(path))
	if err != nil {
		pw.Close()
		return err
	}
	domid := res[0]
	back := func(why error) error {
		_, berr := call("migrate_back", domid, lua.LString(why.Error()))
		return berr
	}
	progress(fmt.Sprintf("migrate %s: waiting for %s to restore it", name, host))
	err = readFixed(out, migrateReady, "receiver's ready message")
	progress("")
	if err != nil {
		return back(fmt.Errorf("%w: the receiver could not restore the domain (its messages are above)", err))
	}
	if _, err := call("migrate_away", domid); err != nil {
		return back(err)
	}
	if _, err := pw.Write([]byte(migrateGo)); err != nil {
		return back(fmt.Errorf("migration: sending the permission to go: %w", err))
	}
	if err := readFixed(out, migrateReport, "receiver's report"); err != nil {
		return back(err)
	}
	if rc, err := readResult(out, "receiver's unpause"); err != nil || rc != 0 {
		if err == nil {
			// it hands the domain back with a permission to go of its own
			readFixed(out, migrateGo, "receiver's permission to go")
			err = fmt.Errorf("the receiver could not start the domain (result %d)", rc)
		}
		return back(err)
	}
	_, err = call("migrate_done", domid, lua.LString(host))
	return err
}

func cmdMigrateReceive(g *globals, args []string) error {
	fs := flag.NewFlagSet("migrate-receive", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Bool("e", false, "")
	fs.Bool("d", false, "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("migrate-receive takes no arguments: it is what luxen migrate (or xl migrate) runs on the target host")
	}
	return inSession(g, func(ctx context.Context, s *session) error {
		return s.withRuntime("", nil, func(r *toolstack.Runtime) error {
			// stdout is the protocol's: what the scripts print goes to stderr
			r.SetOutput(os.Stderr, os.Stderr)
			return migrateReceive(ctx, r, os.Stdin, os.Stdout)
		})
	})
}

// widenPipe makes a stream's pipe hold 1 MiB instead of 64 KiB: a batch of
// pages is 4 MiB, and with a small pipe sender and receiver take turns
// every 64 KiB. Best effort (a host may cap pipe sizes lower).
func widenPipe(f *os.File) {
	unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
}

// streamPath is a path the restore (maybe another process's: a served
// simulated host) can open to read the stream on in from where it is. A
// pipe's own /proc path does (sh -c gives one). A socket's does not (ssh
// may give one), so its bytes are passed on through a pipe, read up to
// libxl's END and checked on the way (savestream.ScanStream): after END
// come the sender's protocol messages, which are this side's to read.
// done closes what streamPath opened once the restore is over, and says
// whether the passing on failed.
func streamPath(in io.Reader) (path string, done func() error, err error) {
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeNamedPipe != 0 {
			return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()), func() error { return nil }, nil
		}
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return "", nil, err
	}
	widenPipe(pw)
	pumped := make(chan error, 1)
	go func() {
		_, err := savestream.ScanStream(io.TeeReader(in, pw))
		pw.Close()
		pumped <- err
	}()
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), pr.Fd()), func() error {
		pr.Close() // a restore that stopped early: the pump's writes fail, and it ends
		return <-pumped
	}, nil
}

// migrateReceive is the receiver's side: the stream restored from stdin
// (streamPath), then xl's handshake.
func migrateReceive(ctx context.Context, r *toolstack.Runtime, in io.Reader, out io.Writer) error {
	if _, err := io.WriteString(out, migrateBanner); err != nil {
		return err
	}
	path, pumped, err := streamPath(in)
	if err != nil {
		return err
	}
	res, err := r.Call(ctx, "commands", "migrate_receive", lua.LString(path))
	if err == nil && len(res) >= 2 && res[0] == lua.LNil {
		err = errors.New(lua.LVAsString(res[1]))
	}
	if perr := pumped(); err == nil && perr != nil {
		err = fmt.Errorf("migration stream: %w", perr)
	}
	if err != nil {
		// as xl's receiver: no ready message; the sender resumes its copy
		return fmt.Errorf("migration: receiving the domain: %w", err)
	}
	domid := res[0]
	if _, err := io.WriteString(out, migrateReady); err != nil {
		r.Call(ctx, "lifecycle", "destroy", domid)
		return err
	}
	report := func(ok bool) error {
		msg := migrateReport + "\x00"
		if !ok {
			msg = migrateReport + "\x01" + migrateGo // and the domain is the sender's again
		}
		_, err := io.WriteString(out, msg)
		return err
	}
	if err := readFixed(in, migrateGo, "sender's permission to go"); err != nil {
		r.Call(ctx, "lifecycle", "destroy", domid)
		return err
	}
	cres, err := r.Call(ctx, "commands", "migrate_commit", domid)
	if err == nil && len(cres) >= 2 && cres[0] == lua.LNil {
		err = errors.New(lua.LVAsString(cres[1]))
	}
	if err != nil {
		r.Call(ctx, "lifecycle", "destroy", domid)
		report(false)
		return fmt.Errorf("migration: starting the domain: %w", err)
	}
	fmt.Fprintf(os.Stderr, "migration: received as domid %s\n", strings.TrimSpace(lua.LVAsString(domid)))
	return report(true)
}
