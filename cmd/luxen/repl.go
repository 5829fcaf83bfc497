package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/chzyer/readline"
	lua "github.com/yuin/gopher-lua"

	"luxen/toolstack"
)

// replPrelude runs once: it preloads the common modules as globals and defines
// the evaluator that runs each line as a task and pretty-prints its values.
const replPrelude = `
xs = require("xenstore"); xen = require("xen"); task = require("task")
log = require("log"); json = require("json"); config = require("config")
domain = require("domain"); lifecycle = require("lifecycle"); evtchn = require("evtchn")
local ok, s = pcall(require, "sim"); if ok then sim = s end

local function pretty(v, indent, seen)
  indent = indent or ""
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  seen = seen or {}
  if seen[v] then return "<cycle>" end
  seen[v] = true
  local keys, n = {}, #v
  for k in pairs(v) do
    if not (type(k) == "number" and k >= 1 and k <= n and k == math.floor(k)) then keys[#keys + 1] = k end
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  if n == 0 and #keys == 0 then return "{}" end
  local inner, parts = indent .. "  ", {}
  for i = 1, n do parts[#parts + 1] = inner .. pretty(v[i], inner, seen) end
  for _, k in ipairs(keys) do
    local ks = (type(k) == "string" and k:match("^[%a_][%w_]*$")) and k or ("[" .. pretty(k, inner, seen) .. "]")
    parts[#parts + 1] = inner .. ks .. " = " .. pretty(v[k], inner, seen)
  end
  seen[v] = nil
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end
__repl_pretty = pretty

function __repl_eval(fn)
  local r = { n = 0 }
  local ok, err = pcall(function()
    local function keep(...) r = { n = select("#", ...), ... } end
    keep(fn())
  end)
  -- error({code = 1}) shows the table, as lua(1) would not but a user wants
  if not ok then print("error: " .. (type(err) == "table" and pretty(err) or tostring(err))); return end
  local out = {}
  for i = 1, r.n do out[#out + 1] = pretty(r[i]) end
  if #out > 0 then print(table.concat(out, "\t")) end
end
`

func cmdRepl(g *globals, args []string) error {
	if len(args) > 0 {
		return usagef("repl takes no arguments")
	}
	// not inSession: Ctrl-C at the prompt cancels a line, not the REPL
	s, err := openSession(context.Background(), g)
	if err != nil {
		return err
	}
	defer s.close()
	return s.withRuntime("", nil, func(r *toolstack.Runtime) error { return repl(r, os.Stdin, os.Stdout) })
}

// eval compiles src as an expression (return ...) or else as statements. An
// error at end of input means the chunk is incomplete: more lines are needed.
func compile(L *lua.LState, src string) (fn *lua.LFunction, incomplete bool, err error) {
	fn, rerr := L.Load(strings.NewReader("return "+src), "stdin")
	if rerr == nil {
		return fn, false, nil
	}
	fn, err = L.Load(strings.NewReader(src), "stdin")
	// an expression cut short ("1 +") ends early as an expression, a
	// statement ("for i = 1, 2 do") as a chunk: either continues
	if err != nil && (strings.Contains(err.Error(), "EOF") || strings.Contains(rerr.Error(), "EOF")) {
		return nil, true, err
	}
	return fn, false, err
}

func repl(r *toolstack.Runtime, in io.Reader, out io.Writer) error {
	s := r.Sched
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, false)

	// doOnSched runs f on the scheduler goroutine and waits.
	doOnSched := func(f func()) {
		done := make(chan struct{})
		s.Post(func() { f(); close(done) })
		<-done
	}
	var initErr error
	doOnSched(func() {
		initErr = s.L.DoString(replPrelude)
	})
	if initErr != nil {
		return fmt.Errorf("repl: %w", initErr)
	}
	home, _ := os.UserHomeDir()
	rl, err := readline.NewEx(&readline.Config{
		Prompt:          "> ",
		HistoryFile:     filepath.Join(home, ".luxen_history"),
		AutoComplete:    &completer{r: r, do: doOnSched},
		InterruptPrompt: "^C",
		EOFPrompt:       "",
		Stdin:           io.NopCloser(in),
		Stdout:          out,
	})
	if err != nil {
		return err
	}
	defer rl.Close()
	fmt.Fprintf(out, "luxen %s on the %s host. Lua with xs, xen, task, domain, lifecycle... Ctrl-D leaves.\n", toolstack.Version, r.Host.Kind)
	var buf []string
	for {
		if len(buf) == 0 {
			rl.SetPrompt("> ")
		} else {
			rl.SetPrompt(">> ")
		}
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			buf = nil
			continue
		}
		if err != nil { // io.EOF
			return nil
		}
		buf = append(buf, line)
		src := strings.Join(buf, "\n")
		if strings.TrimSpace(src) == "" {
			buf = nil
			continue
		}
		var fn *lua.LFunction
		var incomplete bool
		var cerr error
		doOnSched(func() { fn, incomplete, cerr = compile(s.L, src) })
		if incomplete {
			continue
		}
		buf = nil
		if cerr != nil {
			fmt.Fprintln(out, "error:", cerr)
			continue
		}
		runLine(r, fn, doOnSched, out)
	}
}

// runLine runs one compiled line as a task; Ctrl-C cancels it.
func runLine(r *toolstack.Runtime, fn *lua.LFunction, doOnSched func(func()), out io.Writer) {
	s := r.Sched
	var done <-chan struct{}
	var cancelTask func()
	doOnSched(func() {
		eval := s.L.GetGlobal("__repl_eval")
		t := s.Spawn("repl", "", eval.(*lua.LFunction), fn)
		t.Watched()
		done = t.Done()
		// Stop reaches a loop that never yields; Cancel (on the scheduler
		// goroutine) one waiting on an operation
		cancelTask = func() { t.Stop("interrupted"); s.Post(func() { s.Cancel(t, "interrupted") }) }
	})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	select {
	case <-done:
	case <-sig:
		cancelTask()
		fmt.Fprintln(out, "interrupted")
		select {
		case <-done:
		case <-time.After(time.Second):
		}
	}
}

// completer completes global names and the fields of tables (and of userdata
// methods) in a dotted or colon chain: "xs.re" -> read, read_or.
type completer struct {
	r  *toolstack.Runtime
	do func(func())
}

var chainRe = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*(?:[.:][A-Za-z_][A-Za-z0-9_]*)*[.:]?)$`)

func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	m := chainRe.FindString(string(line[:pos]))
	if m == "" {
		return nil, 0
	}
	sep := strings.LastIndexAny(m, ".:")
	var path []string
	prefix := m
	if sep >= 0 {
		path = strings.FieldsFunc(m[:sep], func(r rune) bool { return r == '.' || r == ':' })
		prefix = m[sep+1:]
	}
	var names []string
	done := make(chan struct{})
	go c.do(func() {
		defer close(done)
		names = fieldNames(c.r.Sched.L, path)
	})
	select {
	case <-done:
	case <-time.After(300 * time.Millisecond):
		return nil, 0
	}
	var out [][]rune
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			out = append(out, []rune(n[len(prefix):]))
		}
	}
	return out, len([]rune(prefix))
}

// fieldNames lists the keys reachable at path from the globals.
func fieldNames(L *lua.LState, path []string) []string {
	var v lua.LValue = L.G.Global
	for _, p := range path {
		v = index(L, v, p)
		if v == lua.LNil {
			return nil
		}
	}
	seen := map[string]bool{}
	collect := func(t *lua.LTable) {
		t.ForEach(func(k, _ lua.LValue) {
			if s, ok := k.(lua.LString); ok && !strings.HasPrefix(string(s), "__") {
				seen[string(s)] = true
			}
		})
	}
	switch x := v.(type) {
	case *lua.LTable:
		collect(x)
	case *lua.LUserData:
		if mt, ok := x.Metatable.(*lua.LTable); ok {
			if idx, ok := mt.RawGetString("__index").(*lua.LTable); ok {
				collect(idx)
			}
		}
	}
	return sortedKeys(seen)
}

func index(L *lua.LState, v lua.LValue, k string) lua.LValue {
	switch x := v.(type) {
	case *lua.LTable:
		return x.RawGetString(k)
	case *lua.LUserData:
		if mt, ok := x.Metatable.(*lua.LTable); ok {
			if idx, ok := mt.RawGetString("__index").(*lua.LTable); ok {
				return idx.RawGetString(k)
			}
		}
	}
	return lua.LNil
}

// sortedKeys is used by the REPL's completion.
func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
