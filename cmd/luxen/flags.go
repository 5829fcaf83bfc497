package main

import (
	"flag"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// globals are the options every command takes.
type globals struct {
	host      string
	scripts   multiFlag
	state     string
	verbose   bool
	allowExec bool
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ":") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ownFlags are global option spellings a command uses for a flag of its
// own once its name has been given (xl list -v is the verbose list).
var ownFlags = map[string]map[string]bool{
	"list": {"-v": true, "--verbose": true},
}

// splitGlobals takes the global options out of args wherever they are.
func splitGlobals(args []string) (*globals, []string, error) {
	g := &globals{}
	// the global options that take a value, and where each value goes
	valued := map[string]func(string){
		"--host":    func(v string) { g.host = v },
		"--scripts": func(v string) { g.scripts = append(g.scripts, v) },
		"--state":   func(v string) { g.state = v },
	}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, inline := strings.Cut(a, "=")
		if set := valued["--"+strings.TrimLeft(name, "-")]; set != nil && strings.HasPrefix(name, "-") {
			if !inline {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("%s needs a value", a)
				}
				i++
				value = args[i]
			}
			set(value)
			continue
		}
		if len(rest) > 0 && ownFlags[rest[0]][a] {
			rest = append(rest, a)
			continue
		}
		switch a {
		case "-v", "--verbose":
			g.verbose = true
		case "--allow-exec":
			g.allowExec = true
		case "--":
			return g, append(rest, args[i:]...), nil
		default:
			rest = append(rest, a)
			if rest[0] == "run" && len(rest) >= 2 {
				// everything after run's FILE belongs to the script
				return g, append(rest, args[i+1:]...), nil
			}
		}
	}
	return g, rest, nil
}

type usageError struct{ error }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func strs(ss []string) *lua.LTable {
	t := &lua.LTable{}
	for _, s := range ss {
		t.Append(lua.LString(s))
	}
	return t
}

func oneTarget(fs *flag.FlagSet, args []string) (string, error) {
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return "", err
	}
	if len(pos) != 1 {
		return "", usagef("expected one domain name or id")
	}
	return pos[0], nil
}

// parseAnywhere parses a command's flags before, between or after its
// positional arguments, as xl's getopt does ("create web.cfg -p"), and
// returns the positional ones; after "--" everything is positional.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err}
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		i := 0
		for i < len(rest) && !(len(rest[i]) > 1 && rest[i][0] == '-') {
			i++
		}
		pos = append(pos, rest[:i]...)
		if i == len(rest) {
			return pos, nil
		}
		args = rest[i:]
	}
}
