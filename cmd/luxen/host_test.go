package main

// One host, one truth: what two shells with different environments, two
// supervisors, a mistyped XENSTORED_PATH and a guest that powers itself off
// did to a served host before the host owned its state (issue 12).

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// withEnv is env with one variable set (replacing it if present).
func withEnv(env []string, kv string) []string {
	name := kv[:strings.IndexByte(kv, '=')+1]
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if !strings.HasPrefix(e, name) {
			out = append(out, e)
		}
	}
	return append(out, kv)
}

// eventually waits for cond, failing the test with what after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// guestScript makes a simulated guest shut itself down: `run` it with the
// domain's name and poweroff, reboot or crash.
const guestScript = `
local sim, domain, luxen = require("sim"), require("domain"), require("luxen")
local id = assert(domain.find(luxen.args[1]))
assert(sim.guest(id, luxen.args[2]))
`

// TestAnotherStateDirectoryCannotDestroyARunningDomain: a reconcile run with
// another $LUXEN_STATE destroyed a running domain it had no record of.
func TestAnotherStateDirectoryCannotDestroyARunningDomain(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	cfg := tempFile(t, "web.cfg", "name = \"webA\"\nmemory = 64\n")
	c.must("create", "--no-supervisor", cfg)
	state := stateOf(t, bin, c.env)

	other := cli{t: t, bin: bin, env: withEnv(c.env, "LUXEN_STATE="+t.TempDir())}
	for _, cmd := range [][]string{{"reconcile"}, {"supervise"}, {"list"}} {
		_, errs, err := other.run(cmd...)
		if err == nil || !strings.Contains(errs, "this host keeps luxen's state in "+state) {
			t.Fatalf("%v with another LUXEN_STATE: %v %q", cmd, err, errs)
		}
	}
	if _, errs, err := c.run("--state", t.TempDir(), "reconcile"); err == nil || !strings.Contains(errs, "--state=") {
		t.Fatalf("reconcile with another --state: %v %q", err, errs)
	}
	if !regexpMatch(`(?m)^webA +1 +64 `, c.must("list")) {
		t.Fatal("webA is gone")
	}

	// its record lost: reconcile rebuilds it and destroys nothing
	recs, _ := filepath.Glob(filepath.Join(state, "domains", "*.json"))
	if len(recs) != 1 {
		t.Fatalf("records: %v", recs)
	}
	os.Remove(recs[0])
	if out := c.must("reconcile"); !strings.Contains(out, "webA (domid 1) had no record: rebuilt from xenstore") {
		t.Fatalf("reconcile said %q", out)
	}
	if !regexpMatch(`(?m)^webA +1 +64 +1 +-b---- `, c.must("list")) {
		t.Fatalf("webA after reconcile:\n%s", c.must("list"))
	}
	if _, err := os.Stat(recs[0]); err != nil {
		t.Fatalf("the record was not rebuilt: %v", err)
	}
	if out := c.must("reconcile"); !strings.Contains(out, "nothing to reconcile") {
		t.Fatalf("second reconcile: %q", out)
	}
	c.must("destroy", "webA")
}

// TestOneSupervisorPerHost: a second supervisor, started with another
// state directory, ran beside the first and removed its marker on exit.
func TestOneSupervisorPerHost(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	first := exec.Command(bin, "supervise")
	first.Env = c.env
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	eventually(t, "the first supervisor answers", func() bool {
		out, _, err := c.run("tasks")
		return err == nil && strings.Contains(out, "supervisor.run")
	})

	_, errs, err := c.run("supervise")
	want := "a supervisor already runs on this host: pid " + strconv.Itoa(first.Process.Pid) + " (uid " + strconv.Itoa(os.Geteuid()) + "), since "
	if err == nil || !strings.Contains(errs, want) {
		t.Fatalf("second supervise: %v %q, want %q", err, errs, want)
	}
	// the refused one did not take the marker with it
	if out, _, err := c.run("tasks"); err != nil || !strings.Contains(out, "supervisor.run") {
		t.Fatalf("tasks after the refused supervisor: %v %q", err, out)
	}
	// commands go to the running one: shutdown leaves the policy to it
	cfg := tempFile(t, "s.cfg", "name = \"s\"\nmemory = 32\n")
	if out, errs, err := c.run("create", cfg); err != nil || !strings.Contains(out, "created s") || strings.Contains(errs, "started a supervisor") {
		t.Fatalf("create beside a running supervisor: %v %q %q", err, out, errs)
	}
	c.must("shutdown", "-w", "s")
	b, _ := os.ReadFile(filepath.Join(stateOf(t, bin, c.env), "log", "s.log"))
	if n := strings.Count(string(b), "shut down: poweroff; action destroy"); n != 1 {
		t.Fatalf("the shutdown's policy was decided %d times:\n%s", n, b)
	}

	// killed with -9: its marker names a dead process, and the next takes over
	first.Process.Kill()
	first.Wait()
	if _, errs, err := c.run("tasks"); err == nil || !strings.Contains(errs, "no supervisor is running for this host") {
		t.Fatalf("tasks after kill -9: %v %q", err, errs)
	}
	next := exec.Command(bin, "supervise")
	next.Env = c.env
	if err := next.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { next.Process.Signal(os.Interrupt); next.Wait() })
	eventually(t, "the next supervisor answers", func() bool {
		out, _, err := c.run("tasks")
		return err == nil && strings.Contains(out, "supervisor.run")
	})
	logb, _ := os.ReadFile(filepath.Join(stateOf(t, bin, c.env), "log", "luxen.log"))
	if !strings.Contains(string(logb), "took over from pid "+strconv.Itoa(first.Process.Pid)) {
		t.Fatalf("the take-over is not logged:\n%s", logb)
	}
}

// TestANamedHostMustBeThere: a mistyped XENSTORED_PATH fell back to a
// throwaway embedded host, exit 0.
func TestANamedHostMustBeThere(t *testing.T) {
	bin := buildLuxen(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "LUXEN_STATE=", "LUXEN_HOST=", "XDG_STATE_HOME=")
	notSock := tempFile(t, "plain", "")
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"XENSTORED_PATH=/tmp/nonexistent.sock"}, []string{"list"}, "XENSTORED_PATH=/tmp/nonexistent.sock names no xenstored: stat /tmp/nonexistent.sock: no such file or directory"},
		{[]string{"XENSTORED_PATH=/tmp/nonexistent.sock"}, []string{"create", tempFile(t, "x.cfg", "name=\"x\"\n")}, "names no xenstored"},
		{[]string{"XENSTORED_PATH=" + notSock}, []string{"list"}, "is a xenstored, but no simulated hypervisor is served beside it"},
		{[]string{"LUXEN_HOST=xen", "XENSTORED_PATH="}, []string{"list"}, "LUXEN_HOST=xen: real Xen wanted, but stat /dev/xen/privcmd"},
		{[]string{"XENSTORED_PATH="}, []string{"--host", "kvm", "list"}, "--host kvm: unknown host"},
	} {
		e := env
		for _, kv := range tc.env {
			e = withEnv(e, kv)
		}
		cmd := exec.Command(bin, tc.args...)
		cmd.Env = e
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if err == nil || !strings.Contains(errb.String(), tc.want) || strings.Contains(out.String(), "Domain-0") {
			t.Errorf("%v %v: %v\nstdout %q\nstderr %q\nwant %q", tc.env, tc.args, err, out.String(), errb.String(), tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".local")); err == nil {
		t.Error("a state directory was written under $HOME for a host that is not there")
	}
	// nothing names a host: the embedded one, and the note says why
	c := cli{t: t, bin: bin, env: withEnv(withEnv(env, "XENSTORED_PATH="), "LUXEN_HOST=")}
	_, errs, err := c.run("create", tempFile(t, "e.cfg", "name = \"e\"\nmemory = 16\n"))
	if err != nil || !strings.Contains(errs, "an embedded simulated host, private to this process (no /dev/xen/privcmd, no XENSTORED_PATH)") {
		t.Fatalf("embedded create: %v %q", err, errs)
	}
}

// TestGuestShutdownsAreActedOnWithoutAnAdministrator: with no supervisor
// started by hand, a guest that powered itself off stayed shut down.
func TestGuestShutdownsAreActedOnWithoutAnAdministrator(t *testing.T) {
	bin := buildLuxen(t)
	env := serve(t, bin)
	c := cli{t: t, bin: bin, env: env}
	guest := tempFile(t, "guest.lua", guestScript)
	off := tempFile(t, "off.cfg", "name = \"off\"\nmemory = 32\non_poweroff = \"destroy\"\n")
	_, errs, err := c.run("create", off)
	m := regexp.MustCompile(`started a supervisor for this host \(pid (\d+), output in ([^)]+)\)`).FindStringSubmatch(errs)
	if err != nil || m == nil {
		t.Fatalf("create did not start a supervisor: %v %q", err, errs)
	}
	pid, _ := strconv.Atoi(m[1])
	rb := tempFile(t, "rb.cfg", "name = \"rb\"\nmemory = 32\non_reboot = \"restart\"\n")
	if _, errs, err := c.run("create", rb); err != nil || strings.Contains(errs, "started a supervisor") {
		t.Fatalf("second create: %v %q (a second supervisor?)", err, errs)
	}
	waitBooted := func(name string) {
		eventually(t, name+" boots", func() bool {
			out, _, err := c.run("run", tempFile(t, "b.lua", `local xs, d = require("xenstore"), require("domain")
				local id = d.find("`+name+`"); print(id and xs.read_or(d.path(id) .. "/control/feature-suspend", "") or "")`))
			return err == nil && strings.TrimSpace(out) == "1"
		})
	}
	waitBooted("off")
	waitBooted("rb")

	c.must("run", guest, "off", "poweroff")
	eventually(t, "off destroyed per on_poweroff", func() bool { return !strings.Contains(c.must("list"), "\noff ") })
	c.must("run", guest, "rb", "reboot")
	eventually(t, "rb back with a new domid", func() bool {
		return regexpMatch(`(?m)^rb +[3-9]\d* +32 +1 +-b---- `, c.must("list"))
	})
	c.must("destroy", "rb")

	// the supervisor was detached (its own session) and ends with its host
	if sid, err := unix.Getsid(pid); err != nil || sid != pid {
		t.Errorf("supervisor pid %d: session %d, %v; want a session of its own", pid, sid, err)
	}
	for _, p := range []string{stateOf(t, bin, env) + "/log/supervisor.out"} {
		if m[2] != p {
			t.Errorf("supervisor output in %s, want %s", m[2], p)
		}
	}
	serveStop(t, env)
	eventually(t, "the supervisor exits with its host", func() bool { return syscall.Kill(pid, 0) != nil || zombie(pid) })
}

// zombie reports whether pid has exited and waits to be reaped.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && s[i+2] == 'Z'
}
