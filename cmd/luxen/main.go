// Command luxen is a Xen toolstack whose logic is Lua: xl-compatible commands,
// a script runner, a REPL and a supervisor that runs restart policies.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/bindings/xenstored"
	"luxen/stdlib"
	"luxen/toolstack"
)

// globals are the options every command takes.
type globals struct {
	host      string
	scripts   multiFlag
	state     string
	verbose   bool
	allowExec bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ":") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

type command struct {
	name, args, summary, help string
	run                       func(g *globals, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"create", "[-p] [--no-supervisor] CONFIG [key=value...]", "create a domain from an xl.cfg or Lua config", `
Creates a domain from CONFIG: an xl.cfg(5) file, or a .lua file that returns a
table of the same keys. key=value arguments override the file, as with xl.
A failed create leaves nothing behind. Once the domain runs, create waits
(up to 30 s) for its devices to connect and fails naming any that did not.

Restart policies (on_poweroff, on_reboot, on_crash) are acted on by the
host's supervisor. If none runs, create starts one in the background (its
output in STATE/log/supervisor.out), as xl forks a daemon for each domain:
a poweroff, reboot or crash the guest starts itself is then acted on too.
See "luxen help supervise".

  -p               leave the domain paused
  --no-supervisor  do not start a supervisor; nothing then acts on a
                   shutdown the guest starts itself`, cmdCreate},
		{"destroy", "NAME|DOMID", "destroy a domain at once", `
Destroys the domain immediately and removes its xenstore nodes and record.`, targetCommand("destroy")},
		{"shutdown", "[-w] [-t SECONDS] NAME|DOMID", "ask a domain to power off", `
Writes "poweroff" to the guest's control/shutdown. With no supervisor running,
this command waits for the guest to shut down and applies its on_poweroff
policy itself.

  -w   wait until the domain is gone (or, with a supervisor, handled)
  -t   how long to wait, in seconds (default 60)`, cmdShutdown},
		{"reboot", "[-w] [-t SECONDS] NAME|DOMID", "ask a domain to reboot", `
Writes "reboot" to the guest's control/shutdown; its on_reboot policy (by
default restart: same name, new domid) runs when it has shut down.`, cmdReboot},
		{"pause", "NAME|DOMID", "pause a domain's vcpus", "", targetCommand("pause")},
		{"unpause", "NAME|DOMID", "unpause a domain", "", targetCommand("unpause")},
		{"block-attach", "NAME|DOMID DISK-SPEC", "attach a block device (xl disk syntax)", `
Attaches a virtual block device described in xl-disk-configuration(5) syntax,
e.g. "/img/data.raw,raw,xvdb,rw" or "target=/img/x,vdev=xvdc,access=r", and
waits for frontend and backend to connect. The device is in the domain's
record, so it comes back when the domain is restarted.`, func(g *globals, a []string) error {
			if len(a) != 2 {
				return usagef("expected NAME DISK-SPEC")
			}
			return call(g, "attach", callOpts{}, lua.LString("vbd"), lua.LString(a[0]), lua.LString(a[1]))
		}},
		{"block-detach", "[-f] NAME|DOMID VDEV|DEVID", "detach a block device", `
Closes the device down (online=0, Closing, wait for Closed) and removes it;
-f removes it even if the backend does not answer.`, detachCmd("vbd")},
		{"block-list", "NAME|DOMID", "list a domain's block devices", "", listCmd("vbd")},
		{"network-attach", "NAME|DOMID [VIF-SPEC]", "attach a network interface (xl vif syntax)", `
Attaches a virtual network interface described in xl-network-configuration(5)
syntax, e.g. "mac=00:16:3e:01:02:03,bridge=xenbr0"; without a spec, defaults.`, func(g *globals, a []string) error {
			if len(a) < 1 || len(a) > 2 {
				return usagef("expected NAME [VIF-SPEC]")
			}
			spec := ""
			if len(a) == 2 {
				spec = a[1]
			}
			return call(g, "attach", callOpts{}, lua.LString("vif"), lua.LString(a[0]), lua.LString(spec))
		}},
		{"network-detach", "[-f] NAME|DOMID DEVID|MAC", "detach a network interface", "", detachCmd("vif")},
		{"network-list", "NAME|DOMID", "list a domain's network interfaces", "", listCmd("vif")},
		{"cd-insert", "NAME|DOMID VDEV FILE", "insert a CD-ROM image into a domain's drive", `
Changes the medium of the CD-ROM drive VDEV (a name from the config's cdrom
list, e.g. hdc) in the domain's device model, over QMP. The domain's record
is updated in two phases around the QEMU call, so a failure leaves it saying
what QEMU actually has.`, func(g *globals, a []string) error {
			if len(a) != 3 {
				return usagef("expected NAME VDEV FILE")
			}
			file, err := filepath.Abs(a[2]) // a supervisor may be the one to open it
			if err != nil {
				return err
			}
			return call(g, "cd_insert", callOpts{}, lua.LString(a[0]), lua.LString(a[1]), lua.LString(file))
		}},
		{"cd-eject", "NAME|DOMID VDEV", "eject the CD-ROM in a domain's drive", "", func(g *globals, a []string) error {
			if len(a) != 2 {
				return usagef("expected NAME VDEV")
			}
			return call(g, "cd_eject", callOpts{}, lua.LString(a[0]), lua.LString(a[1]))
		}},
		{"list", "[--json] [NAME|DOMID...]", "list domains in xl's format", `
Prints Name, ID, Mem, VCPUs, State and Time(s) as "xl list" does; --json prints
the same as JSON.`, cmdList},
		{"info", "", "print information about the host", "", cmdInfo},
		{"console", "NAME|DOMID", "attach to a guest's console (Ctrl-] detaches)", `
Attaches the terminal to the guest's console through the pty xenconsoled offers
(real Xen only). Everything the guest prints also goes to xenconsoled's log,
/var/log/xen/guest-NAME.log, and luxen copies it into the domain's own log when
the domain is destroyed.`, cmdConsole},
		{"run", "FILE [ARGS...]", "run a Lua script as a task", `
Runs FILE as the main task; luxen.args holds ARGS and luxen.script_dir the
script's directory. The command ends when the main task ends.`, cmdRun},
		{"repl", "", "an interactive Lua prompt bound to the host", `
Lines are Lua; an expression's value is printed (tables pretty-printed).
Blocking calls (xenstore, sleeps) work at the prompt. xs, xen, task, log, json,
config, domain, lifecycle and evtchn are preloaded. History is kept in
~/.luxen_history. Ctrl-C cancels the running line, Ctrl-D leaves.`, cmdRepl},
		{"reconcile", "", "settle what a crashed luxen left half done", `
Makes the domain records, xenstore and the hypervisor agree after luxen was
killed in the middle of a create, destroy, attach or detach: half-made
domains are destroyed, records of vanished domains removed, devices cut short
removed or marked disconnected. "luxen supervise" does this when it starts.`, func(g *globals, a []string) error {
			if len(a) > 0 {
				return usagef("reconcile takes no arguments")
			}
			return call(g, "reconcile", callOpts{})
		}},
		{"supervise", "", "run restart policies for every domain (long-running)", `
Watches @releaseDomain and runs scripts/policies/restart.lua for every domain
that shuts down, each domain in its own task, and moves devices off dead
driver domains (scripts/policies/failover.lua). Runs until interrupted; first
settles what a crashed luxen left half done (see "luxen help reconcile").

One supervisor runs per host: it marks itself in the host's xenstore
(/tool/luxen/supervisor: pid, user, since, socket) and a second one refuses
to start, naming the first; one killed with -9 is taken over by the next.
"luxen create" starts one when none runs; on a real host, run it as a
service instead: dist/luxen-supervise.service is a systemd unit for it.

While it runs, the one-shot commands (create, destroy, shutdown, reboot,
pause, unpause, block-*, network-*, cd-*, list, info, reconcile, tasks) are
carried out by it, through its request socket (/run/luxen/supervisor.sock on
real Xen, STATE/supervisor.sock on a simulated host): one process then holds
every domain's locks. The socket is mode 0600 and the supervisor serves only
root (or its own user): requests from anybody else are refused and logged.`, cmdSupervise},
		{"tasks", "", "show what the running supervisor's tasks are doing", `
Prints every Lua task of the running supervisor: its id, name, domain group,
state and the file:line it is at. Useful when a domain's script seems stuck.`, func(g *globals, a []string) error {
			if len(a) > 0 {
				return usagef("tasks takes no arguments")
			}
			ctx, cancel := signalContext()
			defer cancel()
			s, err := openSession(ctx, g)
			if err != nil {
				return err
			}
			defer s.close()
			sup, err := s.supervisor(ctx)
			if err != nil {
				return err
			}
			if sup != nil && sup.Socket == "" {
				return fmt.Errorf("the host's supervisor (pid %d) runs inside another program and takes no requests", sup.Pid)
			}
			if sup != nil {
				err = askSupervisor(ctx, sup.Socket, "tasks", nil)
			}
			if sup == nil || errors.Is(err, errNoSupervisor) {
				return errors.New("no supervisor is running for this host")
			}
			return err
		}},
		{"sim", "serve --socket PATH [--state DIR] [--mem MIB] [--cpus N] [--boot-delay S] [--quota NAME=N]... [--keep-orphans]", "serve a simulated Xen host", `
Serves the embedded simulated host: its xenstored on PATH and its hypervisor on
PATH.hv, both mode 0600. The host keeps luxen's state (records, logs, the
supervisor's socket) in DIR, by default PATH.state, and announces it in its
xenstore: every luxen that talks to this host uses that directory. Its xenstored keeps cxenstored 4.17's quotas for
unprivileged domains; --quota changes one (nodes=1000, watches=128,
node-size=2048, transactions=10, permissions=5, transaction-nodes=1024,
outstanding=20). --keep-orphans keeps the nodes of a dead domain (cxenstored -K). Other luxen commands and Xen's C xenstore tools use it
when XENSTORED_PATH=PATH is set:

  luxen sim serve --socket /tmp/xs.sock &
  XENSTORED_PATH=/tmp/xs.sock luxen create web.cfg
  XENSTORED_PATH=/tmp/xs.sock xenstore-ls /local/domain`, cmdSim},
		{"spec", "[--json] FILE...", "run Lua behaviour specs on the host", `
Runs *_spec.lua files (describe/it/assert) on the chosen host, each file with a
fresh Lua state. A file runs only on the hosts its "-- hosts:" line names
(default: sim). Prints one line per spec and "N passed, N failed, N skipped";
exits 1 if any failed. --json prints SPEC-RESULT lines for harnesses.`, cmdSpec},
		{"version", "", "print luxen's version", "", func(*globals, []string) error {
			fmt.Println("luxen", toolstack.Version)
			return nil
		}},
	}
}

const globalHelp = `Global options (before or after the command name):
  --host sim|xen   which host to manage (default: real Xen if /dev/xen/privcmd
                   exists, else the simulated host XENSTORED_PATH names, else
                   one embedded in this process); also $LUXEN_HOST. A host
                   named that is not there is an error, never a fall back
  --scripts DIR    a site script directory searched before the shipped scripts
                   (repeatable; also $LUXEN_SCRIPTS and /etc/luxen/scripts)
  --state DIR      the state and log directory, for an embedded host (or for
                   sim serve); a host that outlives one command keeps its own
                   (real Xen: /var/lib/luxen; sim serve: beside its socket),
                   and naming another is an error; also $LUXEN_STATE
  --allow-exec     let scripts run programs (os.execute, io.popen, proc.run);
                   also $LUXEN_ALLOW_EXEC=1. Scripts are sandboxed otherwise:
                   no programs, files only under the state and script
                   directories, /tmp, /proc, /sys and /var/log/xen
  -v               say which host and state directory were chosen, and why;
                   echo info-level log messages to stderr

Environment: LUXEN_WATCHDOG=SECONDS changes how long a script may run Lua
without yielding before the watchdog interrupts it (default 1; counted in
CPU time, so a merely starved process is spared).`

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: luxen [global options] COMMAND [ARGS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	width := len("help")
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-*s %s\n", width, "help", "help on a command")
	fmt.Fprintln(w)
	fmt.Fprintln(w, globalHelp)
}

func find(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func commandHelp(w io.Writer, c *command) {
	fmt.Fprintf(w, "usage: luxen %s %s\n\n%s\n", c.name, c.args, c.summary)
	if c.help != "" {
		fmt.Fprintln(w, strings.TrimPrefix(c.help, "\n"))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, globalHelp)
}

// splitGlobals takes the global options out of args wherever they are.
func splitGlobals(args []string) (*globals, []string, error) {
	g := &globals{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		val := func() (string, error) {
			if j := strings.IndexByte(a, '='); j >= 0 {
				return a[j+1:], nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", a)
			}
			i++
			return args[i], nil
		}
		name := a
		if j := strings.IndexByte(a, '='); j >= 0 {
			name = a[:j]
		}
		switch name {
		case "--host", "-host":
			v, err := val()
			if err != nil {
				return nil, nil, err
			}
			g.host = v
		case "--scripts", "-scripts":
			v, err := val()
			if err != nil {
				return nil, nil, err
			}
			g.scripts = append(g.scripts, v)
		case "--state", "-state":
			v, err := val()
			if err != nil {
				return nil, nil, err
			}
			g.state = v
		case "-v", "--verbose":
			g.verbose = true
		case "--allow-exec":
			g.allowExec = true
		case "--":
			rest = append(rest, args[i:]...)
			return g, rest, nil
		default:
			rest = append(rest, a)
			if len(rest) >= 1 && (rest[0] == "run") && len(rest) >= 2 {
				// everything after run's FILE belongs to the script
				rest = append(rest, args[i+1:]...)
				return g, rest, nil
			}
		}
	}
	return g, rest, nil
}

func main() {
	g, args, err := splitGlobals(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "luxen:", err)
		os.Exit(2)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		usage(os.Stdout)
		if len(args) == 0 {
			os.Exit(2)
		}
		return
	}
	if args[0] == "help" {
		if len(args) < 2 {
			usage(os.Stdout)
			return
		}
		c := find(args[1])
		if c == nil {
			fmt.Fprintf(os.Stderr, "luxen: no command %q\n", args[1])
			os.Exit(2)
		}
		commandHelp(os.Stdout, c)
		return
	}
	c := find(args[0])
	if c == nil {
		fmt.Fprintf(os.Stderr, "luxen: unknown command %q (see luxen --help)\n", args[0])
		os.Exit(2)
	}
	for _, a := range args[1:] {
		if a == "-h" || a == "--help" {
			commandHelp(os.Stdout, c)
			return
		}
		if c.name == "run" {
			break
		}
	}
	if err := c.run(g, args[1:]); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(os.Stderr, "luxen %s: %v\nusage: luxen %s %s\n", c.name, err, c.name, c.args)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stderr, "luxen %s: %v\n", c.name, err)
		os.Exit(1)
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
func listCmd(class string) func(*globals, []string) error {
	return func(g *globals, a []string) error {
		if len(a) != 1 {
			return usagef("expected NAME")
		}
		return call(g, "devlist", callOpts{}, lua.LString(class), lua.LString(a[0]))
	}
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

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
	ctx, cancel := signalContext()
	defer cancel()
	s, err := openSession(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
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
		err := askSupervisor(ctx, sup.Socket, fn, args)
		if !errors.Is(err, errNoSupervisor) {
			if len(g.scripts) > 0 || g.allowExec {
				fmt.Fprintf(os.Stderr, "note: carried out by the host's supervisor (pid %d), with its own --scripts and --allow-exec\n", sup.Pid)
			}
			return err
		}
	}
	r, err := s.runtime("", nil)
	if err != nil {
		return err
	}
	defer r.Close()
	err = luaResult(r.Call(ctx, "commands", fn, args...))
	if err == nil && o.embeddedNote {
		s.embeddedNote()
	}
	return err
}

func strs(ss []string) *lua.LTable {
	t := &lua.LTable{}
	for _, s := range ss {
		t.Append(lua.LString(s))
	}
	return t
}

func oneTarget(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", usageError{err}
	}
	if fs.NArg() != 1 {
		return "", usagef("expected one domain name or id")
	}
	return fs.Arg(0), nil
}

func cmdCreate(g *globals, args []string) error {
	fs := flag.NewFlagSet("create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	paused := fs.Bool("p", false, "")
	noSup := fs.Bool("no-supervisor", false, "")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() < 1 {
		return usagef("missing CONFIG")
	}
	cfg, err := filepath.Abs(fs.Arg(0)) // a supervisor may be the one to read it
	if err != nil {
		return err
	}
	return call(g, "create", callOpts{embeddedNote: true, startSupervisor: !*noSup}, lua.LString(cfg), strs(fs.Args()[1:]), lua.LBool(*paused))
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
	t, err := oneTarget(fs, args)
	if err != nil {
		return err
	}
	return call(g, "shutdown", callOpts{}, lua.LString(t), lua.LBool(*wait), lua.LString(reason), lua.LNumber(*timeout))
}

func cmdShutdown(g *globals, args []string) error {
	return shutdownLike(g, "shutdown", "poweroff", args)
}
func cmdReboot(g *globals, args []string) error { return shutdownLike(g, "reboot", "reboot", args) }

func cmdList(g *globals, args []string) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	return call(g, "list", callOpts{}, lua.LBool(*asJSON), strs(fs.Args()))
}

func cmdInfo(g *globals, args []string) error {
	if len(args) > 0 {
		return usagef("info takes no arguments")
	}
	return call(g, "info", callOpts{})
}

func cmdRun(g *globals, args []string) error {
	if len(args) < 1 {
		return usagef("missing FILE")
	}
	file := args[0]
	abs, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	s, err := openSession(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.runtime(filepath.Dir(abs), args[1:])
	if err != nil {
		return err
	}
	defer r.Close()
	return r.RunFile(ctx, file)
}

func cmdSupervise(g *globals, args []string) error {
	if len(args) > 0 {
		return usagef("supervise takes no arguments")
	}
	ctx, cancel := signalContext()
	defer cancel()
	s, err := openSession(ctx, g)
	if err != nil {
		return err
	}
	defer s.close()
	r, err := s.runtime("", nil)
	if err != nil {
		return err
	}
	defer r.Close()
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
	err = luaResult(r.Call(ctx, "supervisor", "run", lua.LString(sock)))
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

func cmdSim(g *globals, args []string) error {
	if len(args) == 0 || args[0] != "serve" {
		return usagef("the only sim command is serve")
	}
	fs := flag.NewFlagSet("sim serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	sock := fs.String("socket", "", "")
	mem := fs.Uint64("mem", 8192, "")
	cpus := fs.Uint("cpus", 4, "")
	delay := fs.Float64("boot-delay", 0, "")
	var quotas multiFlag
	fs.Var(&quotas, "quota", "")
	keep := fs.Bool("keep-orphans", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	if *sock == "" {
		return usagef("--socket PATH is required")
	}
	q := xenstored.DefaultQuota
	fields := q.Fields()
	for _, kv := range quotas {
		name, val, ok := strings.Cut(kv, "=")
		n, err := strconv.Atoi(val)
		if !ok || fields[name] == nil || err != nil || n < 1 {
			names := make([]string, 0, len(fields))
			for k := range fields {
				names = append(names, k)
			}
			sort.Strings(names)
			return usagef("--quota %q: want NAME=N with N >= 1 and NAME one of %s", kv, strings.Join(names, ", "))
		}
		*fields[name] = n
	}
	h := simxen.New(simxen.Options{TotalMemKB: *mem * 1024, CPUs: uint32(*cpus),
		BootDelay: time.Duration(*delay * float64(time.Second)), Quota: q})
	h.XS.KeepOrphans = *keep
	h.XS.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	defer h.Close()
	ctx, cancel := signalContext()
	defer cancel()
	// the host owns its state: every luxen that talks to it finds the
	// directory in the host's xenstore
	state := g.state // --state, taken with the global options
	if state == "" {
		state = host.ServedStateDir(*sock)
	}
	state, err := filepath.Abs(state)
	if err != nil {
		return err
	}
	release, err := host.HoldStateDir(state, host.ServedOwner(*sock))
	if err != nil {
		return err
	}
	defer release()
	local := host.Embedded(h)
	_, _, err = host.AnnounceStateDir(ctx, local.XS, state)
	local.XS.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serving a simulated Xen host: XENSTORED_PATH=%s (hypervisor on %s; luxen state in %s)\n",
		*sock, simxen.HVSocket(*sock), state)
	return simxen.Serve(ctx, h, *sock)
}

// sortedKeys is used by the REPL's completion.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
