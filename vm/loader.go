package vm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// installLoader replaces package.loaders with: preloaded (native) modules first,
// then the site's script directories, then the embedded scripts — a runtime path
// where a site overrides a shipped module by dropping in a file of the same name.
func (s *Scheduler) installLoader() {
	L := s.L
	pkg := L.GetGlobal("package").(*lua.LTable)
	old := pkg.RawGetString("loaders").(*lua.LTable)
	preload := old.RawGetInt(1)
	loaders := L.NewTable()
	loaders.Append(preload)
	loaders.Append(L.NewFunction(s.searchScripts))
	pkg.RawSetString("loaders", loaders)
	L.SetField(L.Get(lua.RegistryIndex), "_LOADERS", loaders)
	pkg.RawSetString("path", lua.LString(strings.Join(s.opts.ScriptDirs, ";")))
}

// Source finds a module's source: the first site directory that has it, else the
// embedded scripts. It returns the chunk name used in error messages.
func (s *Scheduler) Source(module string) (src []byte, chunk string, err error) {
	rel := strings.ReplaceAll(module, ".", "/") + ".lua"
	for _, dir := range s.opts.ScriptDirs {
		p := filepath.Join(dir, rel)
		b, err := os.ReadFile(p)
		if err == nil {
			return b, p, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, "", fmt.Errorf("module %s: %w", module, err)
		}
	}
	for _, fsys := range s.opts.Embedded {
		b, err := fs.ReadFile(fsys, rel)
		if err == nil {
			return b, rel, nil
		}
	}
	return nil, "", fs.ErrNotExist
}

func (s *Scheduler) searchScripts(L *lua.LState) int {
	name := L.CheckString(1)
	src, chunk, err := s.Source(name)
	if errors.Is(err, fs.ErrNotExist) {
		L.Push(lua.LString(fmt.Sprintf("\n\tno file '%s.lua' in %s or the embedded scripts",
			strings.ReplaceAll(name, ".", "/"), describeDirs(s.opts.ScriptDirs))))
		return 1
	}
	if err != nil {
		L.RaiseError("%v", err)
	}
	fn, err := L.Load(strings.NewReader(string(src)), chunk)
	if err != nil {
		L.RaiseError("%v", err)
	}
	L.Push(fn)
	return 1
}

func describeDirs(d []string) string {
	if len(d) == 0 {
		return "(no site script directory)"
	}
	return strings.Join(d, ", ")
}

// LoadFile compiles a script file (not a module) for running as a task.
func (s *Scheduler) LoadFile(path string) (*lua.LFunction, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return s.L.Load(strings.NewReader(string(b)), path)
}
