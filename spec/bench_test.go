package spec

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack"
)

// cycles is Lua that makes n domains go through create and destroy with the
// shipped lifecycle scripts, from `workers` tasks at once.
const cycles = `
local lifecycle, task = require("lifecycle"), require("task")
local n, workers = ...
local ts = {}
for w = 1, workers do
  ts[w] = task.spawn(function()
    for i = w, n, workers do
      local name = "bench" .. w
      assert(lifecycle.create({ name = name, memory = 16 }))
      assert(lifecycle.destroy(name))
    end
  end)
end
for _, t in ipairs(ts) do assert(task.join(t)) end
`

// memoryDir is a fresh directory in memory (tmpfs) when the machine has one,
// else on the disk.
func memoryDir(b *testing.B) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "luxen-bench-")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}

func benchLifecycle(b *testing.B, workers int, stateDir string) {
	// the collector as a luxen process sets it
	defer toolstack.TuneGC()()
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: stateDir})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	fn, err := r.Sched.L.LoadString(cycles)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// the first create on a host makes the long-lived parents: not timed
	if err := r.RunFunc(ctx, "warm", fn, lua.LNumber(1), lua.LNumber(1)); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t0, cpu0 := time.Now(), processCPU(b)
	if err := r.RunFunc(ctx, "cycles", fn, lua.LNumber(b.N), lua.LNumber(workers)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "domains/s")
	// the process's CPU a lifecycle (every goroutine: scripts, xenstored,
	// the simulated hypervisor, GC): what another load on the machine
	// changes least, where domains/s moves with it
	b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}

// processCPU is the CPU (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLifecycle: domains created and destroyed per second on the
// embedded host through the full lifecycle scripts (records, skeleton,
// mtwatch, hypervisor, rollback bookkeeping), one at a time and from 50
// tasks at once. The state directory (the records) is in memory, where the
// toolstack's own cost is measured; "disk" keeps it in the test's temporary
// directory instead, which adds the file system's cost of creating, renaming
// and removing each record (an embedded host's records are not fsynced:
// see toolstack's stateFiles).
func BenchmarkLifecycle(b *testing.B) {
	b.Run("sequential", func(b *testing.B) { benchLifecycle(b, 1, memoryDir(b)) })
	b.Run("50-tasks", func(b *testing.B) { benchLifecycle(b, 50, memoryDir(b)) })
	b.Run("sequential-disk", func(b *testing.B) { benchLifecycle(b, 1, b.TempDir()) })
	b.Run("50-tasks-disk", func(b *testing.B) { benchLifecycle(b, 50, b.TempDir()) })
}
