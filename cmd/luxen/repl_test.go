package main

import (
	"bytes"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack"
)

func TestReplEvaluatesYieldingCallsAndMultiLineInput(t *testing.T) {
	got := replOutput(t, []string{
		`xs.read("/local/domain/0/name")`,
		`for i = 1, 2 do`,
		`  print("line", i)`,
		`end`,
		`{ a = 1, b = { "x" } }`,
		`task.sleep(0.01); return "slept"`,
		`xs.read("/nope")`,
		`error("boom")`,
		`error({ code = 1 })`,
		`1 +`,
		`2`,
		`lifecycle.create({ name = "r1", memory = 32 })`,
		`domain.find("r1")`,
		`xs.write("/a")`,
		`task.sleep("soon")`,
	})
	for _, want := range []string{`"Domain-0"`, "line\t1\nline\t2", "{\n  a = 1,\n  b = {\n    \"x\"\n  }\n}",
		`"slept"`, "nil\t\"ENOENT\"\t\"/nope\"", "error: stdin:1: boom", "error: {\n  code = 1\n}", "\n3\n", "\n1\n",
		// a binding's misuse names the function and counts as the script does
		// (a line's call is a tail call, "return xs.write(...)": no frame of its own)
		"error: xenstore.write: bad argument #2 (string expected, got nil)",
		"error: task.sleep: bad argument #1 (number expected, got string)"} {
		if !strings.Contains(got, want) {
			t.Errorf("repl output lacks %q:\n%s", want, got)
		}
	}
}

// replOutput is what the REPL prints for lines typed on the embedded host.
func replOutput(t *testing.T, lines []string) string {
	t.Helper()
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	var out bytes.Buffer
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: t.TempDir(), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Setenv("HOME", t.TempDir())
	if err := repl(r, strings.NewReader(strings.Join(lines, "\n")+"\n"), &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// Ctrl-C stops a line that runs Lua without ever yielding at once (not after
// the watchdog's limit), and the prompt goes on with the next line.
func TestReplCtrlCStopsARunawayLoop(t *testing.T) {
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	var out bytes.Buffer
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: t.TempDir(), Stdout: &out, Watchdog: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Setenv("HOME", t.TempDir())
	// SIGINT goes to this channel too, so it never ends the test process
	keep := make(chan os.Signal, 1)
	signal.Notify(keep, os.Interrupt)
	defer signal.Stop(keep)
	go func() {
		time.Sleep(500 * time.Millisecond)
		syscall.Kill(os.Getpid(), syscall.SIGINT)
	}()
	start := time.Now()
	in := "while true do end\nprint('after', 1 + 1)\n"
	if err := repl(r, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("the loop ran %v: Ctrl-C did not stop it", took)
	}
	got := out.String()
	if !strings.Contains(got, "interrupted") || !strings.Contains(got, "after\t2") || strings.Contains(got, "watchdog") {
		t.Fatalf("repl output:\n%s", got)
	}
}

// help() prints what the LuaLS stubs say: a module's functions, a function's
// signature, parameters and results, found by value or by name.
func TestReplHelpFromTheStubs(t *testing.T) {
	got := replOutput(t, []string{`help()`, `help(xs.read)`, `help(lifecycle)`, `help("xenstore.transaction")`,
		`help(print)`, `help("xenstore.nope")`, `local w = help; return 1`})
	for _, want := range []string{
		"  xenstore     require(\"xenstore\")",
		"xenstore.read(path)\n  param   path string\n  returns string|nil value, string|nil errno, string|nil path\n",
		"lifecycle: require(\"lifecycle\") (scripts/lifecycle.lua, editable)",
		"  lifecycle.rename(target, new_name)",
		"xenstore.transaction(fn)\n  Run fn(t) in a transaction",
		"no help for function: 0x",
		"no function nope in xenstore",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("help output lacks %q:\n%s", want, got)
		}
	}
}
