package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/toolstack"
)

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// callOpts say how a one-shot command is carried out.
type callOpts struct {
	embeddedNote    bool // say so when it ran on a throwaway embedded host
	startSupervisor bool // start the host's supervisor first if none runs
}

// call runs commands.<fn>(args...) and turns `nil, err` into a Go error.
// While the host's supervisor runs, it runs the command.
func call(g *globals, fn string, o callOpts, args ...lua.LValue) error {
	return inSession(g, func(ctx context.Context, s *session) error {
		sup, err := s.supervisor(ctx)
		if err != nil {
			return err
		}
		if sup == nil && o.startSupervisor && s.h.Kind != host.KindSim {
			if sup, err = s.startSupervisor(ctx); err != nil {
				return fmt.Errorf("%w\n(create --no-supervisor creates without one; then nothing acts on a shutdown the guest starts itself)", err)
			}
		}
		if sup != nil && sup.Socket != "" {
			err := askSupervisor(ctx, g, sup.Socket, fn, args)
			if !errors.Is(err, errNoSupervisor) {
				if len(g.scripts) > 0 || g.allowExec {
					fmt.Fprintf(os.Stderr, "note: carried out by the host's supervisor (pid %d), with its own --scripts and --allow-exec\n", sup.Pid)
				}
				return err
			}
		}
		return s.withRuntime("", nil, func(r *toolstack.Runtime) error {
			line := newProgressLine(g, os.Stderr)
			r.SetProgress(line.Set)
			err := luaResult(r.Call(ctx, "commands", fn, args...))
			line.Close()
			if err == nil && o.embeddedNote {
				s.embeddedNote()
			}
			return err
		})
	})
}
