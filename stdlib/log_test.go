package stdlib

import (
	"os"
	"strings"
	"testing"
)

func TestLinesGoToTheDomainLogInOneWrite(t *testing.T) {
	lg, err := NewLogger(t.TempDir(), nil, Warn)
	if err != nil {
		t.Fatal(err)
	}
	lg.Lines("web", "console: ", "Booting\r\n\nLUXEN-GUEST-UP\nlast line without newline")
	lg.Lines("../etc", "console: ", "never") // not a usable name: nothing written
	lg.Close()
	b, err := os.ReadFile(lg.DomainLogPath("web"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	want := []string{"console: Booting", "console: LUXEN-GUEST-UP", "console: last line without newline"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), b)
	}
	stamp := lines[0][:len("2006-01-02 15:04:05.000")]
	for i, l := range lines {
		if !strings.HasPrefix(l, stamp+" [info] ") || !strings.HasSuffix(l, want[i]) {
			t.Errorf("line %d: %q", i, l)
		}
	}
	if _, err := os.Stat(lg.DomainLogPath("../etc")); err == nil {
		t.Error("a log outside the directory")
	}
}
