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

	"luxen/meta"
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

-- help(): the modules' functions and signatures, from the LuaLS stubs
-- (__repl_stubs, filled in from Go: module -> { about, funcs = { name ->
-- { sig, doc, params, returns } }, order = { names } })
local function module_of(v)
  -- the stubbed module (or the function's module and key) v is, by identity
  local best
  for mname, mod in pairs(package.loaded) do
    if type(mod) == "table" and __repl_stubs[mname] then
      if mod == v then return mname end
      for k, f in pairs(mod) do
        if f == v and (not best or #mname < #best[1]) then best = { mname, k } end
      end
    end
  end
  if best then return best[1], best[2] end
end

local function show_func(f)
  print(f.sig)
  if f.doc ~= "" then print("  " .. f.doc) end
  for _, p in ipairs(f.params) do print("  param   " .. p) end
  for _, r in ipairs(f.returns) do print("  returns " .. r) end
end

local function show_module(mname)
  local m = __repl_stubs[mname]
  print(mname .. ": " .. m.about)
  for _, name in ipairs(m.order) do
    local f = m.funcs[name]
    local first = f.doc:match("^(.-%.)%s") or f.doc -- its first sentence
    print(string.format("  %-44s %s", f.sig, first))
  end
  print("help(" .. mname .. ".NAME) or help(\"" .. mname .. ".NAME\") for one function")
end

function help(what)
  if what == nil then
    print("help(module) lists a module's functions: help(xs), help(\"lifecycle\");")
    print("help(function) shows one: help(xs.read), help(\"xenstore.read\"). Modules:")
    local names = {}
    for n in pairs(__repl_stubs) do names[#names + 1] = n end
    table.sort(names)
    for _, n in ipairs(names) do print(string.format("  %-12s %s", n, __repl_stubs[n].about)) end
    return
  end
  local mname, key
  if type(what) == "string" then
    mname, key = what:match("^([%w_]+)[.:](.+)$")
    if not mname then mname = what end
  else
    mname, key = module_of(what)
  end
  local m = mname and __repl_stubs[mname]
  if not m then
    print("no help for " .. tostring(what) .. ": not a function or module luxen documents (help() lists them)")
    return
  end
  if not key then return show_module(mname) end
  local f = m.funcs[key]
  if not f then print("no function " .. key .. " in " .. mname .. " (help(\"" .. mname .. "\") lists them)"); return end
  show_func(f)
end

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
		s.L.SetGlobal("__repl_stubs", stubsTable(s.L))
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
	// what background tasks print or log while a line is being typed goes
	// through readline, which clears the prompt, writes, and draws it again
	doOnSched(func() { r.SetOutput(rl.Stdout(), rl.Stderr()) })
	defer doOnSched(func() { r.SetOutput(out, os.Stderr) })
	fmt.Fprintf(out, "luxen %s on the %s host. Lua with xs, xen, task, domain, lifecycle...; help() documents them. Ctrl-D leaves.\n", toolstack.Version, r.Host.Kind)
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

// stubsTable is the LuaLS stubs as a Lua table for help(): module ->
// { about, funcs = { key -> { sig, doc, params, returns } }, order }.
func stubsTable(L *lua.LState) *lua.LTable {
	strList := func(ss []string) *lua.LTable {
		t := L.CreateTable(len(ss), 0)
		for _, s := range ss {
			t.Append(lua.LString(s))
		}
		return t
	}
	all := L.NewTable()
	for _, m := range meta.Modules() {
		mt := L.NewTable()
		mt.RawSetString("about", lua.LString(m.About))
		funcs, order := L.NewTable(), L.NewTable()
		for _, f := range m.Funcs {
			ft := L.NewTable()
			ft.RawSetString("sig", lua.LString(f.Sig))
			ft.RawSetString("doc", lua.LString(f.Doc))
			ft.RawSetString("params", strList(f.Params))
			ft.RawSetString("returns", strList(f.Returns))
			funcs.RawSetString(f.Name, ft)
			order.Append(lua.LString(f.Name))
		}
		mt.RawSetString("funcs", funcs)
		mt.RawSetString("order", order)
		all.RawSetString(m.Name, mt)
	}
	return all
}
