package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/toolstack"
)

// The xl-style commands on one domain or its devices: thin wrappers that
// parse their flags and call the Lua function of the same name in commands.lua.

func cmdCreate(g *globals, args []string) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	paused := fs.Bool("p", false, "")
	noSup := fs.Bool("no-supervisor", false, "")
	dry := fs.Bool("n", false, "")
	quiet := fs.Bool("q", false, "")
	attach := fs.Bool("c", false, "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return usagef("missing CONFIG")
	}
	cfg, err := filepath.Abs(pos[0]) // a supervisor may be the one to read it
	if err != nil {
		return err
	}
	if *dry {
		// nothing is made, so nothing needs the supervisor
		return call(g, "dry_create", callOpts{}, lua.LString(cfg), strs(pos[1:]))
	}
	var name string
	if *attach {
		// the console is known by the domain's name, which the config says;
		// a host without consoles is refused before anything is made
		if kind, _, err := host.Choose(g.host); err != nil {
			return err
		} else if kind != host.KindXen {
			return errors.New("-c: the simulated host's guests have no consoles; consoles need real Xen and xenconsoled")
		}
		if name, err = configName(g, cfg, pos[1:]); err != nil {
			return err
		}
	}
	if err := call(g, "create", callOpts{embeddedNote: !*quiet, startSupervisor: !*noSup}, lua.LString(cfg), strs(pos[1:]), lua.LBool(*paused), lua.LBool(*quiet)); err != nil {
		return err
	}
	if *attach {
		return cmdConsole(g, []string{name})
	}
	return nil
}

// configName is the domain name the config at path (with overrides) gives.
func configName(g *globals, path string, overrides []string) (string, error) {
	var name string
	err := inSession(g, func(ctx context.Context, s *session) error {
		return s.withRuntime("", nil, func(r *toolstack.Runtime) error {
			res, err := r.Call(ctx, "config", "load", lua.LString(path), strs(overrides))
			if err := luaResult(res, err); err != nil {
				return err
			}
			if t, ok := res[0].(*lua.LTable); ok {
				name = lua.LVAsString(t.RawGetString("name"))
			}
			if name == "" {
				return fmt.Errorf("%s: the config gives no name", path)
			}
			return nil
		})
	})
	return name, err
}

// targetCommand is a command whose only argument is one domain, handed to
// the Lua command of the same name.
func targetCommand(name string) func(*globals, []string) error {
	return func(g *globals, args []string) error {
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		t, err := oneTarget(fs, args)
		if err != nil {
			return err
		}
		return call(g, name, callOpts{}, lua.LString(t))
	}
}

func shutdownLike(g *globals, name, reason string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	wait := fs.Bool("w", false, "")
	timeout := fs.Int("t", 60, "")
	all := fs.Bool("a", false, "")
	acpi := fs.Bool("F", false, "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if *all {
		if len(pos) > 0 {
			return usagef("-a takes no domain: it is every domain but dom0")
		}
		return call(g, "shutdown_all", callOpts{}, lua.LBool(*wait), lua.LString(reason), lua.LNumber(*timeout), lua.LBool(*acpi))
	}
	if len(pos) != 1 {
		return usagef("expected one domain name or id (or -a)")
	}
	return call(g, "shutdown", callOpts{}, lua.LString(pos[0]), lua.LBool(*wait), lua.LString(reason), lua.LNumber(*timeout), lua.LBool(*acpi))
}

func cmdShutdown(g *globals, args []string) error {
	return shutdownLike(g, "shutdown", "poweroff", args)
}
func cmdSave(g *globals, args []string) error {
	fs := flag.NewFlagSet("save", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keep := fs.Bool("c", false, "")
	paused := fs.Bool("p", false, "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 3 {
		return usagef("a CONFIG after FILE (xl's config to save with) is not supported: luxen saves the config it keeps")
	}
	if len(pos) != 2 {
		return usagef("expected NAME FILE")
	}
	file, err := filepath.Abs(pos[1]) // a supervisor may be the one to write it
	if err != nil {
		return err
	}
	return call(g, "save", callOpts{}, lua.LString(pos[0]), lua.LString(file), lua.LBool(*keep), lua.LBool(*paused))
}

func cmdRestore(g *globals, args []string) error {
	fs := flag.NewFlagSet("restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	paused := fs.Bool("p", false, "")
	fs.Bool("e", false, "") // xl's "do not wait in the background": luxen's supervisor watches every domain
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	var cfg lua.LValue = lua.LNil
	switch len(pos) {
	case 1:
	case 2:
		abs, err := filepath.Abs(pos[0])
		if err != nil {
			return err
		}
		cfg = lua.LString(abs)
	default:
		return usagef("expected [CONFIG] FILE")
	}
	file, err := filepath.Abs(pos[len(pos)-1]) // the supervisor may be the one to read it
	if err != nil {
		return err
	}
	return call(g, "restore", callOpts{}, lua.LString(file), cfg, lua.LBool(*paused))
}

func cmdReboot(g *globals, args []string) error { return shutdownLike(g, "reboot", "reboot", args) }

func cmdList(g *globals, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	verbose := fs.Bool("v", false, "")
	fs.BoolVar(verbose, "verbose", false, "")
	long := fs.Bool("l", false, "")
	fs.BoolVar(long, "long", false, "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	return call(g, "list", callOpts{}, lua.LBool(*asJSON), strs(pos), lua.LBool(*verbose), lua.LBool(*long))
}

func cmdInfo(g *globals, args []string) error {
	if len(args) > 0 {
		return usagef("info takes no arguments")
	}
	return call(g, "info", callOpts{})
}

const schedHelp = `
Lists every domain's (or one's) weight and cap under the scheduler, as xl
does; with -w or -c sets them for the domain -d names. The host's scheduler
must be this one (Xen 4.17's default is credit2). A config's cpu_weight= and
cap= set them when the domain is made.

  -d   the domain
  -w   its weight: its share of CPU against other domains (1-65535;
       default 256)
  -c   its cap: the most CPU it may use, in percent of one CPU (0: none)`

func schedCmd(which string) func(*globals, []string) error {
	return func(g *globals, a []string) error {
		fs := flag.NewFlagSet("sched-"+which, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		dom := fs.String("d", "", "")
		weight := fs.Int("w", -1, "")
		capv := fs.Int("c", -1, "")
		pos, err := parseAnywhere(fs, a)
		if err != nil {
			return err
		}
		if len(pos) > 0 {
			return usagef("unexpected %q: name the domain with -d", pos[0])
		}
		opt := func(v int) lua.LValue {
			if v < 0 {
				return lua.LNil
			}
			return lua.LNumber(v)
		}
		return call(g, "sched", callOpts{}, lua.LString(which), lua.LString(*dom), opt(*weight), opt(*capv))
	}
}

// detachCmd is block-detach and network-detach: [-f] NAME DEVICE.
func detachCmd(class string) func(*globals, []string) error {
	return func(g *globals, a []string) error {
		force := len(a) > 0 && a[0] == "-f"
		if force {
			a = a[1:]
		}
		if len(a) != 2 {
			return usagef("expected NAME and a device")
		}
		return call(g, "detach", callOpts{}, lua.LString(class), lua.LString(a[0]), lua.LString(a[1]), lua.LBool(force))
	}
}

// listCmd is block-list and network-list: NAME.
// moveCmd is block-move and network-move: NAME DEVICE BACKEND.
func moveCmd(class string) func(*globals, []string) error {
	return func(g *globals, a []string) error {
		if len(a) != 3 {
			return usagef("expected NAME DEVICE BACKEND")
		}
		return call(g, "move", callOpts{}, lua.LString(class), lua.LString(a[0]), lua.LString(a[1]), lua.LString(a[2]))
	}
}

func listCmd(class string) func(*globals, []string) error {
	return func(g *globals, a []string) error {
		if len(a) != 1 {
			return usagef("expected NAME")
		}
		return call(g, "devlist", callOpts{}, lua.LString(class), lua.LString(a[0]))
	}
}
