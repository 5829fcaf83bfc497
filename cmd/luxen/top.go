package main

// luxen top: xl top's live view (xl runs xentop): the host's memory and
// CPUs, then a line a domain with its state, CPU seconds and CPU % since the
// last refresh, memory and vCPUs. The sample comes from commands.top_sample
// (Lua, editable); the terminal, the refresh and the arithmetic are here.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"luxen/toolstack"
)

type topDom struct {
	name                         string
	domid                        int
	state                        string
	cpu                          float64 // seconds
	vcpus                        int
	memKB, maxKB                 float64
	running, blocked, paused     bool
	crashed, dying, shutdownFlag bool
}

type topSample struct {
	at                      time.Time
	totalKB, freeKB, cpuMHz float64
	cpus                    int
	version                 string
	doms                    []topDom
}

func topSampleFrom(t *lua.LTable, at time.Time) topSample {
	num := func(t *lua.LTable, k string) float64 { n, _ := t.RawGetString(k).(lua.LNumber); return float64(n) }
	b := func(t *lua.LTable, k string) bool { return lua.LVAsBool(t.RawGetString(k)) }
	s := topSample{at: at}
	if h, ok := t.RawGetString("host").(*lua.LTable); ok {
		s.totalKB, s.freeKB, s.cpuMHz, s.cpus = num(h, "total_kb"), num(h, "free_kb"), num(h, "cpu_mhz"), int(num(h, "nr_cpus"))
		s.version = lua.LVAsString(h.RawGetString("version"))
	}
	if ds, ok := t.RawGetString("doms").(*lua.LTable); ok {
		ds.ForEach(func(_, v lua.LValue) {
			d, ok := v.(*lua.LTable)
			if !ok {
				return
			}
			s.doms = append(s.doms, topDom{name: lua.LVAsString(d.RawGetString("name")), domid: int(num(d, "domid")),
				state: lua.LVAsString(d.RawGetString("state")), cpu: num(d, "cpu_time"), vcpus: int(num(d, "vcpus")),
				memKB: num(d, "mem_kb"), maxKB: num(d, "maxmem_kb"), running: b(d, "running"), blocked: b(d, "blocked"),
				paused: b(d, "paused"), crashed: b(d, "crashed"), dying: b(d, "dying"), shutdownFlag: b(d, "shutdown")})
		})
	}
	sort.Slice(s.doms, func(i, j int) bool { return s.doms[i].domid < s.doms[j].domid })
	return s
}

// topFrame is one screen: CPU % against prev (none on the first frame).
func topFrame(cur topSample, prev *topSample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "luxen top - %s   Xen %s\n", cur.at.Format("15:04:05"), cur.version)
	var running, blocked, paused, crashed, dying, shut int
	for _, d := range cur.doms {
		switch {
		case d.dying:
			dying++
		case d.crashed:
			crashed++
		case d.shutdownFlag:
			shut++
		case d.paused:
			paused++
		case d.running:
			running++
		default:
			blocked++
		}
	}
	fmt.Fprintf(&b, "%d domains: %d running, %d blocked, %d paused, %d crashed, %d dying, %d shutdown\n",
		len(cur.doms), running, blocked, paused, crashed, dying, shut)
	fmt.Fprintf(&b, "Mem: %.0fk total, %.0fk used, %.0fk free    CPUs: %d @ %.0fMHz\n",
		cur.totalKB, cur.totalKB-cur.freeKB, cur.freeKB, cur.cpus, cur.cpuMHz)
	fmt.Fprintf(&b, "%10s %6s %10s %6s %10s %6s %10s %9s %5s\n",
		"NAME", "STATE", "CPU(sec)", "CPU(%)", "MEM(k)", "MEM(%)", "MAXMEM(k)", "MAXMEM(%)", "VCPUS")
	before := map[int]float64{}
	var wall float64
	if prev != nil {
		wall = cur.at.Sub(prev.at).Seconds()
		for _, d := range prev.doms {
			before[d.domid] = d.cpu
		}
	}
	pct := func(kb float64) float64 {
		if cur.totalKB == 0 {
			return 0
		}
		return kb / cur.totalKB * 100
	}
	for _, d := range cur.doms {
		cpuPct := 0.0
		if was, ok := before[d.domid]; ok && wall > 0 {
			cpuPct = (d.cpu - was) / wall * 100
		}
		name := d.name
		if len(name) > 10 {
			name = name[:10]
		}
		fmt.Fprintf(&b, "%10s %6s %10.0f %6.1f %10.0f %6.1f %10.0f %9.1f %5d\n",
			name, d.state, d.cpu, cpuPct, d.memKB, pct(d.memKB), d.maxKB, pct(d.maxKB), d.vcpus)
	}
	return b.String()
}

func cmdTop(g *globals, args []string) error {
	fs := flag.NewFlagSet("top", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	delay := fs.Float64("d", 3, "")
	batch := fs.Bool("b", false, "")
	iterations := fs.Int("i", 0, "")
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("top takes no arguments")
	}
	if *delay <= 0 {
		return usagef("-d: the delay must be above 0 seconds")
	}
	return inSession(g, func(ctx context.Context, s *session) error {
		return s.withRuntime("", nil, func(r *toolstack.Runtime) error {
			return runTop(ctx, r, os.Stdout, time.Duration(*delay*float64(time.Second)), *batch, *iterations)
		})
	})
}

// runTop refreshes until q (on a terminal), Ctrl-C, or the iterations are done.
func runTop(ctx context.Context, r *toolstack.Runtime, out io.Writer, delay time.Duration, batch bool, iterations int) error {
	quit := make(chan struct{})
	fd := int(os.Stdin.Fd())
	if old, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil && !batch {
		// keys one at a time, no echo: q quits
		raw := *old
		raw.Lflag &^= unix.ICANON | unix.ECHO
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		unix.IoctlSetTermios(fd, unix.TCSETS, &raw)
		defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
		go func() {
			buf := make([]byte, 1)
			for {
				n, err := os.Stdin.Read(buf)
				if err != nil || (n == 1 && (buf[0] == 'q' || buf[0] == 'Q')) {
					close(quit)
					return
				}
			}
		}()
	}
	var prev *topSample
	for i := 0; iterations == 0 || i < iterations; i++ {
		res, err := r.Call(ctx, "commands", "top_sample")
		if err := luaResult(res, err); err != nil {
			return err
		}
		t, ok := res[0].(*lua.LTable)
		if !ok {
			return errors.New("commands.top_sample returned no table")
		}
		cur := topSampleFrom(t, time.Now())
		if !batch {
			fmt.Fprint(out, "\x1b[H\x1b[2J") // home, clear
		}
		fmt.Fprint(out, topFrame(cur, prev))
		if batch {
			fmt.Fprintln(out)
		}
		prev = &cur
		if iterations != 0 && i == iterations-1 {
			break
		}
		select {
		case <-quit:
			return nil
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	return nil
}
