package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"luxen/toolstack"
)

// The command table: every command with its usage, summary and help text,
// and how `luxen help` prints them.

type command struct {
	name, args, summary, help string
	run                       func(g *globals, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"create", "[-p] [-c] [-n] [-q] [--no-supervisor] CONFIG [key=value...]", "create a domain from an xl.cfg or Lua config", `
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
  -c               attach to the guest's console once it is created, as
                   "luxen console" does (Ctrl-] detaches; real Xen only)
  -n               dry run: read the config and print it resolved (defaults
                   filled in, overrides applied) as JSON; make nothing
  -q               quiet: print nothing when it succeeds
  --no-supervisor  do not start a supervisor; nothing then acts on a
                   shutdown the guest starts itself`, cmdCreate},
		{"destroy", "NAME|DOMID", "destroy a domain at once", `
Destroys the domain immediately and removes its xenstore nodes and record.`, targetCommand("destroy")},
		{"shutdown", "[-a] [-w] [-t SECONDS] [-F] NAME|DOMID", "ask a domain to power off", `
Writes "poweroff" to the guest's control/shutdown. With no supervisor running,
this command waits for the guest to shut down and applies its on_poweroff
policy itself.

  -a   every domain but dom0, at once (no NAME)
  -w   wait until the domain is gone (or, with a supervisor, handled)
  -t   how long to wait, in seconds (default 60)
  -F   an HVM guest without PV drivers (it cannot read control/shutdown,
       and is refused without -F) gets its ACPI power button pressed
       instead; guests with PV drivers are asked as usual`, cmdShutdown},
		{"reboot", "[-a] [-w] [-t SECONDS] [-F] NAME|DOMID", "ask a domain to reboot", `
Writes "reboot" to the guest's control/shutdown; its on_reboot policy (by
default restart: same name, new domid) runs when it has shut down. With no
supervisor running, this command waits for the guest to shut down and applies
its on_reboot policy itself.

  -a   every domain but dom0, at once (no NAME)
  -w   wait until the domain has been handled (restarted, or gone)
  -t   how long to wait, in seconds (default 60)
  -F   an HVM guest without PV drivers (refused without -F) is reset, as
       a reset button would: stopped at once with reason reboot, without
       its OS shutting down; guests with PV drivers are asked as usual`, cmdReboot},
		{"pause", "NAME|DOMID", "pause a domain's vcpus", "", targetCommand("pause")},
		{"unpause", "NAME|DOMID", "unpause a domain", "", targetCommand("unpause")},
		{"block-attach", "NAME|DOMID DISK-SPEC...", "attach a block device (xl disk syntax)", `
Attaches a virtual block device described in xl-disk-configuration(5) syntax,
e.g. "/img/data.raw,raw,xvdb,rw" or "target=/img/x,vdev=xvdc,access=r", and
waits for frontend and backend to connect. The device is in the domain's
record, so it comes back when the domain is restarted.`, func(g *globals, a []string) error {
			if len(a) < 2 {
				return usagef("expected NAME DISK-SPEC")
			}
			// xl also takes the spec's parts as separate arguments
			return call(g, "attach", callOpts{}, lua.LString("vbd"), lua.LString(a[0]), lua.LString(strings.Join(a[1:], ",")))
		}},
		{"block-detach", "[-f] NAME|DOMID VDEV|DEVID", "detach a block device", `
Closes the device down (online=0, Closing, wait for Closed) and removes it
and its record.

  -f   remove it even if the backend does not answer`, detachCmd("vbd")},
		{"block-list", "NAME|DOMID", "list a domain's block devices", "", listCmd("vbd")},
		{"block-move", "NAME|DOMID VDEV|DEVID BACKEND", "serve a block device from another backend domain", `
Moves a running domain's disk to another backend (a driver domain's name, or
Domain-0) without restarting it: the device's record names the new backend
first, so it stays there across restarts, then the frontend is unplugged and
plugged into the new backend, and the command waits for both ends to connect.
The target must mean the same disk to the new backend.`, moveCmd("vbd")},
		{"connections", "[NAME|DOMID]", "list devices with the backends that serve them", `
For every device luxen recorded (or the named domain's): the backend its
configuration names and its fallback, both held by dom0 in the domain's
record, the backend serving it now, and its state (connected, connecting, or
disconnected and why: a driver domain that is gone gets its devices back when
it runs again).`, func(g *globals, a []string) error {
			if len(a) > 1 {
				return usagef("expected [NAME]")
			}
			args := []lua.LValue{}
			if len(a) == 1 {
				args = append(args, lua.LString(a[0]))
			}
			return call(g, "connections", callOpts{}, args...)
		}},
		{"network-attach", "NAME|DOMID [VIF-SPEC...]", "attach a network interface (xl vif syntax)", `
Attaches a virtual network interface described in xl-network-configuration(5)
syntax, e.g. "mac=00:16:3e:01:02:03,bridge=xenbr0", or as xl takes it, one
key=value an argument (mac=00:16:3e:01:02:03 bridge=xenbr0); without a spec,
defaults.`, func(g *globals, a []string) error {
			if len(a) < 1 {
				return usagef("expected NAME [VIF-SPEC...]")
			}
			return call(g, "attach", callOpts{}, lua.LString("vif"), lua.LString(a[0]), lua.LString(strings.Join(a[1:], ",")))
		}},
		{"network-detach", "[-f] NAME|DOMID DEVID|MAC", "detach a network interface", `
Closes the interface down (online=0, Closing, wait for Closed) and removes it
and its record.

  -f   remove it even if the backend does not answer`, detachCmd("vif")},
		{"network-list", "NAME|DOMID", "list a domain's network interfaces", "", listCmd("vif")},
		{"network-move", "NAME|DOMID DEVID|MAC BACKEND", "serve a network interface from another backend domain", `
Moves a running domain's vif to another backend, as block-move does a disk.`, moveCmd("vif")},
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
		{"list", "[-v] [-l] [--json] [NAME|DOMID...]", "list domains in xl's format", `
Prints Name, ID, Mem, VCPUs, State and Time(s) as "xl list" does.

  -v, --verbose  also each domain's UUID, its shutdown reason code (hex,
                 "-" while it runs) and security label, as xl list -v
  -l, --long     each domain's configuration as JSON in libxl's domain
                 config format, as xl list -l prints it (a domain whose
                 config neither luxen nor libxl stored is left out, as xl
                 leaves it out)
  --json         the table as JSON`, cmdList},
		{"info", "", "print information about the host", "", cmdInfo},
		{"vcpu-list", "[NAME|DOMID...]", "list vCPUs: where each runs, its state, time and affinity", `
Prints xl vcpu-list's table: Name, ID, VCPU, the CPU it runs (or last ran)
on, State (r running, b blocked, p offline), Time(s), and its hard and soft
affinity ("all", or CPU ranges like 0-1,3).`, func(g *globals, a []string) error {
			return call(g, "vcpu_list", callOpts{}, strs(a))
		}},
		{"vcpu-pin", "NAME|DOMID VCPU|all HARD [SOFT]", "set the physical CPUs vCPUs may run on", `
Sets the hard affinity (the CPUs the vCPU may run on) and, if given, the soft
affinity (the ones it prefers) of one vCPU or of all, as xl vcpu-pin does.
CPU lists are xl's: "2", "0-3,^1", "all"; "-" leaves that affinity as it is.
Not kept across a restart of the domain: the config's cpus= and cpus_soft= are.`, func(g *globals, a []string) error {
			if len(a) < 3 || len(a) > 4 {
				return usagef("expected NAME VCPU HARD [SOFT]")
			}
			args := []lua.LValue{lua.LString(a[0]), lua.LString(a[1]), lua.LString(a[2])}
			if len(a) == 4 {
				args = append(args, lua.LString(a[3]))
			}
			return call(g, "vcpu_pin", callOpts{}, args...)
		}},
		{"vcpu-set", "[--ignore-host] NAME|DOMID N", "set the number of vCPUs online", `
Brings vCPUs 0..N-1 of a PV or PVH guest online and the rest offline, as xl
vcpu-set does: the guest's kernel follows cpu/K/availability in xenstore. N
may be up to the domain's maxvcpus. The next restart keeps N (the domain's
config follows).

  --ignore-host, -i  allow more vCPUs than the host has CPUs (refused
                     without it, as xl refuses it)`, func(g *globals, a []string) error {
			fs := flag.NewFlagSet("vcpu-set", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			ignore := fs.Bool("ignore-host", false, "")
			fs.BoolVar(ignore, "i", false, "")
			pos, err := parseAnywhere(fs, a)
			if err != nil {
				return err
			}
			if len(pos) != 2 {
				return usagef("expected NAME N")
			}
			return call(g, "vcpu_set", callOpts{}, lua.LString(pos[0]), lua.LString(pos[1]), lua.LBool(*ignore))
		}},
		{"mem-set", "NAME|DOMID MEM", "set a domain's memory target (its balloon)", `
Writes the guest's memory target, which its balloon driver follows. MEM is a
number with an optional unit b, k, m, g or t; with none it is MiB, as in xl.
It may not be above the domain's maximum (mem-max).`, func(g *globals, a []string) error {
			if len(a) != 2 {
				return usagef("expected NAME MEM")
			}
			return call(g, "mem_set", callOpts{}, lua.LString(a[0]), lua.LString(a[1]))
		}},
		{"mem-max", "NAME|DOMID MEM", "set the most memory a domain may have", `
Sets the hypervisor's limit on the domain's memory and its memory/static-max,
as xl mem-max does; MEM as for mem-set. It may not be below the domain's
current target.`, func(g *globals, a []string) error {
			if len(a) != 2 {
				return usagef("expected NAME MEM")
			}
			return call(g, "mem_max", callOpts{}, lua.LString(a[0]), lua.LString(a[1]))
		}},
		{"uptime", "[-s] [NAME|DOMID...]", "print how long domains have been up", `
Prints each domain's uptime as xl uptime does (from its start time in
xenstore; dom0's is the host's).

  -s   short: "HH:MM:SS up H:MM, NAME (ID)" a line, no seconds`, func(g *globals, a []string) error {
			fs := flag.NewFlagSet("uptime", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			short := fs.Bool("s", false, "")
			pos, err := parseAnywhere(fs, a)
			if err != nil {
				return err
			}
			return call(g, "uptime", callOpts{}, lua.LBool(*short), strs(pos))
		}},
		{"dmesg", "[-c]", "print the hypervisor's console ring", `
Prints Xen's console ring as xl dmesg does. The simulated host keeps a ring of
its own, saying what it did ("(XEN) sim: d1 created").

  -c   empty the ring after reading it`, func(g *globals, a []string) error {
			fs := flag.NewFlagSet("dmesg", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			clear := fs.Bool("c", false, "")
			pos, err := parseAnywhere(fs, a)
			if err != nil {
				return err
			}
			if len(pos) > 0 {
				return usagef("dmesg takes no arguments")
			}
			return call(g, "dmesg", callOpts{}, lua.LBool(*clear))
		}},
		{"sched-credit2", "[-d NAME|DOMID [-w WEIGHT] [-c CAP]]", "show or set credit2 weights and caps", schedHelp, schedCmd("credit2")},
		{"sched-credit", "[-d NAME|DOMID [-w WEIGHT] [-c CAP]]", "show or set credit weights and caps", schedHelp, schedCmd("credit")},
		{"top", "[-d SECONDS] [-b] [-i N]", "a live view of the domains, as xl top (xentop)", `
Shows the host's memory and CPUs and, a line a domain, its state, CPU
seconds, CPU % since the last refresh (of one CPU: a busy 2-vCPU guest
shows up to 200), memory and its maximum, and vCPUs, refreshing until q is
pressed (or Ctrl-C).

  -d   seconds between refreshes (default 3)
  -b   batch: no screen clearing and no keys; each refresh is printed
       after the last, for scripts and logs
  -i   refresh this many times and stop (default: until q)`, cmdTop},
		{"save", "[-c] [-p] NAME|DOMID FILE", "save a running domain to a file (xl's format)", `
Saves the domain as xl save does: asks the guest to suspend, writes its
memory and CPU state to FILE in xl's save format (with libxl's config of
it, so xl restore can restore it), then destroys it. A save that fails
resumes the guest and removes FILE. PVH guests only.

  -c   leave the domain running (in place, its suspend cancelled)
  -p   leave the domain paused after it is saved`, cmdSave},
		{"restore", "[-p] [-e] [CONFIG] FILE", "restore a domain from a save file (luxen's or xl's)", `
Makes the domain again from FILE, as xl restore does: with the name, uuid,
memory, vCPUs and devices of the config saved in it (or of CONFIG, a config
file, instead), its memory and CPU state from the file. The guest carries on
where it was saved, and reconnects its devices to new backends. A restore
that fails leaves nothing behind. PVH guests only.

  -p   leave the domain paused once it is restored
  -e   accepted for xl's sake: luxen's supervisor watches every domain`, cmdRestore},
		{"migrate", "[-s SSHCOMMAND] [-e] [--debug] NAME HOST", "move a running domain to another host, live (xl's protocol)", `
Migrates the domain as xl migrate does: runs "ssh HOST luxen
migrate-receive" and sends it the domain's memory while the guest runs,
round after round of the pages it dirtied (log-dirty mode), then has the
guest suspend, sends the rest and its CPU state, and hands over: the target
starts the guest under its name, and this host destroys its copy. If the
target fails, the guest is resumed here and runs on. PVH guests only.

  -s   the command instead of ssh: SSHCOMMAND HOST luxen migrate-receive;
       with -s "" HOST itself is the whole command (for a receiver on this
       host: luxen migrate -s "" NAME "luxen migrate-receive")
  -e   accepted for xl's sake (luxen's supervisor watches every domain)
  --debug  passes -d to the receiver`, cmdMigrate},
		{"migrate-receive", "[-e] [-d]", "the receiving end of a migration (run by migrate)", `
Reads a migration from stdin and answers on stdout in xl's protocol: the
domain is restored paused as NAME--incoming, and takes its name and runs once
the sender has let go of it. luxen migrate (or xl migrate) runs it on the
target host; it is not for use by hand.

  -e   accepted for xl's sake: luxen's supervisor watches every domain
  -d   accepted for xl's sake (xl migrate --debug passes it)`, cmdMigrateReceive},
		{"rename", "NAME|DOMID NEW-NAME", "rename a domain", `
Gives the domain a new name, as xl rename does: in xenstore (its own node
and /vm's, in one transaction) and in its luxen record, so a restart keeps
it. The domain's log goes on in the new name's file; both files say so.`, func(g *globals, a []string) error {
			if len(a) != 2 {
				return usagef("expected NAME NEW-NAME")
			}
			return call(g, "rename", callOpts{}, lua.LString(a[0]), lua.LString(a[1]))
		}},
		{"config-update", "NAME|DOMID CONFIG [key=value...]", "change the config a domain gets at its next restart", `
Replaces the config luxen keeps for a running domain, as xl config-update
does: nothing changes now, and the domain's next restart (by its on_reboot
or on_crash policy) builds it from this config, devices included (ones
hot-plugged since are not brought back). The config must keep the domain's
name.`, func(g *globals, a []string) error {
			if len(a) < 2 {
				return usagef("expected NAME CONFIG [key=value...]")
			}
			cfg, err := filepath.Abs(a[1])
			if err != nil {
				return err
			}
			return call(g, "config_update", callOpts{}, lua.LString(a[0]), lua.LString(cfg), strs(a[2:]))
		}},
		{"domid", "NAME", "print a domain's id", "", func(g *globals, a []string) error {
			if len(a) != 1 {
				return usagef("expected NAME")
			}
			return call(g, "domid", callOpts{}, lua.LString(a[0]))
		}},
		{"domname", "DOMID", "print a domain's name", "", func(g *globals, a []string) error {
			if len(a) != 1 {
				return usagef("expected DOMID")
			}
			return call(g, "domname", callOpts{}, lua.LString(a[0]))
		}},
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
			return inSession(g, func(ctx context.Context, s *session) error {
				sup, err := s.supervisor(ctx)
				if err != nil {
					return err
				}
				if sup != nil && sup.Socket == "" {
					return fmt.Errorf("the host's supervisor (pid %d) runs inside another program and takes no requests", sup.Pid)
				}
				if sup != nil {
					err = askSupervisor(ctx, g, sup.Socket, "tasks", nil)
				}
				if sup == nil || errors.Is(err, errNoSupervisor) {
					return errors.New("no supervisor is running for this host")
				}
				return err
			})
		}},
		{"sim", "serve --socket PATH [--state DIR] [--mem MIB] [--cpus N] [--boot-delay S] [--quota NAME=N]... [--keep-orphans]", "serve a simulated Xen host", `
Serves the embedded simulated host: its xenstored on PATH and its hypervisor on
PATH.hv, both mode 0600. The host announces its state directory in its
xenstore: every luxen that talks to this host uses that directory. Other luxen
commands and Xen's C xenstore tools use it when XENSTORED_PATH=PATH is set.

  --socket PATH     where its xenstored listens
  --state DIR       luxen's state (records, logs, the supervisor's socket);
                    default PATH.state
  --mem MIB         the host's memory (default 8192)
  --cpus N          the host's physical CPUs (default 4)
  --boot-delay S    how long a simulated guest takes to boot (default 0)
  --quota NAME=N    changes one of cxenstored 4.17's quotas for unprivileged
                    domains, which its xenstored keeps: nodes=1000,
                    watches=128, node-size=2048, transactions=10,
                    permissions=5, transaction-nodes=1024, outstanding=20
  --keep-orphans    keep the nodes of a dead domain (cxenstored -K)

  luxen sim serve --socket /tmp/xs.sock &
  XENSTORED_PATH=/tmp/xs.sock luxen create web.cfg
  XENSTORED_PATH=/tmp/xs.sock xenstore-ls /local/domain`, cmdSim},
		{"spec", "[--json] FILE...", "run Lua behaviour specs on the host", `
Runs *_spec.lua files (describe/it/assert) on the chosen host, each file with a
fresh Lua state. A file runs only on the hosts its "-- hosts:" line names
(default: sim). Prints one line per spec and "N passed, N failed, N skipped";
exits 1 if any failed.

  --json   print SPEC-RESULT lines (JSON) for harnesses`, cmdSpec},
		{"completion", "bash", "print a bash completion script", completionHelp, cmdCompletion},
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
                   echo info-level log messages to stderr (after "list",
                   -v is list's own, as in xl: put this one first)

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
	fmt.Fprintln(w, "Global options (--host, --state, --scripts, --allow-exec, -v): luxen --help")
}

const helpHelp = `usage: luxen help [COMMAND]

Prints the commands and the global options, or one command's usage, what it
does and its flags (as "luxen COMMAND --help" does).`
