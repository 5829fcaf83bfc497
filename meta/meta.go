// Package meta holds the LuaLS stubs (---@meta files) of every module a
// script can require, and reads them back as documentation: the REPL's
// help() prints a module's functions and a function's signature from the
// same text an editor completes from, so the two cannot disagree.
package meta

import (
	"bufio"
	"embed"
	"regexp"
	"sort"
	"strings"
)

//go:embed *.lua
var files embed.FS

// Func is one documented function: its signature as a script calls it
// ("xenstore.read(path)", "Watch:wait(timeout)"), its summary and its
// ---@param and ---@return lines.
type Func struct {
	Name    string // the key in its module's table ("read"), or Class:method
	Sig     string
	Doc     string
	Params  []string // "path string", "timeout? number seconds"
	Returns []string // "string|nil value, string|nil errno"
}

// Module is one stub file: the module's name, what its header says, and
// its functions sorted by name.
type Module struct {
	Name  string
	About string
	Funcs []Func
}

// Func finds a function by its key (or Class:method).
func (m *Module) Func(name string) *Func {
	for i := range m.Funcs {
		if m.Funcs[i].Name == name {
			return &m.Funcs[i]
		}
	}
	return nil
}

var funcLine = regexp.MustCompile(`^function ([A-Za-z_][\w]*)([.:])([A-Za-z_]\w*)\(([^)]*)\)`)

// Modules reads every stub file; modules whose name begins with "_" (the
// natives behind a Lua module) are left out.
func Modules() []Module {
	ents, _ := files.ReadDir(".")
	var out []Module
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".lua") {
			continue
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			continue
		}
		if m := parse(string(b)); m.Name != "" && !strings.HasPrefix(m.Name, "_") {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// parse reads one stub file. The module's own table is the local the file
// returns (`return xenstore`); functions of other tables are methods of a
// class (`function Watch:wait`) and keep that prefix.
func parse(text string) Module {
	var m Module
	var own string
	var doc, params, returns []string
	var funcs []Func
	lines := []string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i := len(lines) - 1; i >= 0; i-- {
		if f := strings.Fields(lines[i]); len(f) == 2 && f[0] == "return" {
			own = f[1]
			break
		}
	}
	header := true
	var about []string
	reset := func() { doc, params, returns = nil, nil, nil }
	for _, l := range lines {
		t := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(t, "---@meta"):
			m.Name = strings.TrimSpace(strings.TrimPrefix(t, "---@meta"))
		case header && strings.HasPrefix(t, "-- "):
			about = append(about, strings.TrimPrefix(t, "-- "))
		case strings.HasPrefix(t, "---@param"):
			header = false
			params = append(params, strings.TrimSpace(strings.TrimPrefix(t, "---@param")))
		case strings.HasPrefix(t, "---@return"):
			header = false
			returns = append(returns, strings.TrimSpace(strings.TrimPrefix(t, "---@return")))
		case strings.HasPrefix(t, "---@"):
			header = false
		case strings.HasPrefix(t, "---"):
			header = false
			doc = append(doc, strings.TrimSpace(strings.TrimPrefix(t, "---")))
		default:
			header = header && t == "" || header && strings.HasPrefix(t, "local ")
			if fm := funcLine.FindStringSubmatch(t); fm != nil {
				name := fm[3]
				if fm[1] != own || fm[2] == ":" {
					name = fm[1] + fm[2] + fm[3]
				}
				sig := fm[1] + fm[2] + fm[3] + "(" + fm[4] + ")"
				funcs = append(funcs, Func{Name: name, Sig: sig, Doc: strings.Join(doc, " "), Params: params, Returns: returns})
			}
			reset()
		}
	}
	about2 := strings.Join(about, " ")
	about2 = strings.TrimPrefix(about2, "LuaLS stubs for ")
	m.About = about2
	// the module's own functions first, then the methods of its classes
	sort.SliceStable(funcs, func(i, j int) bool {
		mi, mj := strings.Contains(funcs[i].Name, ":"), strings.Contains(funcs[j].Name, ":")
		if mi != mj {
			return mj
		}
		return funcs[i].Name < funcs[j].Name
	})
	m.Funcs = funcs
	return m
}
