package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/bindings/xenstored"
)

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
