package xenlab

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU points the harness at a shell script standing in for QEMU.
func fakeQEMU(t *testing.T, script string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	oldProg, oldStall := qemuProgram, bootStall
	qemuProgram, bootStall = p, 1500*time.Millisecond
	t.Cleanup(func() { qemuProgram, bootStall = oldProg, oldStall })
}

// TestABootThatStallsIsBootedAgain: a boot silent for bootStall before
// LAB-BEGIN is killed (at once, not at the group's timeout), the serial log
// says so, and the second boot's script runs; a script that is slow after
// LAB-BEGIN is left alone.
func TestABootThatStallsIsBootedAgain(t *testing.T) {
	dir := t.TempDir()
	fakeQEMU(t, `
if [ ! -e `+dir+`/booted ]; then
  touch `+dir+`/booted
  echo "(XEN) Xen version 4.17"; echo "[    4.02] sched_clock: Marking stable"
  exec sleep 60
fi
echo "(XEN) Xen version 4.17"; echo LAB-BEGIN; sleep 1; echo "the script's line"; echo "LAB-END rc=3"
`)
	var serial bytes.Buffer
	l := &Lab{}
	start := time.Now()
	res, err := l.bootAgainOnStall(context.Background(), nil, filepath.Join(dir, "mon.sock"), &serial, "serial.log")
	if err != nil {
		t.Fatalf("%v\n%s", err, serial.String())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("took %v: the stalled boot was not killed", took)
	}
	if res.RC != 3 || res.Output != "the script's line\n" || res.BootStalls != 1 {
		t.Fatalf("rc %d, output %q, %d stalls", res.RC, res.Output, res.BootStalls)
	}
	log := serial.String()
	for _, want := range []string{"Marking stable\nXENLAB: no serial output for 1.5s before LAB-BEGIN; the vCPUs:\n(QEMU's monitor:",
		"XENLAB: booting again, attempt 2 of 2\n(XEN) Xen version 4.17\nLAB-BEGIN"} {
		if !strings.Contains(log, want) {
			t.Fatalf("serial log lacks %q:\n%s", want, log)
		}
	}
}

// TestABootThatStallsTwiceFails: the second stall is an error naming it.
func TestABootThatStallsTwiceFails(t *testing.T) {
	fakeQEMU(t, `echo "(XEN) Xen version 4.17"; exec sleep 60`)
	var serial bytes.Buffer
	res, err := (&Lab{}).bootAgainOnStall(context.Background(), nil, filepath.Join(t.TempDir(), "mon.sock"), &serial, "serial.log")
	if err == nil || !strings.Contains(err.Error(), "the boot stalled") || res.BootStalls != 2 || res.RC != 99 {
		t.Fatalf("err %v, result %+v", err, res)
	}
}
