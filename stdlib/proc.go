package stdlib

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"slices"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/vm"
)

// OpenProc registers "proc": subprocesses that yield the task instead of
// blocking the scheduler (io.popen blocks every task until the child exits).
//
//	proc.run({"xl", "list"} | "shell command" [, {timeout=s, stdin=""}])
//	    -> {code=, stdout=, stderr=, seconds=} | nil, err
//	code is the exit status; a command that could not start, or ran past its
//	timeout (it is killed), gives nil, err.
func OpenProc(s *vm.Scheduler, allowExec bool, programs []string) {
	s.L.PreloadModule("proc", func(L *lua.LState) int {
		mod := L.NewTable()
		s.SetFuncsAs(mod, "proc", nil, map[string]lua.LGFunction{
			"run": func(L *lua.LState) int {
				var argv []string
				switch v := L.CheckAny(1).(type) {
				case lua.LString:
					argv = []string{"/bin/sh", "-c", string(v)}
				case *lua.LTable:
					for i := 1; i <= v.Len(); i++ {
						argv = append(argv, lua.LVAsString(v.RawGetInt(i)))
					}
				default:
					L.ArgError(1, "command (string) or argv (table) expected")
				}
				if len(argv) == 0 {
					L.ArgError(1, "empty command")
				}
				if !allowExec && !slices.Contains(programs, argv[0]) {
					L.RaiseError("sandbox: proc.run of %s is not allowed (grant exec in the site's configuration: --allow-exec or LUXEN_ALLOW_EXEC=1)", argv[0])
				}
				opts := L.OptTable(2, L.NewTable())
				var timeout time.Duration
				if n, ok := opts.RawGetString("timeout").(lua.LNumber); ok {
					timeout = time.Duration(float64(n) * float64(time.Second))
				}
				stdin := lua.LVAsString(opts.RawGetString("stdin"))
				return vm.Async(L, func(ctx context.Context) vm.Result {
					if timeout > 0 {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, timeout)
						defer cancel()
					}
					cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
					var out, errb bytes.Buffer
					cmd.Stdout, cmd.Stderr = &out, &errb
					cmd.Stdin = bytes.NewReader([]byte(stdin))
					t0 := time.Now()
					err := cmd.Run()
					took := time.Since(t0).Seconds()
					code := 0
					var ee *exec.ExitError
					if errors.As(err, &ee) && ctx.Err() == nil {
						code, err = ee.ExitCode(), nil
					}
					return func(L *lua.LState) []lua.LValue {
						if err != nil {
							msg := err.Error()
							if ctx.Err() == context.DeadlineExceeded {
								msg = "timeout"
							}
							return []lua.LValue{lua.LNil, lua.LString(msg)}
						}
						t := L.NewTable()
						t.RawSetString("code", lua.LNumber(code))
						t.RawSetString("stdout", lua.LString(out.String()))
						t.RawSetString("stderr", lua.LString(errb.String()))
						t.RawSetString("seconds", lua.LNumber(took))
						return []lua.LValue{t}
					}
				})
			},
		})
		L.Push(mod)
		return 1
	})
}
