package qmp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startQEMU runs a real QEMU (software emulation, paused, no disk) with an
// IDE CD-ROM drive and no medium.
func startQEMU(t *testing.T) *Process {
	t.Helper()
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
			t.Fatal("qemu-system-x86_64 is required but missing")
		}
		t.Skip("qemu-system-x86_64 not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, bin, filepath.Join(t.TempDir(), "qmp.sock"), "-accel", "tcg", "-M", "pc", "-S",
		"-nodefaults", "-display", "none", "-drive", "if=none,id=cd0,media=cdrom,readonly=on",
		"-device", "ide-cd,drive=cd0,id=cdrom0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

type blockInfo struct {
	Device   string `json:"device"`
	QDev     string `json:"qdev"`
	Inserted *struct {
		File string `json:"file"`
	} `json:"inserted"`
	TrayOpen bool `json:"tray_open"`
}

func queryBlock(t *testing.T, m *Monitor) blockInfo {
	t.Helper()
	ret, err := m.Execute(context.Background(), "query-block", nil)
	if err != nil {
		t.Fatal(err)
	}
	var bs []blockInfo
	json.Unmarshal(ret, &bs)
	for _, b := range bs {
		if strings.Contains(b.QDev, "cdrom0") {
			return b
		}
	}
	t.Fatalf("no cdrom0 in query-block: %s", ret)
	return blockInfo{}
}

func TestCDROMInsertAndEjectOnRealQEMU(t *testing.T) {
	p := startQEMU(t)
	m := p.Monitor
	if m.Greeting.QMP.Version.QEMU.Major < 5 {
		t.Fatalf("greeting: %+v", m.Greeting)
	}
	ctx := context.Background()
	if b := queryBlock(t, m); b.Inserted != nil {
		t.Fatalf("medium at start: %+v", b)
	}
	iso := filepath.Join(t.TempDir(), "disc.iso")
	os.WriteFile(iso, make([]byte, 1<<20), 0o644)
	trays := m.Events("DEVICE_TRAY_MOVED")
	if _, err := m.Execute(ctx, "blockdev-change-medium", map[string]any{"id": "cdrom0", "filename": iso, "format": "raw"}); err != nil {
		t.Fatal(err)
	}
	if b := queryBlock(t, m); b.Inserted == nil || b.Inserted.File != iso {
		t.Fatalf("after insert: %+v", b)
	}
	if _, err := m.Execute(ctx, "eject", map[string]any{"id": "cdrom0", "force": true}); err != nil {
		t.Fatal(err)
	}
	if b := queryBlock(t, m); b.Inserted != nil {
		t.Fatalf("after eject: %+v", b)
	}
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, _, err := trays.Next(ectx)
	if err != nil || ev.Name != "DEVICE_TRAY_MOVED" {
		t.Fatalf("tray event: %+v %v", ev, err)
	}
	// QEMU's own errors come back typed
	_, err = m.Execute(ctx, "eject", map[string]any{"id": "nosuch"})
	var qe *Error
	if !errors.As(err, &qe) || qe.Class != "DeviceNotFound" {
		t.Fatalf("bad device: %v", err)
	}
}

func TestThousandCommandsFromFiftyCallers(t *testing.T) {
	p := startQEMU(t)
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				ret, err := p.Monitor.Execute(context.Background(), "query-status", nil)
				if err != nil {
					errs <- err
					return
				}
				var st struct{ Status string }
				if json.Unmarshal(ret, &st); st.Status != "prelaunch" && st.Status != "paused" {
					errs <- errors.New("status " + string(ret))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := p.Monitor.Unknown(); n != 0 {
		t.Fatalf("%d replies matched no command", n)
	}
}

func TestQEMUKilledMidCommandFailsEveryCaller(t *testing.T) {
	p := startQEMU(t)
	var wg sync.WaitGroup
	results := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Monitor.Execute(context.Background(), "query-block", nil)
			results <- err
		}()
	}
	time.Sleep(5 * time.Millisecond)
	p.Cmd.Process.Kill()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("callers still waiting after QEMU died")
	}
	close(results)
	closed := 0
	for err := range results {
		if errors.Is(err, ErrClosed) {
			closed++
		} else if err != nil {
			t.Errorf("unexpected error %v", err)
		}
	}
	if closed == 0 {
		t.Log("every command finished before the kill")
	}
	if _, err := p.Monitor.Execute(context.Background(), "query-status", nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after death: %v", err)
	}
}

// fake runs a server that writes script and then holds the line.
func fake(t *testing.T, script string) net.Conn {
	a, b := net.Pipe()
	go func() {
		b.Write([]byte(script))
		buf := make([]byte, 4096)
		for {
			if _, err := b.Read(buf); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { a.Close(); b.Close() })
	return a
}

func TestBadPeers(t *testing.T) {
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 300*time.Millisecond)
	}
	for name, tc := range map[string]struct{ script, want string }{
		"never greets":   {"", "no greeting"},
		"garbage":        {"this is not json\n", "garbage from QEMU"},
		"not a greeting": {`{"return": {}}` + "\n", "did not greet"},
		"truncated":      {`{"QMP": {"version"`, "no greeting"},
	} {
		ctx, cancel := short()
		_, err := New(ctx, fake(t, tc.script))
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	// a reply with an unknown id is counted and ignored; a command QEMU never
	// answers times out on its own context
	greet := `{"QMP": {"version": {"qemu": {"major": 8, "minor": 0, "micro": 0}}, "capabilities": []}}` + "\n"
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		b.Write([]byte(greet))
		buf := make([]byte, 4096)
		n, _ := b.Read(buf) // qmp_capabilities
		var req struct{ ID string }
		json.Unmarshal(buf[:n], &req)
		b.Write([]byte(`{"return": {}, "id": "` + req.ID + `"}` + "\n"))
		b.Write([]byte(`{"return": {}, "id": "999"}` + "\n"))
		b.Read(buf) // a command we will not answer
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := New(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer tcancel()
	if _, err := m.Execute(tctx, "query-status", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered command: %v", err)
	}
	if m.Unknown() != 1 {
		t.Fatalf("unknown replies %d", m.Unknown())
	}
}

func FuzzMonitor(f *testing.F) {
	f.Add(`{"QMP": {"version": {"qemu": {"major": 8}}, "capabilities": []}}` + "\n" + `{"return": {}, "id": "1"}` + "\n" + `{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}}` + "\n")
	f.Add("{}\n\n{\"error\": {\"class\": \"X\", \"desc\": \"y\"}, \"id\": \"1\"}\n")
	f.Fuzz(func(t *testing.T, s string) {
		a, b := net.Pipe()
		go func() { b.Write([]byte(s)); b.Close() }()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		m, err := New(ctx, a)
		if err == nil {
			m.Close()
		}
		a.Close()
	})
}

// A medium QEMU could not open by path (here: unlinked after luxen opened
// it, as a chrooted QEMU cannot reach the ISO) goes in through add-fd:
// the descriptor travels as SCM_RIGHTS and the drive opens /dev/fdset/N.
func TestCDROMInsertByDescriptor(t *testing.T) {
	p := startQEMU(t)
	m := p.Monitor
	ctx := context.Background()
	iso := filepath.Join(t.TempDir(), "gone.iso")
	os.WriteFile(iso, make([]byte, 1<<20), 0o644)
	f, err := os.Open(iso)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	os.Remove(iso)
	if _, err := m.Execute(ctx, "blockdev-change-medium", map[string]any{"id": "cdrom0", "filename": iso, "format": "raw"}); err == nil {
		t.Fatal("QEMU opened a path that is gone: the test proves nothing")
	}
	ret, err := m.ExecuteWithFile(ctx, "add-fd", map[string]any{"opaque": "raw:" + iso}, f)
	if err != nil {
		t.Fatal(err)
	}
	var fd struct {
		FdsetID int `json:"fdset-id"`
		FD      int `json:"fd"`
	}
	if err := json.Unmarshal(ret, &fd); err != nil || fd.FD <= 0 {
		t.Fatalf("add-fd returned %s", ret)
	}
	dev := fmt.Sprintf("/dev/fdset/%d", fd.FdsetID)
	if _, err := m.Execute(ctx, "blockdev-change-medium", map[string]any{"id": "cdrom0", "filename": dev, "format": "raw",
		"read-only-mode": "read-only"}); err != nil {
		t.Fatal(err)
	}
	if b := queryBlock(t, m); b.Inserted == nil || b.Inserted.File != dev {
		t.Fatalf("after insert by descriptor: %+v", b)
	}
	// a monitor that is not a unix socket cannot carry one
	pr, pw := net.Pipe()
	defer pr.Close()
	defer pw.Close()
	other := &Monitor{conn: pw}
	if _, err := other.ExecuteWithFile(ctx, "add-fd", nil, f); err == nil || !strings.Contains(err.Error(), "unix socket") {
		t.Fatalf("add-fd over a pipe: %v", err)
	}
}

// A deprivileged device model's start: the socket bound here and passed as a
// descriptor, limits set, the log of the previous run kept; KillBySocket
// still knows the QEMU (its command line names no socket path) and leaves
// a process that does not hold the socket alone.
func TestStartPassedSocketWithLimits(t *testing.T) {
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
			t.Fatal("qemu-system-x86_64 is required but missing")
		}
		t.Skip("qemu-system-x86_64 not installed")
	}
	dir := t.TempDir()
	sock, log := filepath.Join(dir, "dm.qmp"), filepath.Join(dir, "qemu-dm.log")
	os.WriteFile(log, []byte("the run before\n"), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := StartWith(ctx, bin, sock, Options{Detached: true, Log: log, PassSocket: true,
		Rlimits: []Rlimit{{unix.RLIMIT_FSIZE, 256 << 10}, {unix.RLIMIT_CORE, 0}, {unix.RLIMIT_MEMLOCK, 0}}},
		"-accel", "tcg", "-M", "pc", "-S", "-nodefaults", "-display", "none")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	pid := p.Cmd.Process.Pid
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if strings.Contains(string(cmdline), sock) || !strings.Contains(string(cmdline), "fd=3") {
		t.Fatalf("QEMU's command line should name fd 3, not the socket: %q", cmdline)
	}
	if ret, err := p.Monitor.Execute(ctx, "query-status", nil); err != nil || !strings.Contains(string(ret), "prelaunch") {
		t.Fatalf("query-status over the passed socket: %s %v", ret, err)
	}
	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for _, want := range []string{`Max file size\s+262144\s+262144`, `Max core file size\s+0\s+0`, `Max locked memory\s+0\s+0`} {
		if !regexp.MustCompile(want).Match(limits) {
			t.Errorf("QEMU's limits lack %q:\n%s", want, limits)
		}
	}
	if old, _ := os.ReadFile(log + ".1"); string(old) != "the run before\n" {
		t.Errorf("the previous log was not kept as %s.1: %q", log, old)
	}
	p.Monitor.Close()
	if killed, err := KillBySocket(os.Getpid(), sock); killed || err != nil {
		t.Fatalf("KillBySocket took this test for the QEMU: %v %v", killed, err)
	}
	if !holdsSocket(pid, sock) {
		t.Fatal("holdsSocket does not see QEMU's listening socket")
	}
	if killed, err := KillBySocket(pid, sock); !killed || err != nil {
		t.Fatalf("KillBySocket of the QEMU: %v %v", killed, err)
	}
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("QEMU still runs after KillBySocket")
	}
}
