package toolstack

import (
	"context"
	"testing"
	"time"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	xs "luxen/bindings/xenstore"
)

// TestAtCloseReleasesAScriptsSupervisor: a script that became the host's
// supervisor and ended without stopping it leaves no marker naming a live
// process (here, this test's own) once its Lua state is closed; `luxen spec`
// runs every spec file in one process, so the next file's supervisor would
// otherwise be refused.
func TestAtCloseReleasesAScriptsSupervisor(t *testing.T) {
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	r, err := New(Options{Host: h, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.RunString(ctx, "claim", `assert(require("supervisor").start())`); err != nil {
		t.Fatal(err)
	}
	if _, err := h.XS.Root().Read(ctx, host.SupervisorNode); err != nil {
		t.Fatalf("no marker while the script's supervisor runs: %v", err)
	}
	r.Close()
	if _, err := h.XS.Root().Read(ctx, host.SupervisorNode); xs.ErrnoOf(err) != xs.ENOENT {
		t.Fatalf("marker after the runtime closed: %v, want ENOENT", err)
	}
}
