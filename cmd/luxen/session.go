package main

// A session is what every command starts from: the host it talks to (and
// why that one), the host's state place, and the host's supervisor if one
// runs. All three belong to the host, so two shells with different
// environments that talk to one host see one set of records and one
// supervisor.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	xs "luxen/bindings/xenstore"
	"luxen/stdlib"
	"luxen/toolstack"
)

type session struct {
	g     *globals
	h     *host.Host
	why   string // how the host was chosen
	place host.Place
}

// requestedState is the state directory the caller named, if any.
func requestedState(g *globals) host.Requested {
	if g.state != "" {
		return host.Requested{Dir: g.state, From: "--state"}
	}
	if v := os.Getenv("LUXEN_STATE"); v != "" {
		return host.Requested{Dir: v, From: "LUXEN_STATE"}
	}
	return host.Requested{}
}

func openSession(ctx context.Context, g *globals) (*session, error) {
	kind, why, err := host.Choose(g.host)
	if err != nil {
		return nil, err
	}
	h, err := host.Open(kind, simxen.Options{})
	if err != nil {
		return nil, err
	}
	place, err := h.Place(ctx, requestedState(g))
	if err != nil {
		h.Close()
		return nil, err
	}
	if g.verbose {
		fmt.Fprintf(os.Stderr, "luxen: host: %s\nluxen: state: %s (%s)\n", why, place.State, place.Why)
	}
	return &session{g: g, h: h, why: why, place: place}, nil
}

// inSession runs fn with a session on the host g names, under a context
// that Ctrl-C and SIGTERM cancel.
func inSession(g *globals, fn func(ctx context.Context, s *session) error) error {
	ctx, cancel := signalContext()
	defer cancel()
	s, err := openSession(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	return fn(ctx, s)
}

// withRuntime runs fn with a Lua runtime on the session's host.
func (s *session) withRuntime(scriptDir string, args []string, fn func(r *toolstack.Runtime) error) error {
	r, err := s.runtime(scriptDir, args)
	if err != nil {
		return err
	}
	defer r.Close()
	return fn(r)
}

func (s *session) close() {
	s.place.Close()
	s.h.Close()
}

// runtime builds a Lua runtime on the session's host.
func (s *session) runtime(scriptDir string, args []string) (*toolstack.Runtime, error) {
	echo := stdlib.Warn
	if s.g.verbose {
		echo = stdlib.Info
	}
	dirs := append([]string(nil), s.g.scripts...)
	dirs = append(dirs, toolstack.DefaultScriptDirs()...)
	sb := toolstack.DefaultSandbox(s.place.State, append(dirs, scriptDir))
	sb.Exec = s.g.allowExec || os.Getenv("LUXEN_ALLOW_EXEC") == "1"
	return toolstack.New(toolstack.Options{Host: s.h, StateDir: s.place.State, RuntimeDir: s.place.Runtime,
		ScriptDirs: dirs, Echo: os.Stderr, EchoLevel: echo, Args: args, ScriptDir: scriptDir, Sandbox: &sb})
}

// findDomain is Lua's domain.find (a name or a domid), for the commands
// that work on a domain from Go.
func (s *session) findDomain(ctx context.Context, target string) (uint32, error) {
	var id uint32
	err := s.withRuntime("", nil, func(r *toolstack.Runtime) error {
		res, err := r.Call(ctx, "domain", "find", lua.LString(target))
		if err := luaResult(res, err); err != nil {
			return err
		}
		n, ok := res[0].(lua.LNumber)
		if !ok {
			return fmt.Errorf("domain.find(%q) returned %s", target, res[0].Type())
		}
		id = uint32(n)
		return nil
	})
	return id, err
}

// embeddedNote tells the user a one-shot command ran on a host that is gone
// when the command exits, and why that host was chosen.
func (s *session) embeddedNote() {
	if s.h.Kind == host.KindSim {
		fmt.Fprintf(os.Stderr, "note: this ran on %s, gone when this command exits; "+
			"start a shared one with `luxen sim serve --socket PATH` and set XENSTORED_PATH=PATH\n", s.why)
	}
}

// supervisorInfo is the host's supervisor marker (supervisor.lua writes it).
type supervisorInfo struct {
	Pid    int    `json:"pid"`
	Start  string `json:"start"`
	UID    int    `json:"uid"`
	Since  string `json:"since"`
	Socket string `json:"socket"`
}

// supervisor is the host's running supervisor, or nil: a marker whose
// process is gone (killed with -9) names nobody. One that runs inside
// another program (a spec, a script's supervisor.start()) has no socket:
// it acts on shutdowns but takes no requests.
func (s *session) supervisor(ctx context.Context) (*supervisorInfo, error) {
	v, err := s.h.XS.Root().Read(ctx, host.SupervisorNode)
	if xs.ErrnoOf(err) == xs.ENOENT {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("supervisor marker: %w", err)
	}
	var m supervisorInfo
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil, fmt.Errorf("supervisor marker %s: %q: %w", host.SupervisorNode, v, err)
	}
	if !host.ProcessAlive(m.Pid, m.Start) {
		return nil, nil
	}
	return &m, nil
}

// startSupervisor starts `luxen supervise` for the session's host in the
// background, detached from this terminal and logging to the host's log
// directory, as xl forks a daemon per domain; it returns once a supervisor
// (this one, or one a concurrent command started) answers.
func (s *session) startSupervisor(ctx context.Context) (*supervisorInfo, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("starting a supervisor: %w", err)
	}
	args := []string{"supervise"}
	for _, d := range s.g.scripts {
		args = append(args, "--scripts", d)
	}
	if s.g.allowExec {
		args = append(args, "--allow-exec")
	}
	logDir := filepath.Join(s.place.State, "log")
	if err := os.MkdirAll(logDir, 0o750); err != nil {
		return nil, fmt.Errorf("starting a supervisor: %w", err)
	}
	logPath := filepath.Join(logDir, "supervisor.out")
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("starting a supervisor: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(self, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, out, out
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // Ctrl-C at this terminal is not its business
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a supervisor: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second) // the emulated lab is slow to start a process
	for {
		sup, err := s.supervisor(ctx)
		if err != nil {
			return nil, err
		}
		if sup != nil && (sup.Socket == "" || answers(sup.Socket)) {
			if sup.Pid == cmd.Process.Pid {
				fmt.Fprintf(os.Stderr, "note: started a supervisor for this host (pid %d, output in %s): it acts on shutdowns, "+
					"reboots and crashes the guests start themselves, as xl's per-domain daemon does (see `luxen help supervise`)\n",
					sup.Pid, logPath)
			}
			return sup, nil
		}
		select {
		case err := <-exited:
			// one started by a concurrent command may have won: look again
			if sup, _ := s.supervisor(ctx); sup != nil {
				continue
			}
			return nil, fmt.Errorf("the supervisor it started exited (%v): %s", err, tail(logPath, 600))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the supervisor it started (pid %d) did not answer within 60s: %s", cmd.Process.Pid, tail(logPath, 600))
		}
	}
}

// answers reports whether something accepts connections on a unix socket.
func answers(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// tail is the end of a file, for error messages.
func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return path + ": " + err.Error()
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		f.Seek(st.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return path + ":\n" + strings.TrimSpace(string(b))
}

// errNoSupervisor: no supervisor runs for the host; the command runs here.
var errNoSupervisor = errors.New("no supervisor is running")
