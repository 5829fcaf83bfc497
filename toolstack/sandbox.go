package toolstack

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Sandbox says what scripts may do beyond the toolstack's own modules. Policy
// scripts are site code run by root: by default they cannot run programs,
// open files outside the allowed paths, or load precompiled bytecode.
type Sandbox struct {
	Off  bool // no restrictions at all
	Exec bool // os.execute, io.popen, proc.run
	// Programs proc.run may run even without Exec: what hotplug needs.
	Programs []string
	Read     []string // path prefixes io.open, io.lines, dofile and loadfile may read
	Write    []string // path prefixes io.open may write, os.remove and os.rename may touch
}

// DefaultSandbox allows reading the state and script directories and what
// the shipped scripts read (xenconsoled's guest logs, /proc, /sys), and
// writing the state directory and /tmp.
func DefaultSandbox(state string, scriptDirs []string) Sandbox {
	read := append([]string{state, "/var/log/xen", "/proc", "/sys", "/dev/null", "/tmp"}, scriptDirs...)
	return Sandbox{Read: read, Write: []string{state, "/tmp"}, Programs: []string{"losetup", "ip", "stat"}}
}

// grants are the allowed prefixes, resolved (symlinks followed) once when
// the sandbox is applied: every io.open checks them, and following each
// prefix's links again each time was a stat per path component per prefix
// per open. A prefix that does not exist yet is resolved at each check until
// it does (a state directory made later).
type grants []grant

type grant struct {
	raw      string
	resolved string // "" until it resolves
}

func newGrants(prefixes []string) grants {
	gs := make(grants, 0, len(prefixes))
	for _, p := range prefixes {
		if p == "" {
			continue
		}
		g := grant{raw: p}
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			g.resolved = rp
		}
		gs = append(gs, g)
	}
	return gs
}

func (gs grants) allow(path string) bool {
	abs, err := filepath.Abs(path)
	if err != nil {
		return false
	}
	abs = resolved(abs)
	for i := range gs {
		p := gs[i].resolved
		if p == "" {
			p = gs[i].raw
			// one lstat says whether it exists yet; the walk that follows
			// its links only once it does
			if _, err := os.Lstat(p); err == nil {
				if rp, err := filepath.EvalSymlinks(p); err == nil {
					p = rp
					gs[i].resolved = rp
				}
			}
		}
		if abs == p || strings.HasPrefix(abs, strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// resolved is abs with its links followed: the path itself when it exists,
// else its directory (a file still to be created). When neither exists it
// stays as written: nothing can be opened, made or removed there, so no
// link in it can lead anywhere. Two lstats settle that case before any
// walk (xenconsoled's logs, which a simulated host has none of, are looked
// for at every create and destroy).
func resolved(abs string) string {
	if _, err := os.Lstat(abs); err == nil {
		if real, err := filepath.EvalSymlinks(abs); err == nil {
			return real
		}
		// a link to nothing: writing would make its target, wherever that
		// is; "" is under no prefix
		return ""
	}
	dir := filepath.Dir(abs)
	if _, err := os.Lstat(dir); err != nil {
		return abs
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return filepath.Join(real, filepath.Base(abs))
	}
	return abs
}

// apply installs the restrictions in L.
func (sb Sandbox) apply(L *lua.LState) {
	if sb.Off {
		return
	}
	deny := func(what string) *lua.LFunction {
		return L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("sandbox: %s is not allowed (grant exec in the site's configuration: --allow-exec or LUXEN_ALLOW_EXEC=1)", what)
			return 0
		})
	}
	osT := L.GetGlobal("os").(*lua.LTable)
	ioT := L.GetGlobal("io").(*lua.LTable)
	if !sb.Exec {
		osT.RawSetString("execute", deny("os.execute"))
		ioT.RawSetString("popen", deny("io.popen"))
	}
	osT.RawSetString("exit", deny("os.exit (it would end every task)"))
	guard := func(name string, orig lua.LValue, check func(L *lua.LState) error) *lua.LFunction {
		return L.NewFunction(func(L *lua.LState) int {
			if err := check(L); err != nil {
				L.RaiseError("sandbox: %s: %v", name, err)
			}
			top := L.GetTop()
			L.Push(orig)
			for i := 1; i <= top; i++ {
				L.Push(L.Get(i))
			}
			L.Call(top, lua.MultRet)
			return L.GetTop() - top
		})
	}
	read, writable := newGrants(sb.Read), newGrants(sb.Write)
	pathArg := func(write bool) func(L *lua.LState) error {
		return func(L *lua.LState) error {
			p := L.CheckString(1)
			mode := L.OptString(2, "r")
			w := write || strings.ContainsAny(mode, "wa+")
			switch {
			case w && !writable.allow(p):
				return fmt.Errorf("writing %s is not allowed", p)
			case !w && !read.allow(p):
				return fmt.Errorf("reading %s is not allowed", p)
			}
			return nil
		}
	}
	ioT.RawSetString("open", guard("io.open", ioT.RawGetString("open"), pathArg(false)))
	ioT.RawSetString("lines", guard("io.lines", ioT.RawGetString("lines"), func(L *lua.LState) error {
		if L.GetTop() == 0 {
			return nil
		}
		return pathArg(false)(L)
	}))
	osT.RawSetString("remove", guard("os.remove", osT.RawGetString("remove"), pathArg(true)))
	osT.RawSetString("rename", guard("os.rename", osT.RawGetString("rename"), func(L *lua.LState) error {
		if !writable.allow(L.CheckString(1)) || !writable.allow(L.CheckString(2)) {
			return fmt.Errorf("renaming %s to %s is not allowed", L.CheckString(1), L.CheckString(2))
		}
		return nil
	}))
	for _, f := range []string{"dofile", "loadfile"} {
		L.SetGlobal(f, guard(f, L.GetGlobal(f), func(L *lua.LState) error {
			if L.GetTop() == 0 {
				return fmt.Errorf("reading standard input is not allowed")
			}
			return pathArg(false)(L)
		}))
	}
	// precompiled chunks: gopher-lua cannot run them anyway; say so clearly
	noBytecode := func(L *lua.LState) error {
		if s, ok := L.Get(1).(lua.LString); ok && strings.HasPrefix(string(s), "\x1bLua") {
			return fmt.Errorf("loading precompiled bytecode is not allowed")
		}
		return nil
	}
	L.SetGlobal("loadstring", guard("loadstring", L.GetGlobal("loadstring"), noBytecode))
	L.SetGlobal("load", guard("load", L.GetGlobal("load"), noBytecode))
}
