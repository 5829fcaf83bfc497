// Package stdlib holds the library modules scripts require (log, json, time,
// sync, config) and assembles a complete luxen runtime: scheduler, bindings,
// library and scripts.
package stdlib

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/vm"
)

// Level orders log messages.
type Level int

// Levels.
const (
	Debug Level = iota
	Info
	Warn
	Error
)

var levelNames = []string{"debug", "info", "warn", "error"}

// Logger writes the main log and one log per domain under dir. Writes go
// through a goroutine so a slow disk never holds the scheduler.
type Logger struct {
	dir   string
	echo  io.Writer
	echoL Level

	mu    sync.Mutex
	level Level
	ch    chan logEntry
	done  chan struct{}
	files map[string]*os.File // written only by the writer goroutine
	errs  []error
}

type logEntry struct {
	file  string // "" for the main log only
	line  string
	flush chan struct{}
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// NewLogger logs under dir (created if missing); messages at echoLevel and
// above are also written to echo (stderr, for the CLI).
func NewLogger(dir string, echo io.Writer, echoLevel Level) (*Logger, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	l := &Logger{dir: dir, echo: echo, echoL: echoLevel, level: Info, ch: make(chan logEntry, 4096),
		done: make(chan struct{}), files: map[string]*os.File{}}
	go l.writer()
	return l, nil
}

// Dir is where logs go.
func (l *Logger) Dir() string { return l.dir }

// DomainLogPath is the file of one domain's log.
func (l *Logger) DomainLogPath(name string) string { return filepath.Join(l.dir, name+".log") }

func (l *Logger) writer() {
	defer close(l.done)
	for e := range l.ch {
		if e.flush != nil {
			close(e.flush)
			continue
		}
		for _, name := range []string{"luxen", e.file} {
			if name == "" {
				continue
			}
			f := l.files[name]
			if f == nil {
				var err error
				f, err = os.OpenFile(filepath.Join(l.dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
				if err != nil {
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
					continue
				}
				l.files[name] = f
			}
			line := e.line
			if name == "luxen" && e.file != "" {
				line = strings.Replace(line, "] ", "] ["+e.file+"] ", 1)
			}
			f.WriteString(line)
		}
	}
	for _, f := range l.files {
		f.Close()
	}
}

// Log records a message, in domain's log too when domain is not "".
func (l *Logger) Log(level Level, domain, msg string) {
	l.mu.Lock()
	min, echo := l.level, l.echo
	l.mu.Unlock()
	if level < min {
		return
	}
	if domain != "" && !safeName.MatchString(domain) {
		domain = "" // never let a name pick a file outside the log directory
	}
	line := fmt.Sprintf("%s [%s] %s\n", time.Now().Format("2006-01-02 15:04:05.000"), levelNames[level], msg)
	l.ch <- logEntry{file: domain, line: line}
	if echo != nil && level >= l.echoL {
		prefix := levelNames[level] + ": "
		if domain != "" {
			prefix += domain + ": "
		}
		fmt.Fprint(echo, prefix+msg+"\n")
	}
}

// SetEcho changes where echoed messages go (the REPL's prompt-aware
// writer, so a background task's message does not garble the line being
// typed).
func (l *Logger) SetEcho(w io.Writer) {
	l.mu.Lock()
	l.echo = w
	l.mu.Unlock()
}

// Lines records every line of text (split at \n and \r, empty lines left
// out) at level info in domain's log, each with prefix, under one timestamp
// and in one write: a guest's console copied at its destroy is hundreds of
// lines, and a message each was most of a destroy's time under emulation.
func (l *Logger) Lines(domain, prefix, text string) {
	l.mu.Lock()
	min := l.level
	l.mu.Unlock()
	if Info < min || domain == "" || !safeName.MatchString(domain) {
		return
	}
	head := time.Now().Format("2006-01-02 15:04:05.000") + " [" + levelNames[Info] + "] " + prefix
	var b strings.Builder
	for _, line := range strings.FieldsFunc(text, func(r rune) bool { return r == '\n' || r == '\r' }) {
		b.WriteString(head)
		b.WriteString(line)
		b.WriteByte('\n')
	}
	if b.Len() > 0 {
		l.ch <- logEntry{file: domain, line: b.String()}
	}
}

// Flush waits until everything logged so far is written.
func (l *Logger) Flush() {
	ch := make(chan struct{})
	l.ch <- logEntry{flush: ch}
	<-ch
}

// Close flushes and closes the files.
func (l *Logger) Close() {
	close(l.ch)
	<-l.done
}

// domainOfGroup maps a task group "domain:NAME" to NAME.
func domainOfGroup(g string) string {
	if strings.HasPrefix(g, "domain:") {
		return g[len("domain:"):]
	}
	return ""
}

// format applies string.format when there is more than one argument.
func format(L *lua.LState, from int) string {
	n := L.GetTop()
	if n < from {
		return ""
	}
	if n == from {
		return lua.LVAsString(L.ToStringMeta(L.Get(from)))
	}
	sf := L.GetField(L.GetGlobal("string"), "format")
	args := make([]lua.LValue, 0, n-from+1)
	for i := from; i <= n; i++ {
		args = append(args, L.Get(i))
	}
	if err := L.CallByParam(lua.P{Fn: sf, NRet: 1, Protect: true}, args...); err != nil {
		L.RaiseError("log: bad format: %v", err)
	}
	s := L.Get(-1)
	L.Pop(1)
	return lua.LVAsString(s)
}

// OpenLog registers "log":
//
//	local log = require("log")
//	log.info(fmt, ...) / log.warn / log.error / log.debug
//	    (inside a domain's task group the message also goes to that domain's log)
//	log.domain(name) -> logger with the same methods, always to name's log
//	log.set_level("debug"|"info"|"warn"|"error") ; log.dir() ; log.path(name)
func OpenLog(s *vm.Scheduler, lg *Logger) {
	s.L.PreloadModule("log", func(L *lua.LState) int {
		mk := func(level Level, fixed string, self bool) lua.LGFunction {
			return func(L *lua.LState) int {
				from := 1
				dom := fixed
				if self {
					// dlog.info(...) and dlog:info(...) both work
					if _, isSelf := L.Get(1).(*lua.LTable); isSelf {
						from = 2
					}
				} else if t := s.Current(); t != nil {
					dom = domainOfGroup(t.Group)
				}
				lg.Log(level, dom, format(L, from))
				return 0
			}
		}
		mod := L.NewTable()
		for i, n := range levelNames {
			mod.RawSetString(n, L.NewFunction(mk(Level(i), "", false)))
		}
		mod.RawSetString("domain", L.NewFunction(func(L *lua.LState) int {
			name := L.CheckString(1)
			if !safeName.MatchString(name) {
				L.ArgError(1, "domain name not usable as a log file name")
			}
			t := L.NewTable()
			for i, n := range levelNames {
				t.RawSetString(n, L.NewFunction(mk(Level(i), name, true)))
			}
			// dlog.lines(text [, prefix]): each line of text, at info
			t.RawSetString("lines", L.NewFunction(func(L *lua.LState) int {
				from := 1
				if _, isSelf := L.Get(1).(*lua.LTable); isSelf {
					from = 2
				}
				lg.Lines(name, L.OptString(from+1, ""), L.CheckString(from))
				return 0
			}))
			t.RawSetString("path", lua.LString(lg.DomainLogPath(name)))
			L.Push(t)
			return 1
		}))
		mod.RawSetString("set_level", L.NewFunction(func(L *lua.LState) int {
			name := L.CheckString(1)
			for i, n := range levelNames {
				if n == name {
					lg.mu.Lock()
					lg.level = Level(i)
					lg.mu.Unlock()
					return 0
				}
			}
			L.ArgError(1, "level must be debug, info, warn or error")
			return 0
		}))
		mod.RawSetString("dir", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LString(lg.dir)); return 1 }))
		mod.RawSetString("path", L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LString(lg.DomainLogPath(L.CheckString(1))))
			return 1
		}))
		L.Push(mod)
		return 1
	})
}
