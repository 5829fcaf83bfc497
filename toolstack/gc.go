package toolstack

import (
	"os"
	"runtime/debug"
)

// GC settings of a luxen process (TuneGC), unless GOGC or GOMEMLIMIT say
// otherwise.
const (
	// gcPercent: a toolstack's live heap is small (about 9 MB with 50
	// lifecycles in flight on the embedded host) and churns fast (Lua
	// tables for every record, config and xenstore reply), so Go's default
	// of 100 collects about every 10 MB allocated. At 400 a 50-task
	// BenchmarkLifecycle ran 1.45x as many domains a second on 0.7x the
	// CPU (1,465/s against 1,015/s, gctrace: 31 collections against 140).
	gcPercent = 400
	// gcSoftLimit bounds what that costs in memory: near it the collector
	// runs as often as it must again. It is a soft limit, far above a
	// supervisor's heap with hundreds of domains, and well inside a dom0
	// of 1 GiB or more.
	gcSoftLimit = 512 << 20
)

// TuneGC sets the collector for a process that runs the toolstack, trading
// heap growth for less collection; the environment's GOGC and GOMEMLIMIT,
// when set, win. It returns a function that restores what was there.
func TuneGC() (restore func()) {
	oldPercent, oldLimit := -2, int64(-1)
	if os.Getenv("GOGC") == "" {
		oldPercent = debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		oldLimit = debug.SetMemoryLimit(gcSoftLimit)
	}
	return func() {
		if oldPercent != -2 {
			debug.SetGCPercent(oldPercent)
		}
		if oldLimit >= 0 {
			debug.SetMemoryLimit(oldLimit)
		}
	}
}
