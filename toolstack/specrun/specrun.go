// Package specrun runs luxen's behaviour specs: Lua files (*_spec.lua) written with
// describe/it/assert, each against a fresh host. `go test ./spec` runs them on
// the embedded simulated host; `luxen spec` runs them on any host, real Xen
// included. A spec file says which hosts it is for in a first-lines comment,
// `-- hosts: sim, xen`; without one it is for the simulated host only.
package specrun

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/stdlib"
	"luxen/toolstack"
)

//go:embed runner.lua
var runnerSrc string

// Result is one `it`.
type Result struct {
	File    string
	Name    string
	Status  string // pass, fail, pending, skip
	Err     string
	Seconds float64
}

// Hosts reads a spec file's `-- hosts:` line (default: sim).
func Hosts(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 5 && sc.Scan(); i++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "-- hosts:"); ok {
			var hs []string
			for _, h := range strings.Split(rest, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hs = append(hs, h)
				}
			}
			return hs, nil
		}
	}
	return []string{"sim"}, nil
}

// ForHost reports whether a spec file runs on a host kind ("sim" covers both
// simulated kinds).
func ForHost(path, kind string) (bool, error) {
	hs, err := Hosts(path)
	if err != nil {
		return false, err
	}
	if kind == host.KindSimServe {
		kind = host.KindSim
	}
	for _, h := range hs {
		if h == kind {
			return true, nil
		}
	}
	return false, nil
}

// Options for Run.
type Options struct {
	StateDir   string        // a fresh temporary directory when empty
	RuntimeDir string        // where a supervisor's socket goes; StateDir when empty
	Timeout    time.Duration // per `it`; default 30s
	Watchdog   time.Duration
	Verbose    bool
}

// Run runs one spec file on h. The spec's directory is a script directory, so
// specs require their helpers by module name.
func Run(path string, h *host.Host, o Options) ([]Result, error) {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Second
	}
	if o.StateDir == "" {
		d, err := os.MkdirTemp("", "luxen-spec-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.StateDir = d
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	echo := stdlib.Error + 1 // silent
	if o.Verbose {
		echo = stdlib.Info
	}
	// specs drive Xen's own tools and read /proc: they run with exec granted
	sb := toolstack.DefaultSandbox(o.StateDir, []string{filepath.Dir(abs)})
	sb.Exec = true
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: o.StateDir, RuntimeDir: o.RuntimeDir, ScriptDirs: []string{filepath.Dir(abs)},
		Echo: os.Stderr, EchoLevel: echo, Watchdog: o.Watchdog, ScriptDir: filepath.Dir(abs), Stdout: os.Stderr,
		Sandbox: &sb})
	if err != nil {
		return nil, err
	}
	defer r.Close()
	L := r.Sched.L
	var results []Result
	reportFn := L.NewFunction(func(L *lua.LState) int {
		results = append(results, Result{File: filepath.Base(path), Name: L.CheckString(1), Status: L.CheckString(2),
			Err: L.OptString(3, ""), Seconds: float64(L.OptNumber(4, 0))})
		return 0
	})
	runner, err := L.Load(strings.NewReader(runnerSrc), "specrun/runner.lua")
	if err != nil {
		return nil, err
	}
	specFn, err := r.Sched.LoadFile(path)
	if err != nil {
		return nil, err
	}
	L.Push(runner)
	L.Push(reportFn)
	L.Push(lua.LString(filepath.Base(path)))
	L.Push(lua.LNumber(o.Timeout.Seconds()))
	if err := L.PCall(3, 1, nil); err != nil {
		return nil, err
	}
	drive := L.Get(-1).(*lua.LFunction)
	L.Pop(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := r.RunFunc(ctx, filepath.Base(path), drive, specFn); err != nil {
		return results, fmt.Errorf("%s: %w", path, err)
	}
	return results, nil
}
