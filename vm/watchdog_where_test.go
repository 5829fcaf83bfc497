package vm

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestWatchdogNamesTheUsersLine: wherever a runaway loop spins — at the top
// of the chunk, in a function the chunk calls, inside pcall, xpcall, a
// coroutine or coroutine.wrap — the watchdog's report names the script's
// file and the loop's line, never the prelude (whose pcall and resume are
// what the interrupted loop unwinds through).
func TestWatchdogNamesTheUsersLine(t *testing.T) {
	cases := []struct {
		name, src string
		lines     string // the lines the loop may be interrupted at
	}{
		{"chunk", "local x = 0\nwhile true do\n  x = x + 1\nend\n", "234"},
		{"function", "local function spin()\n  local x = 0\n  while true do x = x + 1 end\nend\nspin()\n", "3"},
		{"pcall", "local ok, err = pcall(function()\n  local x = 0\n  while true do x = x + 1 end\nend)\nreturn ok, err\n", "3"},
		{"pcall-then-loop", "local ok = pcall(function()\n  local x = 0\n  while true do x = x + 1 end\nend)\nwhile true do end\n", "3"},
		{"xpcall", "local ok = xpcall(function()\n  local x = 0\n  while true do x = x + 1 end\nend, function(e) return e end)\nreturn ok\n", "3"},
		{"nested pcall", "pcall(function()\n  pcall(function()\n    while true do end\n  end)\nend)\n", "3"},
		{"coroutine", "local co = coroutine.create(function()\n  local x = 0\n  while true do x = x + 1 end\nend)\nreturn coroutine.resume(co)\n", "3"},
		{"wrap", "local f = coroutine.wrap(function()\n  local x = 0\n  while true do x = x + 1 end\nend)\nf()\n", "3"},
		// most of this loop's time is spent in the prelude's pcall
		{"pcall in a loop", "local function f() end\nwhile true do\n  pcall(f)\nend\n", "1234"},
	}
	for _, c := range cases {
		c := c
		t.Run(c.name, func(t *testing.T) {
			var reports []string
			s := newSched(t, Options{Watchdog: 200 * time.Millisecond, Report: func(m string) { reports = append(reports, m) }})
			fn, err := s.L.Load(strings.NewReader(c.src), "user.lua")
			if err != nil {
				t.Fatal(err)
			}
			task := s.Spawn("spinner", "domain:web1", fn)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.RunTask(ctx, task)
			if task.Err() == nil {
				t.Fatal("spinning task was not interrupted")
			}
			msg := task.Err().Error()
			// the first line is the report; a traceback may follow
			head := strings.SplitN(msg, "\n", 2)[0]
			if !strings.Contains(head, "watchdog") || !strings.Contains(head, "interrupted at user.lua:") {
				t.Errorf("report names %q, not the user's file and line:\n%s", head, msg)
			}
			if !regexp.MustCompile(`interrupted at user\.lua:[` + c.lines + `]$`).MatchString(head) {
				t.Errorf("report names another line than the loop's (%s): %s", c.lines, head)
			}
			if strings.Contains(head, "prelude") {
				t.Errorf("report names the prelude: %s", head)
			}
			// the first report is the watchdog's (an unjoined task's failure follows it)
			if len(reports) == 0 || reports[0] != head {
				t.Errorf("reports %q do not start with %q", reports, head)
			}
		})
	}
}
