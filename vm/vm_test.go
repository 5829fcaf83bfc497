package vm

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// run executes src as a task and returns its results as strings.
func run(t *testing.T, s *Scheduler, src string) []string {
	t.Helper()
	fn, err := s.L.LoadString(src)
	if err != nil {
		t.Fatal(err)
	}
	task := s.Spawn("test", "", fn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.RunTask(ctx, task); err != nil {
		t.Fatalf("run: %v", err)
	}
	if task.Err() != nil {
		t.Fatalf("task failed: %v", task.Err())
	}
	var out []string
	for _, v := range task.Results() {
		out = append(out, lua.LVAsString(v))
	}
	return out
}

func newSched(t *testing.T, opts Options) *Scheduler {
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func TestBlockingInsidePcallAndTailCalls(t *testing.T) {
	s := newSched(t, Options{})
	got := run(t, s, `
		local task = require("task")
		local function nap() return task.sleep(0.01) end  -- tail call of a blocking binding
		local ok = pcall(function() nap(); nap() end)
		local co = coroutine.wrap(function() nap(); coroutine.yield("gen1"); nap(); return "gen2" end)
		local a, b = co(), co()
		local ok2, err = pcall(function() nap(); error("boom") end)
		return tostring(ok), a, b, tostring(ok2), tostring(err):match("boom")`)
	want := []string{"true", "gen1", "gen2", "false", "boom"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestTasksRunConcurrently(t *testing.T) {
	s := newSched(t, Options{})
	start := time.Now()
	got := run(t, s, `
		local task = require("task")
		local ts = {}
		for i = 1, 200 do ts[i] = task.spawn(function(i) task.sleep(0.2); return i * 2 end, i) end
		local sum = 0
		for i = 1, 200 do local ok, v = task.join(ts[i]); sum = sum + v end
		return sum`)
	if got[0] != "40200" {
		t.Fatalf("sum = %v", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("200 sleeping tasks took %v: they did not overlap", d)
	}
}

func TestTimeoutCancelsAndGroups(t *testing.T) {
	s := newSched(t, Options{})
	got := run(t, s, `
		local task = require("task")
		local ok, err = task.timeout(0.05, function() task.sleep(10) end)
		local ok2, v = task.timeout(1, function() task.sleep(0.01); return "fast" end)
		local a = task.spawn_in("domain:a", "a1", function() task.sleep(10) end)
		local b = task.spawn_in("domain:a", "a2", function() task.sleep(10) end)
		local c = task.spawn_in("domain:c", "c1", function() task.sleep(0.01); return "c" end)
		task.yield()
		local n = task.cancel_group("domain:a")
		local okc, vc = task.join(c)
		local oka, ea = task.join(a)
		local okj, ej = task.join(task.spawn(function() task.sleep(10) end), 0.02)
		return tostring(ok), err, v, n, vc, tostring(oka), ej`)
	want := "false,timeout,fast,2,c,false,timeout"
	if strings.Join(got, ",") != want {
		t.Fatalf("got %v want %s", got, want)
	}
}

func TestWatchdogNamesTheStuckTask(t *testing.T) {
	var reports []string
	s := newSched(t, Options{Watchdog: 200 * time.Millisecond, Report: func(m string) { reports = append(reports, m) }})
	fn, _ := s.L.Load(strings.NewReader("local task = require('task')\nlocal x = 0\nwhile true do\n  x = x + 1\nend\n"), "spin.lua")
	stuck := s.Spawn("spinner", "domain:web1", fn)
	other, _ := s.L.LoadString(`return "other ran"`)
	ok := s.Spawn("other", "", other)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.RunTask(ctx, stuck)
	<-ok.Done()
	if stuck.Err() == nil {
		t.Fatal("spinning task was not interrupted")
	}
	msg := stuck.Err().Error()
	for _, want := range []string{"watchdog", `"spinner"`, "domain:web1", "spin.lua:"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report %q lacks %q", msg, want)
		}
	}
	if len(reports) == 0 {
		t.Error("nothing reported")
	}
}

// TestWatchdogSparesAStarvedTask: a task whose process gets no CPU (here:
// a Go call that sleeps, burning none) is not a runaway, however long the
// clock says it ran; under ten creates at once on two CPUs that is every
// luxen process now and then.
func TestWatchdogSparesAStarvedTask(t *testing.T) {
	s := newSched(t, Options{Watchdog: 200 * time.Millisecond})
	s.L.SetGlobal("starve", s.L.NewFunction(func(L *lua.LState) int {
		time.Sleep(700 * time.Millisecond)
		return 0
	}))
	fn, _ := s.L.Load(strings.NewReader("starve()\nlocal x = 0\nfor i = 1, 1000 do x = x + i end\nreturn x"), "starved.lua")
	task := s.Spawn("starved", "", fn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.RunTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	if err := task.Err(); err != nil {
		t.Fatalf("a task that burnt no CPU was interrupted: %v", err)
	}
}

func TestSiteScriptsOverrideEmbedded(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "policies"), 0o755)
	os.WriteFile(filepath.Join(dir, "policies", "restart.lua"), []byte(`return { who = "site" }`), 0o644)
	emb := fstest.MapFS{
		"policies/restart.lua": {Data: []byte(`return { who = "shipped" }`)},
		"lifecycle.lua":        {Data: []byte(`return { who = "shipped lifecycle" }`)},
	}
	s := newSched(t, Options{ScriptDirs: []string{dir}, Embedded: []fs.FS{emb}})
	got := run(t, s, `return require("policies.restart").who, require("lifecycle").who`)
	if got[0] != "site" || got[1] != "shipped lifecycle" {
		t.Fatalf("got %v", got)
	}
}

// TestDumpNamesTheLineInsidePcall: a task waiting inside pcall (where every
// supervisor loop waits) is shown at its script's line, not at the prelude's
// resume loop, and its chain is forgotten when it is cancelled there.
func TestDumpNamesTheLineInsidePcall(t *testing.T) {
	s := newSched(t, Options{})
	waiter, _ := s.L.Load(strings.NewReader("local task = require('task')\nlocal ok = pcall(function()\n  task.sleep(30)\nend)\n"), "waiter.lua")
	w := s.Spawn("waiter", "domain:db", waiter)
	probe, _ := s.L.Load(strings.NewReader("local task = require('task')\ntask.sleep(0.05)\nreturn task.dump()"), "probe.lua")
	p := s.Spawn("probe", "", probe)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.RunTask(ctx, p); err != nil {
		t.Fatal(err)
	}
	dump := lua.LVAsString(p.Results()[0])
	if !regexp.MustCompile(`"waiter" \(domain:db\) waiting at waiter\.lua:3`).MatchString(dump) {
		t.Fatalf("dump does not place the waiter at waiter.lua:3:\n%s", dump)
	}
	s.Cancel(w, "test")
	n := 0
	s.inner.ForEach(func(_, _ lua.LValue) { n++ })
	if n != 0 {
		t.Fatalf("%d chain entries left after the waiter was cancelled", n)
	}
}

// TestReusedCoroutinesServeTheirNewTask: finished tasks' threads and pcall's
// coroutines are reused; one made under a task that has since ended (its
// context cancelled) runs the next task's code to the end, and a task
// cancelled or interrupted while in a reused one is stopped all the same.
func TestReusedCoroutinesServeTheirNewTask(t *testing.T) {
	s := newSched(t, Options{Watchdog: 300 * time.Millisecond})
	got := run(t, s, `
		local task = require("task")
		local a = task.spawn(function() return pcall(function() return "a" end) end)
		local _, okA, va = task.join(a)
		-- a's thread and its pcall coroutine are free again: b gets them
		local b = task.spawn(function()
			return pcall(function() task.sleep(0.01) return "b slept" end)
		end)
		local _, okB, vb = task.join(b)
		local c = task.spawn(function() pcall(function() task.sleep(10) end) end)
		task.sleep(0.01)
		task.cancel(c)
		local d = task.spawn(function() return select(2, pcall(function() return "d" end)) end)
		local _, vd = task.join(d)
		return tostring(okA) .. va, tostring(okB) .. vb, c:status(), vd`)
	if want := []string{"truea", "trueb slept", "failed", "d"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
	// the watchdog reaches a spin inside a reused pcall coroutine
	fn, _ := s.L.Load(strings.NewReader("local ok, e = pcall(function() while true do end end)\nerror(e, 0)\n"), "spin.lua")
	spin := s.Spawn("spinner", "", fn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.RunTask(ctx, spin)
	if spin.Err() == nil || !strings.Contains(spin.Err().Error(), "watchdog") {
		t.Fatalf("spin in a reused pcall coroutine: %v", spin.Err())
	}
}

// Lua 5.1's string.match returns nil when nothing matches; gopher-lua's
// returns nothing, which breaks tonumber(s:match(...)) (the load spec did).
func TestStringMatchGivesNilWhenNothingMatches(t *testing.T) {
	s := newSched(t, Options{})
	got := run(t, s, `
		return select("#", ("warm"):match("%d+$")), tostring(tonumber(("warm"):match("%d+$"))),
			("a12"):match("(%a)(%d+)"), select("#", string.match("a12", "(%a)(%d+)"))`)
	want := []string{"1", "nil", "a", "2"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v want %v", got, want)
	}
}
