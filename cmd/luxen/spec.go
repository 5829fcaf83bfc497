package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/spec"
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
	kind, err := host.Choose(g.host)
	if err != nil {
		return err
	}
	var pass, fail, skip int
	emit := func(r spec.Result) {
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
		ok, err := spec.ForHost(f, kind)
		if err != nil {
			return err
		}
		if !ok {
			emit(spec.Result{File: filepath.Base(f), Name: "(file)", Status: "skip", Err: "not marked for host " + kind})
			continue
		}
		h, err := host.Open(kind, simxen.Options{})
		if err != nil {
			return err
		}
		results, err := spec.Run(f, h, spec.Options{Verbose: g.verbose})
		h.Close()
		for _, r := range results {
			emit(r)
		}
		if err != nil {
			emit(spec.Result{File: filepath.Base(f), Name: "(file)", Status: "fail", Err: err.Error()})
		}
	}
	fmt.Printf("%d passed, %d failed, %d skipped\n", pass, fail, skip)
	if fail > 0 {
		os.Exit(1)
	}
	return nil
}
