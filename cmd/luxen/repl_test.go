package main

import (
	"bytes"
	"strings"
	"testing"

	"luxen/bindings/host"
	"luxen/bindings/simxen"
	"luxen/toolstack"
)

func TestReplEvaluatesYieldingCallsAndMultiLineInput(t *testing.T) {
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	var out bytes.Buffer
	r, err := toolstack.New(toolstack.Options{Host: h, StateDir: t.TempDir(), Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t.Setenv("HOME", t.TempDir())
	in := strings.Join([]string{
		`xs.read("/local/domain/0/name")`,
		`for i = 1, 2 do`,
		`  print("line", i)`,
		`end`,
		`{ a = 1, b = { "x" } }`,
		`task.sleep(0.01); return "slept"`,
		`xs.read("/nope")`,
		`error("boom")`,
		`lifecycle.create({ name = "r1", memory = 32 })`,
		`domain.find("r1")`,
	}, "\n") + "\n"
	if err := repl(r, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{`"Domain-0"`, "line\t1\nline\t2", "{\n  a = 1,\n  b = {\n    \"x\"\n  }\n}",
		`"slept"`, "nil\t\"ENOENT\"\t\"/nope\"", "error: stdin:1: boom", "\n1\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("repl output lacks %q:\n%s", want, got)
		}
	}
}
