package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/stdlib"
	"luxen/toolstack"
)

// run and supervise: the long-running commands that drive a Lua runtime
// themselves.

func cmdRun(g *globals, args []string) error {
	if len(args) < 1 {
		return usagef("missing FILE")
	}
	file := args[0]
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	return inSession(g, func(ctx context.Context, s *session) error {
		return s.withRuntime(filepath.Dir(abs), args[1:], func(r *toolstack.Runtime) error {
			line := newProgressLine(g, os.Stderr)
			defer line.Close()
			r.SetProgress(line.Set)
			return r.RunFile(ctx, file, args[1:]...)
		})
	})
}

func cmdSupervise(g *globals, args []string) error {
	if len(args) > 0 {
		return usagef("supervise takes no arguments")
	}
	return inSession(g, func(ctx context.Context, s *session) error {
		return s.withRuntime("", nil, func(r *toolstack.Runtime) error { return runSupervisor(ctx, s, r) })
	})
}

// runSupervisor claims the host's supervisor marker, serves the request socket
// and runs supervisor.lua until ctx ends (or the simulated host stops).
func runSupervisor(ctx context.Context, s *session, r *toolstack.Runtime) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logf := func(format string, a ...any) { r.Log.Log(stdlib.Warn, "", fmt.Sprintf(format, a...)) }
	// a served simulated host may stop; its supervisor has nothing left to do then
	if gone := s.h.Gone(); gone != nil {
		watching := make(chan struct{})
		go func() {
			defer close(watching)
			select {
			case <-gone:
				logf("supervisor: the simulated host stopped; exiting")
				cancel()
			case <-ctx.Done():
			}
		}()
		// runs before the runtime and the host are closed (closing the host
		// closes gone too)
		defer func() { cancel(); <-watching }()
	}
	// one supervisor per host: claim the host's marker before anything else
	sock := ""
	if s.h.Kind != host.KindSim {
		sock = filepath.Join(s.place.Runtime, "supervisor.sock")
	}
	if err := luaResult(r.Call(ctx, "supervisor", "claim", lua.LString(sock))); err != nil {
		return err
	}
	release := func() {
		select {
		case <-s.h.Gone():
			return // nothing is left to release it in
		default:
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		_ = r.RunString(cctx, "release", `require("supervisor").release()`)
	}
	if sock != "" {
		ln, err := listenControl(sock)
		if err != nil {
			release()
			return err
		}
		go serveControl(ctx, ln, r, logf)
	} else {
		fmt.Fprintf(os.Stderr, "note: supervising %s; no other process can reach it (share a host with `luxen sim serve`)\n", s.why)
	}
	err := luaResult(r.Call(ctx, "supervisor", "run", lua.LString(sock)))
	release() // only the marker's owner removes it; run did unless interrupted
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// luaResult turns a Lua call's outcome (an error, or `nil, err`) into an error.
func luaResult(res []lua.LValue, err error) error {
	if err != nil {
		return err
	}
	if len(res) >= 2 && res[0] == lua.LNil {
		return errors.New(lua.LVAsString(res[1]))
	}
	return nil
}
