package spec

import (
	"os"
	"path/filepath"
	"sort"
	"testing"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack/specrun"
)

// TestSpecs runs every *_spec.lua for the simulated host, each file on a fresh
// embedded host, each `it` reported as a subtest.
func TestSpecs(t *testing.T) {
	files, err := filepath.Glob("*_spec.lua")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatal("no spec files found")
	}
	for _, f := range files {
		ok, err := specrun.ForHost(f, host.KindSim)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		t.Run(f, func(t *testing.T) {
			h := host.Embedded(simxen.New(simxen.Options{}))
			defer h.Close()
			results, err := specrun.Run(f, h, specrun.Options{Verbose: os.Getenv("LUXEN_SPEC_VERBOSE") != ""})
			for _, r := range results {
				r := r
				t.Run(r.Name, func(t *testing.T) {
					switch r.Status {
					case "fail":
						t.Errorf("%s (%.2fs)", r.Err, r.Seconds)
					case "pending":
						t.Skip("pending")
					}
				})
			}
			if err != nil {
				t.Fatalf("spec file failed outside any `it`: %v", err)
			}
			if len(results) == 0 {
				t.Fatal("spec file ran no `it`")
			}
		})
	}
}
