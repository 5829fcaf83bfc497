package main

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
)

// supervise starts "luxen supervise" on the served host of env and waits for
// its request socket; it is interrupted when the test ends.
func supervise(t *testing.T, bin string, env []string) (sock string, errs *bytes.Buffer) {
	t.Helper()
	sock = filepath.Join(stateOf(t, bin, env), "supervisor.sock")
	cmd := exec.Command(bin, "supervise")
	cmd.Env = env
	errs = &bytes.Buffer{}
	cmd.Stderr = errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			return sock, errs
		}
		if i > 250 {
			t.Fatalf("supervise made no socket at %s: %s", sock, errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCommandsGoThroughTheSupervisor: with a supervisor running, one-shot
// commands are carried out by it (one process, one set of domain locks),
// with its scripts; without one they run in their own process again.
func TestCommandsGoThroughTheSupervisor(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	sock, _ := supervise(t, bin, c.env)

	st, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Mode()&os.ModeSocket == 0 {
		t.Fatalf("request socket mode %v, want a 0600 socket", st.Mode())
	}
	if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
		t.Fatalf("request socket owned by uid %d, want %d (the supervisor's, root on a real host)", uid, os.Geteuid())
	}

	// the supervisor's task list names the request that asked for it (and,
	// once its first reconcile is over, its loop waiting for events)
	var tasks string
	eventually(t, "the supervisor's loop waiting", func() bool {
		tasks = c.must("tasks")
		return regexpMatch(`"supervisor.run" waiting at supervisor\.lua:\d+`, tasks)
	})
	if !strings.Contains(tasks, `"request tasks (uid `+strconv.Itoa(os.Geteuid())) || !regexpMatch(`"supervisor.run" waiting at supervisor\.lua:\d+`, tasks) {
		t.Fatalf("tasks did not come from the supervisor:\n%s", tasks)
	}

	// a client's own site scripts do not apply: the supervisor's do (a
	// broken commands.lua in the client's --scripts would fail a local run)
	site := t.TempDir()
	os.WriteFile(filepath.Join(site, "commands.lua"), []byte(`error("the client's own scripts ran")`), 0o644)
	cfg := tempFile(t, "web.cfg", "name = \"web\"\nmemory = 64\n")
	out, errs, err := c.run("--scripts", site, "create", cfg)
	if err != nil || !strings.Contains(out, "created web") || !strings.Contains(errs, "carried out by the host's supervisor") {
		t.Fatalf("create through the supervisor: %v\nstdout %q\nstderr %q", err, out, errs)
	}
	if !regexpMatch(`(?m)^web +\d+ +64 `, c.must("list")) {
		t.Fatalf("list:\n%s", c.must("list"))
	}
	// errors come back as errors, with the command's exit status
	if _, errs, err := c.run("destroy", "nosuch"); err == nil || !strings.Contains(errs, "nosuch") {
		t.Fatalf("destroy nosuch: %v %q", err, errs)
	}
	// a relative config path is resolved by the client, not in the supervisor's directory
	db := tempFile(t, "db.cfg", "name = \"db\"\nmemory = 32\n")
	cmd := exec.Command(bin, "create", "-p", filepath.Base(db))
	cmd.Dir, cmd.Env = filepath.Dir(db), c.env
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("create with a relative path: %v\n%s", err, b)
	}
	c.must("destroy", "db")
	c.must("destroy", "web")
	if strings.Contains(c.must("list"), "web") {
		t.Fatal("web still listed")
	}
}

// TestSupervisorServesOnlyRoot: the request socket refuses other users twice
// over: the file mode keeps them from connecting, and if an administrator
// opens the mode up, SO_PEERCRED still names them and they are refused and
// logged. Needs root, to run a client as nobody.
func TestSupervisorServesOnlyRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a client as another user")
	}
	bin := buildLuxen(t)
	// the binary and the socket's directories must be reachable by nobody
	pub, err := os.MkdirTemp("", "luxen-control-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	os.Chmod(pub, 0o711)
	b, _ := os.ReadFile(bin)
	pubBin := filepath.Join(pub, "luxen")
	os.WriteFile(pubBin, b, 0o755)
	// nobody reaches the served host only through sockets opened to it (a
	// real host's xenstored and privcmd are root's): what is tested here is
	// the supervisor's own gate
	state := filepath.Join(pub, "state")
	env := serveAt(t, bin, filepath.Join(pub, "xs.sock"), "--state", state)
	for _, p := range []string{filepath.Join(pub, "xs.sock"), filepath.Join(pub, "xs.sock.hv")} {
		os.Chmod(p, 0o666)
	}
	env = append(env, "XENSTORED_PATH="+filepath.Join(pub, "xs.sock"))
	sock := filepath.Join(state, "supervisor.sock")
	if got, _ := supervise(t, bin, env); got != sock {
		t.Fatalf("supervisor socket at %s, want %s", got, sock)
	}
	os.Chmod(state, 0o711)

	asNobody := func() (string, error) {
		cmd := exec.Command(pubBin, "tasks")
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/", "XENSTORED_PATH=" + filepath.Join(pub, "xs.sock")}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := asNobody()
	if err == nil || !strings.Contains(out, "takes requests from root only") {
		t.Fatalf("nobody through a 0600 socket: %v %q", err, out)
	}
	// an administrator's mistake: the socket opened to everyone
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	out, err = asNobody()
	if err == nil || !strings.Contains(out, "permission denied: requests are taken from root only (you are uid 65534)") {
		t.Fatalf("nobody through an open socket: %v %q", err, out)
	}
	if strings.Contains(out, "Lua tasks") {
		t.Fatalf("nobody was answered: %q", out)
	}
	// and the refusal is in the supervisor's log
	deadline := time.Now().Add(5 * time.Second)
	for {
		logb, _ := os.ReadFile(filepath.Join(state, "log", "luxen.log"))
		if strings.Contains(string(logb), "refused a request from uid 65534") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no refusal in the supervisor's log:\n%s", logb)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// root still is served
	c := cli{t: t, bin: bin, env: env}
	if !strings.Contains(c.must("tasks"), "Lua tasks") {
		t.Fatal("root was not served")
	}
}

// Every one-shot command goes to the supervisor while one runs (call), so
// every commands.* function the CLI calls must be one it serves: a command
// left out works until a supervisor starts, and then fails.
func TestSupervisorServesEveryCLICommand(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`call\(g, "([a-z_]+)"`)
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			seen++
			if !controlCommands[m[1]] {
				t.Errorf("%s: commands.%s is called by the CLI but not served by the supervisor (controlCommands)", f, m[1])
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d calls: the pattern no longer matches the CLI's code", seen)
	}
}
