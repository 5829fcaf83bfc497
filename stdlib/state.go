package stdlib

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"luxen/stdlib/luajson"
)

// stateFiles gives scripts the state directory and nothing else: paths are
// relative to it and may not climb out of it. Writes are atomic (temp file and
// rename), so a crash never leaves half a record.
type stateFiles struct{ root string }

func (s stateFiles) path(rel string) (string, error) {
	if rel == "" || filepath.IsAbs(rel) {
		return "", fmt.Errorf("state path %q must be relative to the state directory", rel)
	}
	clean := filepath.Clean(rel)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("state path %q leaves the state directory", rel)
	}
	return filepath.Join(s.root, clean), nil
}

func (s stateFiles) write(rel, data string) error {
	p, err := s.path(rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	tmp.Close()
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

func newUUID() string {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func (s stateFiles) register(mod *lua.LTable, L *lua.LState) {
	fail := func(L *lua.LState, err error) int {
		L.Push(lua.LNil)
		if errors.Is(err, fs.ErrNotExist) {
			L.Push(lua.LString("ENOENT"))
		} else {
			L.Push(lua.LString(err.Error()))
		}
		return 2
	}
	mod.RawSetString("uuid", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LString(newUUID())); return 1 }))
	mod.RawSetString("pid", lua.LNumber(os.Getpid()))
	// crashpoint(name): a test hook. When $LUXEN_CRASH_AT names this point the
	// process ends at once, as kill -9 would end it there: no cleanup runs.
	mod.RawSetString("crashpoint", L.NewFunction(func(L *lua.LState) int {
		if at := os.Getenv("LUXEN_CRASH_AT"); at != "" && at == L.CheckString(1) {
			os.Exit(137)
		}
		return 0
	}))
	// stat(path) -> {size=, dir=} | nil, err : whether a file exists (any path;
	// reading it is another matter, see the sandbox)
	mod.RawSetString("stat", L.NewFunction(func(L *lua.LState) int {
		st, err := os.Stat(L.CheckString(1))
		if err != nil {
			return fail(L, err)
		}
		t := L.NewTable()
		t.RawSetString("size", lua.LNumber(st.Size()))
		t.RawSetString("dir", lua.LBool(st.IsDir()))
		L.Push(t)
		return 1
	}))
	mod.RawSetString("state_write", L.NewFunction(func(L *lua.LState) int {
		if _, err := s.path(L.CheckString(1)); err != nil {
			L.ArgError(1, err.Error()) // a path outside the state directory is misuse
		}
		if err := s.write(L.CheckString(1), L.CheckString(2)); err != nil {
			return fail(L, err)
		}
		L.Push(lua.LTrue)
		return 1
	}))
	mod.RawSetString("state_read", L.NewFunction(func(L *lua.LState) int {
		p, err := s.path(L.CheckString(1))
		if err != nil {
			L.ArgError(1, err.Error())
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fail(L, err)
		}
		L.Push(lua.LString(b))
		return 1
	}))
	mod.RawSetString("state_remove", L.NewFunction(func(L *lua.LState) int {
		p, err := s.path(L.CheckString(1))
		if err != nil {
			L.ArgError(1, err.Error())
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(L, err)
		}
		L.Push(lua.LTrue)
		return 1
	}))
	mod.RawSetString("state_list", L.NewFunction(func(L *lua.LState) int {
		p, err := s.path(L.CheckString(1))
		if err != nil {
			L.ArgError(1, err.Error())
		}
		es, err := os.ReadDir(p)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(L, err)
		}
		var names []string
		for _, e := range es {
			if !strings.HasPrefix(e.Name(), ".") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		L.Push(luajson.FromGo(L, names))
		return 1
	}))
}
