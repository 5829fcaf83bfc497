package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// syncBuffer is a bytes.Buffer the progress line's goroutine and the test
// may both touch.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestProgressLineOnlyForLongWaits: a wait shorter than progressAfter leaves
// the terminal untouched; a longer one is shown with its seconds, and
// wiped when it is over and at the end.
func TestProgressLineOnlyForLongWaits(t *testing.T) {
	var w syncBuffer
	p := startProgressLine(&w, 10*time.Millisecond)
	p.Set("quick")
	time.Sleep(100 * time.Millisecond)
	p.Set("")
	time.Sleep(50 * time.Millisecond)
	if got := w.String(); got != "" {
		t.Fatalf("a wait of 0.1 s drew %q", got)
	}
	p.Set("slow")
	time.Sleep(progressAfter + 100*time.Millisecond)
	if got := w.String(); !strings.HasSuffix(got, "\r\x1b[Kslow (1s)") {
		t.Fatalf("a wait of over a second drew %q", got)
	}
	p.Set("")
	time.Sleep(50 * time.Millisecond)
	if got := w.String(); !strings.HasSuffix(got, "(1s)\r\x1b[K") {
		t.Fatalf("the line was not wiped when the wait ended: %q", got)
	}
	n := len(w.String())
	p.Close()
	p.Close()
	if got := w.String(); len(got) != n {
		t.Fatalf("Close of a wiped line wrote %q", got[n:])
	}
	var none *progressLine // not a terminal: nothing, and no panic
	none.Set("x")
	none.Close()
}

// openPty returns a pseudo-terminal's two ends, as a terminal the test can read.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m, s
}

// TestProgressOnATerminalOnly: a shutdown that waits for a guest that never
// answers shows what it waits for on a terminal's progress line, run here
// and through the supervisor alike, and wipes it before its error; with
// stderr not a terminal, only the error is printed.
func TestProgressOnATerminalOnly(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	cfg := tempFile(t, "deaf.cfg", "name = \"deaf\"\nmemory = 32\n")
	c.must("create", "--no-supervisor", cfg)
	hang := tempFile(t, "hang.lua", `assert(require("sim").guest(assert(require("domain").find("deaf")), "hang"))`)
	c.must("run", hang)

	check := func(where string) {
		t.Helper()
		out, tty, err := runOnPty(t, c.env, bin, "shutdown", "-w", "-t", "2", "deaf")
		if err == nil || !strings.Contains(tty, "did not shut down within 2s") {
			t.Fatalf("%s: shutdown -w of a deaf guest: %v\nterminal %q", where, err, tty)
		}
		if !strings.Contains(tty, "\r\x1b[Kwaiting for deaf to shut down (1s)") {
			t.Fatalf("%s: no progress line on the terminal: %q", where, tty)
		}
		if !strings.Contains(tty, "(1s)\r\x1b[K") || strings.Index(tty, "did not shut down") < strings.LastIndex(tty, "\r\x1b[K") {
			t.Fatalf("%s: the progress line was not wiped before the error: %q", where, tty)
		}
		if strings.Contains(out, "waiting") {
			t.Fatalf("%s: progress went to stdout: %q", where, out)
		}
		_, errs, err := c.run("shutdown", "-w", "-t", "2", "deaf")
		if err == nil || strings.Contains(errs, "waiting for") || strings.Contains(errs, "\x1b") {
			t.Fatalf("%s: without a terminal: %v, stderr %q", where, err, errs)
		}
	}
	check("in the CLI's own process")
	supervise(t, bin, c.env)
	check("through the supervisor")
}

// TestMigrateProgressOnATerminal: a migration whose receiver is slow to
// answer shows what it waits for on a terminal, and the migration then
// goes through.
func TestMigrateProgressOnATerminal(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	cfg := tempFile(t, "mp.cfg", "name = \"mp\"\nmemory = 32\n")
	c.must("create", "--no-supervisor", cfg)
	out, tty, err := runOnPty(t, c.env, bin, "migrate", "-s", "", "mp", "sleep 1.6; "+bin+" migrate-receive")
	if err != nil {
		t.Fatalf("migrate: %v\n%s%s", err, out, tty)
	}
	if !strings.Contains(tty, "\r\x1b[Kmigrate mp: waiting for the receiver (sleep 1.6; ") {
		t.Fatalf("no progress line on the terminal: %q", tty)
	}
	if !strings.Contains(out, "migrated mp to ") {
		t.Fatalf("migrate said: %q", out)
	}
}

// runOnPty runs bin with args and env, its stderr on a pseudo-terminal (where
// progress lines go) and its stdout on a pipe, and returns both once it has
// exited, with its exit error.
func runOnPty(t *testing.T, env []string, bin string, args ...string) (stdout, tty string, err error) {
	t.Helper()
	m, s := openPty(t)
	defer m.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, s
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var got bytes.Buffer
	io.Copy(&got, m) // ends with EIO once the child has exited
	return out.String(), got.String(), cmd.Wait()
}
