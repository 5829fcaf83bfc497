package meta

import (
	"strings"
	"testing"
)

// Every function a stub file declares is read back, with its parameters and
// results, and under its module's name.
func TestEveryStubbedFunctionIsRead(t *testing.T) {
	mods := Modules()
	if len(mods) < 15 {
		t.Fatalf("%d modules read", len(mods))
	}
	for _, m := range mods {
		b, err := files.ReadFile(m.Name + ".lua")
		if err != nil {
			t.Fatalf("module %s: %v", m.Name, err)
		}
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "function ") {
				n++
			}
		}
		if n != len(m.Funcs) {
			t.Errorf("%s: %d functions declared, %d read", m.Name, n, len(m.Funcs))
		}
	}
	var xs *Module
	for i := range mods {
		if mods[i].Name == "xenstore" {
			xs = &mods[i]
		}
	}
	if xs == nil {
		t.Fatal("no xenstore module")
	}
	f := xs.Func("write")
	if f == nil || f.Sig != "xenstore.write(path, value)" || len(f.Params) != 2 || len(f.Returns) != 1 {
		t.Fatalf("xenstore.write read as %+v", f)
	}
	if w := xs.Func("Watch:wait"); w == nil || !strings.HasPrefix(w.Doc, "Wait for the next event") {
		t.Fatalf("Watch:wait read as %+v", w)
	}
}
