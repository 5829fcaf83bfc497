package spec

import (
	"context"
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

func benchLifecycle(b *testing.B, workers int) {
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: b.TempDir()})
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
	t0 := time.Now()
	if err := r.RunFunc(ctx, "cycles", fn, lua.LNumber(b.N), lua.LNumber(workers)); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "domains/s")
}

// BenchmarkLifecycle: domains created and destroyed per second on the
// embedded host through the full lifecycle scripts (records, skeleton,
// mtwatch, hypervisor, rollback bookkeeping), one at a time and from 50
// tasks at once.
func BenchmarkLifecycle(b *testing.B) {
	b.Run("sequential", func(b *testing.B) { benchLifecycle(b, 1) })
	b.Run("50-tasks", func(b *testing.B) { benchLifecycle(b, 50) })
}
