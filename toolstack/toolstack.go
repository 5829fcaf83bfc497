// Package toolstack assembles luxen: a scheduler's Lua state with the
// native bindings (xenstore, xen, evtchn, qmp, sim), the library modules
// (package stdlib), the sandbox and the luxen module, bound to one host.
// It is the one composition root; the CLI, the spec runner and the tests
// build their runtimes here.
package toolstack

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/bindings/lualib"
	"luxen/scripts"
	"luxen/stdlib"
	"luxen/vm"
)

// Version is luxen's version string.
const Version = "0.1.0"

// Options configure a Runtime.
type Options struct {
	Host       *host.Host
	StateDir   string
	RuntimeDir string // where the supervisor's socket goes; StateDir when empty
	ScriptDirs []string
	Echo       io.Writer // log echo, usually stderr
	EchoLevel  stdlib.Level
	Watchdog   time.Duration
	Args       []string // script arguments, as luxen.args
	ScriptDir  string   // directory of the script being run, as luxen.script_dir
	// Sandbox restricts scripts; nil means DefaultSandbox.
	Sandbox *Sandbox
	Stdout  io.Writer
}

// Runtime is a ready Lua state bound to a host.
type Runtime struct {
	Sched *vm.Scheduler
	Host  *host.Host
	Log   *stdlib.Logger
	State string
	out   io.Writer
	// progress takes luxen.progress from tasks without a Progress of their own
	progress func(string)
	// functions scripts gave luxen.at_close: run, last first, when the
	// runtime closes (a supervisor.start() in a script releases its marker)
	atClose *lua.LTable
}

// DefaultScriptDirs are the site script directories: $LUXEN_SCRIPTS (colon
// separated), then /etc/luxen/scripts.
func DefaultScriptDirs() []string {
	var ds []string
	if e := os.Getenv("LUXEN_SCRIPTS"); e != "" {
		ds = append(ds, strings.Split(e, ":")...)
	}
	return append(ds, "/etc/luxen/scripts")
}

// New builds a runtime.
func New(o Options) (*Runtime, error) {
	if o.StateDir == "" {
		// the host owns its state (host.Place finds it): a runtime that
		// guessed one would start a second set of records
		return nil, fmt.Errorf("toolstack: no state directory given")
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Watchdog == 0 {
		// a site (or an emulated test host, 50-100x slower than hardware)
		// may give scripts longer than the default second
		if v := os.Getenv("LUXEN_WATCHDOG"); v != "" {
			secs, err := strconv.ParseFloat(v, 64)
			if err != nil || secs <= 0 || secs > 3600 {
				return nil, fmt.Errorf("LUXEN_WATCHDOG=%q: want seconds, more than 0 and at most 3600", v)
			}
			o.Watchdog = time.Duration(secs * float64(time.Second))
		}
	}
	if o.RuntimeDir == "" {
		o.RuntimeDir = o.StateDir
	}
	lg, err := stdlib.NewLogger(filepath.Join(o.StateDir, "log"), o.Echo, o.EchoLevel)
	if err != nil {
		return nil, err
	}
	s, err := vm.New(vm.Options{
		ScriptDirs: o.ScriptDirs,
		Embedded:   []fs.FS{scripts.FS, stdlib.Scripts, lualib.Scripts},
		Watchdog:   o.Watchdog,
		Report:     func(m string) { lg.Log(stdlib.Warn, "", m) },
	})
	if err != nil {
		lg.Close()
		return nil, err
	}
	r := &Runtime{Sched: s, Host: o.Host, Log: lg, State: o.StateDir, out: o.Stdout, atClose: &lua.LTable{}}
	L := s.L
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		parts := make([]string, L.GetTop())
		for i := range parts {
			parts[i] = lua.LVAsString(L.ToStringMeta(L.Get(i + 1)))
		}
		out := r.out
		if t := s.Current(); t != nil && t.Out != nil {
			out = t.Out // a supervisor request's output goes to its client
		}
		fmt.Fprintln(out, strings.Join(parts, "\t"))
		return 0
	}))
	sb := DefaultSandbox(o.StateDir, o.ScriptDirs)
	if o.Sandbox != nil {
		sb = *o.Sandbox
	}
	// libxl's own directory, where luxen keeps each domain's config for
	// xl to read (userdata files): on real Xen only; a simulated host keeps
	// its copy in its state directory, which the sandbox grants already
	if o.Host != nil && o.Host.Kind == host.KindXen {
		sb.Read = append(sb.Read, LibxlDir)
		sb.Write = append(sb.Write, LibxlDir)
	}
	sb.apply(L)
	lualib.Open(s, o.Host)
	stdlib.OpenLog(s, lg)
	stdlib.OpenJSON(L)
	stdlib.OpenTime(s)
	stdlib.OpenSync(s)
	stdlib.OpenConfig(L)
	stdlib.OpenProc(s, sb.Exec || sb.Off, sb.Programs)
	r.openLuxen(o)
	return r, nil
}

// SetProgress sends what tasks without a progress sink of their own
// report through luxen.progress to fn (the CLI's terminal progress line).
// Scheduler goroutine only; fn must not block.
func (r *Runtime) SetProgress(fn func(msg string)) { r.progress = fn }

// SetOutput sends print's output to stdout and the log's echo to echo
// from now on (the REPL hands over readline's writers, which redraw the
// prompt around what they write). Scheduler goroutine only, as print is.
func (r *Runtime) SetOutput(stdout, echo io.Writer) {
	r.out = stdout
	r.Log.SetEcho(echo)
}

// RunFile runs a script file as the main task and drives the scheduler until it
// ends; other tasks it spawned are cancelled then.
// Its arguments reach it as lua(1) gives them to a script: the global arg
// (arg[0] the script, arg[1..] its arguments, arg[-1] "luxen") and the main
// chunk's "...".
func (r *Runtime) RunFile(ctx context.Context, path string, args ...string) error {
	fn, err := r.Sched.LoadFile(path)
	if err != nil {
		return err
	}
	L := r.Sched.L
	argt := L.NewTable()
	argt.RawSetInt(-1, lua.LString("luxen"))
	argt.RawSetInt(0, lua.LString(path))
	vals := make([]lua.LValue, len(args))
	for i, a := range args {
		argt.RawSetInt(i+1, lua.LString(a))
		vals[i] = lua.LString(a)
	}
	L.SetGlobal("arg", argt)
	return r.RunFunc(ctx, filepath.Base(path), fn, vals...)
}

// RunString runs Lua source as the main task.
func (r *Runtime) RunString(ctx context.Context, name, src string) error {
	fn, err := r.Sched.L.Load(strings.NewReader(src), name)
	if err != nil {
		return err
	}
	return r.RunFunc(ctx, name, fn)
}

// RunFunc runs fn as the main task.
func (r *Runtime) RunFunc(ctx context.Context, name string, fn *lua.LFunction, args ...lua.LValue) error {
	t := r.Sched.Spawn(name, "", fn, args...)
	t.Watched() // its error is returned, not reported
	if err := r.Sched.RunTask(ctx, t); err != nil {
		return err
	}
	return t.Err()
}

// Call runs module.fn(args...) as the main task and returns its results: the
// CLI's commands are thin calls into Lua modules.
func (r *Runtime) Call(ctx context.Context, module, fn string, args ...lua.LValue) ([]lua.LValue, error) {
	chunk, err := callChunk(r.Sched.L, module, fn)
	if err != nil {
		return nil, err
	}
	t := r.Sched.Spawn(module+"."+fn, "", chunk, args...)
	t.Watched()
	if err := r.Sched.RunTask(ctx, t); err != nil {
		return nil, err
	}
	if err := t.Err(); err != nil {
		return nil, err
	}
	return t.Results(), nil
}

// callChunk is the Lua that calls module.fn(...) for Call and SpawnCall.
func callChunk(L *lua.LState, module, fn string) (*lua.LFunction, error) {
	src := fmt.Sprintf("local m = require(%q)\nlocal f = m[%q]\nif type(f) ~= 'function' then error('module %s has no function %s', 0) end\nreturn f(...)", module, fn, module, fn)
	return L.Load(strings.NewReader(src), module+"."+fn)
}

// SpawnCall starts module.fn(args...) as a task of a runtime whose scheduler
// is already running (a supervisor's), from any goroutine. What the task
// prints goes to out, what it waits for to progress; args builds the
// arguments on the scheduler goroutine. The task's Done, Err and Results
// say how it ended.
func (r *Runtime) SpawnCall(name, group, module, fn string, out io.Writer, progress func(string), args func(L *lua.LState) []lua.LValue) (*vm.Task, error) {
	tc, ec := r.Sched.SpawnFromGo(name, group, out, progress, func(L *lua.LState) (*lua.LFunction, []lua.LValue, error) {
		chunk, err := callChunk(L, module, fn)
		if err != nil {
			return nil, nil, err
		}
		return chunk, args(L), nil
	})
	t, ok := <-tc
	if !ok {
		return nil, <-ec
	}
	return t, nil
}

// atCloseChunk runs the at_close functions, last given first.
const atCloseChunk = `local fns = ...
for i = #fns, 1, -1 do
  local ok, err = pcall(fns[i])
  if not ok then require("log").warn("at_close: %s", tostring(err)) end
end`

// Close runs the scripts' at_close functions (for at most 5 s), cancels
// what is left and flushes the logs.
func (r *Runtime) Close() {
	if r.atClose.Len() > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if fn, err := r.Sched.L.Load(strings.NewReader(atCloseChunk), "at_close"); err == nil {
			if err := r.RunFunc(ctx, "at_close", fn, r.atClose); err != nil {
				r.Log.Log(stdlib.Warn, "", "at_close: "+err.Error())
			}
		}
		cancel()
	}
	r.Sched.Close()
	r.Log.Close()
}
