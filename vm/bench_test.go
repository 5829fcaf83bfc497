package vm

import (
	"context"
	"runtime"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

func runBench(b *testing.B, s *Scheduler, src string, args ...lua.LValue) {
	fn, err := s.L.LoadString(src)
	if err != nil {
		b.Fatal(err)
	}
	t := s.Spawn("bench", "", fn, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := s.RunTask(ctx, t); err != nil || t.Err() != nil {
		b.Fatal(err, t.Err())
	}
}

// BenchmarkSpawnYieldResume: one task spawned, yielding once, joined.
func BenchmarkSpawnYieldResume(b *testing.B) {
	s, _ := New(Options{})
	defer s.Close()
	b.ResetTimer()
	runBench(b, s, `
		local task = require("task")
		local n = ...
		for i = 1, n do
			local t = task.spawn(function() task.yield() return i end)
			task.join(t)
		end`, lua.LNumber(b.N))
}

// BenchmarkYieldResume is yield and resume alone: one task that yields b.N
// times (task.yield: back to the scheduler, which resumes it), no spawn.
func BenchmarkYieldResume(b *testing.B) {
	s, _ := New(Options{})
	defer s.Close()
	b.ResetTimer()
	runBench(b, s, `
		local task = require("task")
		local n = ...
		for i = 1, n do task.yield() end`, lua.LNumber(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkCoroutineYieldResume is a plain coroutine.yield at task level,
// which the scheduler also answers by resuming the task.
func BenchmarkCoroutineYieldResume(b *testing.B) {
	s, _ := New(Options{})
	defer s.Close()
	b.ResetTimer()
	runBench(b, s, `
		local n = ...
		for i = 1, n do coroutine.yield() end`, lua.LNumber(b.N))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkSpawnFirstResume is a task spawned and run to its end: spawn and
// first resume, no yield (the parent joins once, after all of them).
func BenchmarkSpawnFirstResume(b *testing.B) {
	s, _ := New(Options{Watchdog: time.Hour}) // spawning never yields the parent
	defer s.Close()
	b.ResetTimer()
	runBench(b, s, `
		local task = require("task")
		local n = ...
		local last
		for i = 1, n do
			last = task.spawn(function() return i end)
			if i % 100 == 0 then task.join(last) end -- let them run
		end
		task.join(last)`, lua.LNumber(b.N))
}

// BenchmarkTenThousandTasks reports the memory 10,000 live (sleeping) tasks hold.
func BenchmarkTenThousandTasks(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s, _ := New(Options{Watchdog: 10 * time.Second})
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		runBench(b, s, `
			local task = require("task")
			local ts = {}
			for i = 1, 10000 do ts[i] = task.spawn(function() task.sleep(0.5) end) end
			task.sleep(0.1)
			collectgarbage()
			_G.held = ts`)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/10000, "bytes/task")
		s.Close()
	}
}

// BenchmarkBindingCall is the cost of calling a Go function from Lua.
func BenchmarkBindingCall(b *testing.B) {
	s, _ := New(Options{Watchdog: time.Hour}) // a tight loop that never yields, on purpose
	defer s.Close()
	s.L.SetGlobal("nop", s.L.NewFunction(func(L *lua.LState) int { L.Push(L.Get(1)); return 1 }))
	b.ResetTimer()
	runBench(b, s, `local n = ... local nop = nop for i = 1, n do nop(i) end`, lua.LNumber(b.N))
}

// BenchmarkAsyncBindingCall is a blocking binding's round trip: start work on
// a goroutine, yield, resume with the result.
func BenchmarkAsyncBindingCall(b *testing.B) {
	s, _ := New(Options{})
	defer s.Close()
	s.L.SetGlobal("anop", s.Blocking(func(L *lua.LState) int {
		return Async(L, func(context.Context) Result { return nil })
	}))
	b.ResetTimer()
	runBench(b, s, `local n = ... for i = 1, n do anop() end`, lua.LNumber(b.N))
}
