package host

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A process is known by its pid and its start time (field 22 of
// /proc/PID/stat, in clock ticks since boot): a pid alone may have been
// given to another process since the one that wrote it died.

// ProcessStart is pid's start time, or "" if no such process runs. A zombie
// (killed, not yet reaped: a detached supervisor's parent is gone) does not.
func ProcessStart(pid int) string {
	if pid <= 0 {
		return ""
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// the command name (field 2) is in parentheses and may hold spaces
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(s[i+1:]) // from field 3 on
	if len(f) < 20 || f[0] == "Z" || f[0] == "X" {
		return ""
	}
	return f[19]
}

// ProcessAlive reports whether the process pid that started at start still
// runs; an empty start matches any process with that pid.
func ProcessAlive(pid int, start string) bool {
	now := ProcessStart(pid)
	return now != "" && (start == "" || now == start)
}

// Self is this process, as "PID START" (the form markers carry).
func Self() string { return strconv.Itoa(os.Getpid()) + " " + ProcessStart(os.Getpid()) }
