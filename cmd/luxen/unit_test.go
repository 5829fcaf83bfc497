package main

import (
	"os"
	"strings"
	"testing"

	"luxen/bindings/host"
)

// TestSystemdUnitMatchesTheHostsPlaces: the shipped unit runs a command
// luxen has, and gives it the directories a real host's state lives in.
func TestSystemdUnitMatchesTheHostsPlaces(t *testing.T) {
	b, err := os.ReadFile("../../dist/luxen-supervise.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			unit[k] = v
		}
	}
	exec := strings.Fields(unit["ExecStart"])
	if len(exec) != 2 || !strings.HasSuffix(exec[0], "/luxen") || find(exec[1]) == nil {
		t.Errorf("ExecStart=%q: want the luxen binary and one of its commands", unit["ExecStart"])
	}
	// systemd makes /var/lib/NAME and /run/NAME
	if "/var/lib/"+unit["StateDirectory"] != host.XenStateDir || "/run/"+unit["RuntimeDirectory"] != host.XenRuntimeDir {
		t.Errorf("StateDirectory=%s RuntimeDirectory=%s; the host keeps its state in %s and its socket in %s",
			unit["StateDirectory"], unit["RuntimeDirectory"], host.XenStateDir, host.XenRuntimeDir)
	}
	if unit["ConditionPathExists"] != host.PrivcmdPath {
		t.Errorf("ConditionPathExists=%s, want %s (real Xen only)", unit["ConditionPathExists"], host.PrivcmdPath)
	}
}
