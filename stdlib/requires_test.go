package stdlib_test

// The shipped Lua modules require each other as a tree of layers: the
// editable scripts (package scripts) above the library (stdlib/lua) above the
// thin Lua halves of the native modules (bindings/lualib/lua) and the native
// modules themselves. A cycle makes load order matter (a module half-loaded
// when its partner asks for it) and hides which layer a site may edit without
// breaking the one below; a library module requiring a script module makes
// the library depend on what a site may replace. This test reads every
// shipped .lua file's requires, lazy ones inside functions included, and
// fails on both.

import (
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"testing"

	"luxen/scripts"
	"luxen/stdlib"
)

// layer is one set of shipped modules; a module may require modules of its
// own rank or lower.
type layer struct {
	name string
	rank int
	dir  string // in the repository, for messages
	fsys fs.FS
}

// layers, in the order the runtime searches them (toolstack's Embedded): a
// module name found in an earlier layer is the one that loads. The bindings'
// Lua is read from the directory lualib embeds (its lua/*.lua), not through
// lualib.Scripts: importing lualib would build every binding, and xenstored
// with them, to check a few requires.
func layers() []layer {
	return []layer{
		{"scripts", 2, "scripts", scripts.FS},
		{"stdlib", 1, "stdlib/lua", stdlib.Scripts},
		{"bindings", 0, "bindings/lualib/lua", os.DirFS("../bindings/lualib/lua")},
	}
}

// plugins are the requires whose module name is computed, by the module that
// makes them and the name's prefix: the devices engine finds a device class
// by its name (devices.vbd is scripts/devices/vbd.lua), the extension point
// a site adds a class through. Its edges to every shipped module under the
// prefix count for cycles but not for layering. Any other computed require
// fails the test: the graph could not be checked.
var plugins = map[string]string{
	"devices": "devices.",
}

type module struct {
	name, layer string
	rank        int
	file        string // its path in the repository
	requires    []string
	dynamic     []string // prefixes of computed requires ("" when none is known)
}

func loadModules(t *testing.T) map[string]*module {
	t.Helper()
	mods := map[string]*module{}
	for _, l := range layers() {
		err := fs.WalkDir(l.fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !strings.HasSuffix(path, ".lua") {
				return nil
			}
			src, err := fs.ReadFile(l.fsys, path)
			if err != nil {
				return err
			}
			name := strings.ReplaceAll(strings.TrimSuffix(path, ".lua"), "/", ".")
			file := l.dir + "/" + path
			if prev, ok := mods[name]; ok {
				t.Errorf("module %s is shipped twice: %s (the one that loads) and %s", name, prev.file, file)
				return nil
			}
			req, dyn, perr := luaRequires(string(src))
			if perr != nil {
				t.Errorf("%s: %v", file, perr)
			}
			mods[name] = &module{name: name, layer: l.name, rank: l.rank, file: file, requires: req, dynamic: dyn}
			return nil
		})
		if err != nil {
			t.Fatalf("reading the %s modules: %v", l.name, err)
		}
	}
	if len(mods) == 0 {
		t.Fatal("no shipped Lua modules found")
	}
	return mods
}

// edges are a module's requires of shipped modules (native ones are leaves),
// with its plugin edges; plugin[to] is set for the latter.
func edges(mods map[string]*module, m *module) (to []string, plugin map[string]bool) {
	plugin = map[string]bool{}
	seen := map[string]bool{}
	for _, r := range m.requires {
		if _, ok := mods[r]; ok && !seen[r] {
			seen[r] = true
			to = append(to, r)
		}
	}
	if prefix, ok := plugins[m.name]; ok {
		for name := range mods {
			if strings.HasPrefix(name, prefix) && !seen[name] {
				seen[name] = true
				plugin[name] = true
				to = append(to, name)
			}
		}
	}
	sort.Strings(to)
	return to, plugin
}

// cycles names the cycles among the modules: for every require edge u -> v
// that lies on some cycle, the shortest one through it, as "u -> v -> ... ->
// u", each cycle once (by its rotation starting at its least name), sorted.
func cycles(mods map[string]*module) []string {
	adj := map[string][]string{}
	for n, m := range mods {
		adj[n], _ = edges(mods, m)
	}
	// shortest path from -> to, by breadth-first search; nil if none
	path := func(from, to string) []string {
		prev := map[string]string{from: ""}
		queue := []string{from}
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			if n == to {
				var p []string
				for ; n != ""; n = prev[n] {
					p = append([]string{n}, p...)
				}
				return p
			}
			for _, next := range adj[n] {
				if _, seen := prev[next]; !seen {
					prev[next] = n
					queue = append(queue, next)
				}
			}
		}
		return nil
	}
	seen := map[string]bool{}
	var found []string
	for u, to := range adj {
		for _, v := range to {
			back := path(v, u)
			if back == nil {
				continue
			}
			ring := append([]string{u}, back[:len(back)-1]...) // u, v, ..., (not u again)
			least := 0
			for i, n := range ring {
				if n < ring[least] {
					least = i
				}
			}
			ring = append(ring[least:], ring[:least]...)
			c := strings.Join(append(ring, ring[0]), " -> ")
			if !seen[c] {
				seen[c] = true
				found = append(found, c)
			}
		}
	}
	sort.Strings(found)
	return found
}

// TestLuaRequiresFormATree: no cycle among the shipped modules' requires, and
// none from a lower layer to a higher one (stdlib or bindings requiring a
// script, bindings requiring stdlib).
func TestLuaRequiresFormATree(t *testing.T) {
	mods := loadModules(t)
	if testing.Verbose() { // the graph, for a reader of -v
		var lines []string
		for n, m := range mods {
			to, plugin := edges(mods, m)
			for i, r := range to {
				if plugin[r] {
					to[i] = r + " (plugin)"
				}
			}
			lines = append(lines, fmt.Sprintf("%s %s -> %s", m.layer, n, strings.Join(to, ", ")))
		}
		sort.Strings(lines)
		t.Log("shipped modules and the shipped modules they require:\n" + strings.Join(lines, "\n"))
	}
	for _, c := range cycles(mods) {
		t.Errorf("require cycle: %s", c)
	}
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		m := mods[n]
		for _, prefix := range m.dynamic {
			if want, ok := plugins[n]; !ok || want != prefix {
				t.Errorf("%s (%s) requires a computed module name (prefix %q): the require graph cannot be checked; "+
					"require a literal name, or declare the extension point in plugins", n, m.file, prefix)
			}
		}
		to, plugin := edges(mods, m)
		for _, r := range to {
			if plugin[r] {
				continue
			}
			if dep := mods[r]; dep.rank > m.rank {
				t.Errorf("%s (%s) requires %s (%s): the %s layer must not depend on the %s layer above it",
					n, m.file, r, dep.file, m.layer, dep.layer)
			}
		}
	}
}

// TestLuaRequiresParser: the reader finds each form of require and nothing
// in comments or strings.
func TestLuaRequiresParser(t *testing.T) {
	src := `
local a = require("a")
local b = require 'b'
local c = require "c.d"
local e = require [[e]]
local ok, f = pcall(require, "f")
-- local g = require("g")
--[[ require("h") ]]
--[==[ require("i") ]==]
local s = "require('j')" .. 'require("k")' .. [[require("l")]]
local function lazy() return require ( "m" ).x end
local t = {} t.require("n") t:require("o")
local dyn = pcall(require, "class." .. name)
`
	req, dyn, err := luaRequires(src)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(req, " "), "a b c.d e f m"; got != want {
		t.Errorf("requires: got %q, want %q", got, want)
	}
	if len(dyn) != 1 || dyn[0] != "class." {
		t.Errorf("computed requires: got %q, want [\"class.\"]", dyn)
	}
	if _, _, err := luaRequires(`local x = "unterminated`); err == nil {
		t.Error("an unterminated string is not an error")
	}
}

// token is a Lua token, as far as finding requires needs: names, strings
// (with their text), and punctuation ("..", "...", "::" and single characters).
type token struct {
	kind byte // 'n' name, 's' string, 'p' punctuation, 'o' other (numbers)
	text string
}

// luaRequires lists the modules src requires by a literal name, in order,
// and the prefixes of requires whose name is computed.
func luaRequires(src string) (req, dynamic []string, err error) {
	toks, err := luaTokens(src)
	if err != nil {
		return nil, nil, err
	}
	at := func(i int) token {
		if i < len(toks) {
			return toks[i]
		}
		return token{}
	}
	for i, tk := range toks {
		if tk.kind != 'n' || tk.text != "require" {
			continue
		}
		if p := at(i - 1); i > 0 && p.kind == 'p' && (p.text == "." || p.text == ":") {
			continue // a field of some table, not the global
		}
		j := i + 1
		if n := at(j); n.kind == 'p' && (n.text == "(" || n.text == ",") {
			j++ // require("x"), or pcall(require, "x")
		}
		arg := at(j)
		if arg.kind != 's' {
			dynamic = append(dynamic, "")
			continue
		}
		if n := at(j + 1); n.kind == 'p' && n.text == ".." {
			dynamic = append(dynamic, arg.text)
			continue
		}
		req = append(req, arg.text)
	}
	return req, dynamic, nil
}

func luaTokens(src string) ([]token, error) {
	var out []token
	line := 1
	// longBracket reads [[...]] or [=*[...]=*] at i; ok is false if there is none
	longBracket := func(i int) (text string, end int, ok bool, err error) {
		if i >= len(src) || src[i] != '[' {
			return "", i, false, nil
		}
		j := i + 1
		for j < len(src) && src[j] == '=' {
			j++
		}
		if j >= len(src) || src[j] != '[' {
			return "", i, false, nil
		}
		closer := "]" + strings.Repeat("=", j-i-1) + "]"
		k := strings.Index(src[j+1:], closer)
		if k < 0 {
			return "", i, true, fmt.Errorf("line %d: unterminated long bracket", line)
		}
		text = src[j+1 : j+1+k]
		return text, j + 1 + k + len(closer), true, nil
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "--"):
			text, end, ok, err := longBracket(i + 2)
			if err != nil {
				return nil, err
			}
			if ok {
				line += strings.Count(text, "\n")
				i = end
				continue
			}
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(src) && src[j] != c; j++ {
				if src[j] == '\n' {
					return nil, fmt.Errorf("line %d: unterminated string", line)
				}
				if src[j] == '\\' && j+1 < len(src) {
					j++
					if src[j] == '\n' {
						line++
					}
				}
				b.WriteByte(src[j])
			}
			if j >= len(src) {
				return nil, fmt.Errorf("line %d: unterminated string", line)
			}
			out = append(out, token{'s', b.String()})
			i = j + 1
		case c == '[':
			text, end, ok, err := longBracket(i)
			if err != nil {
				return nil, err
			}
			if ok {
				line += strings.Count(text, "\n")
				out = append(out, token{'s', text})
				i = end
				continue
			}
			out = append(out, token{'p', "["})
			i++
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(src) && (src[j] == '_' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z' || src[j] >= '0' && src[j] <= '9') {
				j++
			}
			out = append(out, token{'n', src[i:j]})
			i = j
		case c >= '0' && c <= '9':
			// a number, hex and exponents included; "1..2" does not occur in
			// the shipped files, and a stray "." here only ends up as 'o'
			j := i
			for j < len(src) && (src[j] == '.' && !strings.HasPrefix(src[j:], "..") || src[j] == '_' ||
				src[j] >= '0' && src[j] <= '9' || src[j] >= 'a' && src[j] <= 'z' || src[j] >= 'A' && src[j] <= 'Z') {
				j++
			}
			out = append(out, token{'o', src[i:j]})
			i = j
		default:
			p := string(c)
			for _, multi := range []string{"...", "..", "::"} {
				if strings.HasPrefix(src[i:], multi) {
					p = multi
					break
				}
			}
			out = append(out, token{'p', p})
			i += len(p)
		}
	}
	return out, nil
}
