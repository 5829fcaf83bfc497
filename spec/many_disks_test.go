package spec

import (
	"os"
	"strconv"
	"testing"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/bindings/xenstored"
	"luxen/toolstack/specrun"
)

// TestManyDisksWithRoom runs many_disks_spec.lua on a simulated host whose
// xenstored lets a domain own enough nodes for 100 disks (cxenstored's
// default of 1000 is about 10 disks short), as a real host serving such
// guests is configured with `xenstored -E 2000`: there every one of the 100
// disks must connect. TestSpecs runs the same file on a default host, where
// the disks past the quota must fail visibly instead.
func TestManyDisksWithRoom(t *testing.T) {
	const nodes = 2000
	q := xenstored.DefaultQuota
	q.NodesPerDomain = nodes
	// the spec reads what the host allows from here (it cannot ask xenstored)
	t.Setenv("LUXEN_SPEC_XS_NODES", strconv.Itoa(nodes))
	h := host.Embedded(simxen.New(simxen.Options{Quota: q}))
	defer h.Close()
	results, err := specrun.Run("many_disks_spec.lua", h, specrun.Options{Verbose: os.Getenv("LUXEN_SPEC_VERBOSE") != ""})
	if err != nil {
		t.Fatalf("many_disks_spec.lua failed outside any `it`: %v", err)
	}
	if len(results) == 0 {
		t.Fatal("many_disks_spec.lua ran no `it`")
	}
	for _, r := range results {
		if r.Status == "fail" {
			t.Errorf("%s: %s (%.2fs)", r.Name, r.Err, r.Seconds)
		}
	}
}
