package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack/specrun"
)

// cmdSpec runs Lua spec files on the chosen host: how the real-Xen suite runs
// inside a dom0, where there is no Go toolchain.
func cmdSpec(g *globals, args []string) error {
	fs := flag.NewFlagSet("spec", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usagef("no spec files given")
	}
	kind, _, err := host.Choose(g.host)
	if err != nil {
		return err
	}
	var pass, fail, skip int
	emit := func(r specrun.Result) {
		switch r.Status {
		case "pass":
			pass++
		case "fail":
			fail++
		default:
			skip++
		}
		if *asJSON {
			b, _ := json.Marshal(r)
			fmt.Printf("SPEC-RESULT %s\n", b)
			return
		}
		switch r.Status {
		case "fail":
			fmt.Printf("FAIL %s: %s (%.2fs)\n     %s\n", r.File, r.Name, r.Seconds, r.Err)
		case "pass":
			fmt.Printf("ok   %s: %s (%.2fs)\n", r.File, r.Name, r.Seconds)
		default:
			fmt.Printf("%-4s %s: %s %s\n", r.Status, r.File, r.Name, r.Err)
		}
	}
	for _, f := range fs.Args() {
		ok, err := specrun.ForHost(f, kind)
		if err != nil {
			return err
		}
		if !ok {
			emit(specrun.Result{File: filepath.Base(f), Name: "(file)", Status: "skip", Err: "not marked for host " + kind})
			continue
		}
		results, err := runSpec(g, kind, f)
		for _, r := range results {
			emit(r)
		}
		if err != nil {
			emit(specrun.Result{File: filepath.Base(f), Name: "(file)", Status: "fail", Err: err.Error()})
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", pass, fail, skip)
	if fail > 0 {
		os.Exit(1)
	}
	return nil
}

// runSpec runs one spec file: on an embedded host with a fresh state
// directory of its own; on a host that outlives this process in that host's
// state directory, as every other luxen command does.
func runSpec(g *globals, kind, file string) ([]specrun.Result, error) {
	o := specrun.Options{Verbose: g.verbose}
	if kind == host.KindSim {
		h, err := host.Open(kind, simxen.Options{})
		if err != nil {
			return nil, err
		}
		defer h.Close()
		return specrun.Run(file, h, o)
	}
	s, err := openSession(context.Background(), g)
	if err != nil {
		return nil, err
	}
	defer s.close()
	o.StateDir, o.RuntimeDir = s.place.State, s.place.Runtime
	return specrun.Run(file, s.h, o)
}
