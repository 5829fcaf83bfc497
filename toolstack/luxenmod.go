package toolstack

// The luxen module: what scripts know of their place (the host kind, the
// state and runtime directories, the host-wide xenstore nodes, this
// process) and the state directory's files, which only it may touch.

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	lua "github.com/yuin/gopher-lua"
	"golang.org/x/sys/unix"

	"luxen/bindings/host"
	"luxen/bindings/savestream"
	"luxen/stdlib/luajson"
	"luxen/vm"
)

// stateFiles gives scripts the state directory and nothing else: paths are
// relative to it and may not climb out of it. Writes are atomic (temp file,
// fsync, rename), so a crash never leaves half a record.
//
// The fsync is for a host that outlives this process (real Xen, a served
// simulated host): its domains are still there after a crash, and their
// records must be too. An embedded host's domains end with the process, and
// its state directory belongs to that host alone (STATE/host refuses it to
// any other), so no record of it is ever read after a crash: its writes
// skip the fsync (still atomic, so no reader in the process sees half a
// record), which on a disk is most of a create's time.
type stateFiles struct {
	root    string
	queue   *pathQueue
	durable bool // fsync every write (the host outlives this process)
}

// pathQueue runs the state directory's writes and removes off the scheduler
// goroutine (a write is fsynced: milliseconds on a busy disk, and that
// goroutine runs every domain's scripts), one path at a time and in the order
// scripts asked, so a later write of a record never loses to an earlier one.
type pathQueue struct {
	mu   sync.Mutex
	jobs map[string][]func()
}

// do queues job for path; it must be called in the order the jobs were
// asked for (on the scheduler goroutine).
func (q *pathQueue) do(path string, job func()) {
	q.mu.Lock()
	pending := len(q.jobs[path])
	q.jobs[path] = append(q.jobs[path], job)
	q.mu.Unlock()
	if pending > 0 {
		return // the worker already draining this path will run it
	}
	go func() {
		for {
			q.mu.Lock()
			next := q.jobs[path][0]
			q.mu.Unlock()
			next()
			q.mu.Lock()
			rest := q.jobs[path][1:]
			if len(rest) == 0 {
				delete(q.jobs, path)
				q.mu.Unlock()
				return
			}
			q.jobs[path] = rest
			q.mu.Unlock()
		}
	}()
}

// queued runs op on path's queue and resumes the calling task with its
// outcome; the call itself returns the pending marker.
func (s stateFiles) queued(L *lua.LState, path string, op func() error, fail func(error) vm.Result) int {
	done := make(chan error, 1)
	s.queue.do(path, func() { done <- op() })
	return vm.Async(L, func(ctx context.Context) vm.Result {
		err := <-done // even if the task is cancelled, the write completes
		if err != nil {
			return fail(err)
		}
		return func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LTrue} }
	})
}

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
	return writeAtomic(p, data, s.durable)
}

// userdataName is what libxl names a domain's userdata file.
var userdataName = regexp.MustCompile(`^userdata-d\.[0-9]+\.[0-9a-f-]{36}\.[a-z-]+$`)

// writeAtomic writes path whole or not at all, mode 0600 (CreateTemp's):
// a temporary file beside it, renamed over it; synced first when durable.
func writeAtomic(path, data string, durable bool) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if _, err := tmp.WriteString(data); err != nil {
		return fail(err)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// LibxlDir is libxl's directory on a real Xen host (LIBXL_RUNDIR's
// userdata files: each domain's stored config, which xl list -l, xl save
// and xl config-update read).
const LibxlDir = "/var/lib/xen"

// libxlDir is where this host's libxl userdata files go: libxl's own
// directory on real Xen, the state directory's libxl/ on a simulated host
// (which has no libxl, and whose domains die with it).
func libxlDir(o Options) string {
	if o.Host != nil && o.Host.Kind == host.KindXen {
		return LibxlDir
	}
	d := filepath.Join(o.StateDir, "libxl")
	os.MkdirAll(d, 0o755) // a failure shows when a file is written there
	return d
}

// openLuxen registers "luxen".
func (r *Runtime) openLuxen(o Options) {
	state := &pathQueue{jobs: map[string][]func(){}}
	r.Sched.L.PreloadModule("luxen", func(L *lua.LState) int {
		mod := L.NewTable()
		mod.RawSetString("version", lua.LString(Version))
		mod.RawSetString("state_dir", lua.LString(o.StateDir))
		mod.RawSetString("runtime_dir", lua.LString(o.RuntimeDir))
		libxlDir := libxlDir(o)
		mod.RawSetString("libxl_dir", lua.LString(libxlDir))
		nodes := L.NewTable()
		nodes.RawSetString("state_dir", lua.LString(host.StateDirNode))
		nodes.RawSetString("supervisor", lua.LString(host.SupervisorNode))
		nodes.RawSetString("creating", lua.LString(host.CreatingNode))
		nodes.RawSetString("saving", lua.LString(host.SavingNode))
		mod.RawSetString("nodes", nodes)
		mod.RawSetString("host", lua.LString(o.Host.Kind))
		// uname(2) of the machine luxen runs on (dom0 on real Xen), as xl info prints it
		var u unix.Utsname
		if unix.Uname(&u) == nil {
			un := L.NewTable()
			for k, v := range map[string][]byte{"sysname": u.Sysname[:], "nodename": u.Nodename[:],
				"release": u.Release[:], "version": u.Version[:], "machine": u.Machine[:]} {
				un.RawSetString(k, lua.LString(unix.ByteSliceToString(v)))
			}
			mod.RawSetString("uname", un)
		}
		// progress(msg): what the task is waiting for now ("" when it is over),
		// for the progress line of the terminal that asked for the work (the
		// client of a supervisor's request, or this CLI); nothing without one
		mod.RawSetString("progress", L.NewFunction(func(L *lua.LState) int {
			msg := L.OptString(1, "")
			if t := r.Sched.Current(); t != nil && t.Progress != nil {
				t.Progress(msg)
			} else if r.progress != nil {
				r.progress(msg)
			}
			return 0
		}))
		args := L.NewTable()
		for _, a := range o.Args {
			args.Append(lua.LString(a))
		}
		mod.RawSetString("args", args)
		mod.RawSetString("script_dir", lua.LString(o.ScriptDir))
		// at_close(fn): fn runs (as a task, errors logged) when this Lua
		// state is closed, even if the script that gave it has ended
		mod.RawSetString("at_close", L.NewFunction(func(L *lua.LState) int {
			r.atClose.Append(L.CheckFunction(1))
			return 0
		}))
		stateFiles{root: o.StateDir, queue: state, durable: o.Host.Embedded == nil}.register(mod, L)
		// libxl_store(name, text): a userdata file in libxl's directory, as
		// libxl writes one: mode 0600, whole or not at all (a temporary file
		// renamed over it). Only userdata-d.* names: this is not a general write.
		mod.RawSetString("libxl_store", vm.Of(L).Blocking(func(L *lua.LState) int {
			name, data := L.CheckString(1), L.CheckString(2)
			if !userdataName.MatchString(name) {
				L.ArgError(1, fmt.Sprintf("%q is not a libxl userdata file name (userdata-d.DOMID.UUID.KEY)", name))
			}
			return vm.Async(L, func(context.Context) vm.Result {
				if err := writeAtomic(filepath.Join(libxlDir, name), data, false); err != nil {
					return func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LNil, lua.LString(err.Error())} }
				}
				return func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LTrue} }
			})
		}))

		// save_info(path) -> summary | nil, err: an xl save file (or a
		// migration stream kept in a file) read whole and checked as Xen's
		// verify-stream-v2 checks it, restoring nothing
		mod.RawSetString("save_info", vm.Of(L).Blocking(func(L *lua.LState) int {
			path := L.CheckString(1)
			return vm.Async(L, func(context.Context) vm.Result {
				sum, err := scanSaveFile(path)
				if err != nil {
					return func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LNil, lua.LString(err.Error())} }
				}
				return func(L *lua.LState) []lua.LValue { return []lua.LValue{saveInfoTable(L, sum)} }
			})
		}))

		// save_config(path) -> json | nil, err: only the config in a save
		// file's xl header (what a restore starts from, before it reads
		// the rest)
		mod.RawSetString("save_config", vm.Of(L).Blocking(func(L *lua.LState) int {
			path := L.CheckString(1)
			return vm.Async(L, func(context.Context) vm.Result {
				cfg, err := saveFileConfig(path)
				if err != nil {
					return func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LNil, lua.LString(err.Error())} }
				}
				return func(L *lua.LState) []lua.LValue { return []lua.LValue{lua.LString(cfg)} }
			})
		}))

		L.Push(mod)
		return 1
	})
}

func saveFileConfig(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	// exactly the header: the path may be a migration's connection, whose
	// stream a restore reads on from there
	h, err := savestream.ReadXLHeader(f)
	if err != nil {
		return "", err
	}
	if h.MandatoryFlags&savestream.XLFlagJSON == 0 {
		return "", fmt.Errorf("%s: the config in its header is not JSON (xl before 4.6)", path)
	}
	return strings.TrimRight(string(h.Config), "\x00"), nil
}

func scanSaveFile(path string) (savestream.Summary, error) {
	f, err := os.Open(path)
	if err != nil {
		return savestream.Summary{}, err
	}
	defer f.Close()
	return savestream.Scan(f)
}

func saveInfoTable(L *lua.LState, s savestream.Summary) *lua.LTable {
	t := L.NewTable()
	t.RawSetString("config", lua.LString(strings.TrimRight(string(s.XL.Config), "\x00")))
	t.RawSetString("domain_type", lua.LString(s.Domain.Type.String()))
	t.RawSetString("xen", lua.LString(fmt.Sprintf("%d.%d", s.Domain.XenMajor, s.Domain.XenMinor)))
	t.RawSetString("image_version", lua.LNumber(s.ImageVersion))
	t.RawSetString("pfns", lua.LNumber(s.PFNs))
	t.RawSetString("pages", lua.LNumber(s.Pages))
	t.RawSetString("max_pfn", lua.LNumber(s.MaxPFN))
	t.RawSetString("bytes", lua.LNumber(s.Bytes))
	recs := L.NewTable()
	for rt, n := range s.Records {
		recs.RawSetString(rt.String(), lua.LNumber(n))
	}
	t.RawSetString("records", recs)
	libxl := L.NewTable()
	for _, lt := range s.Libxl {
		libxl.Append(lua.LString(lt.String()))
	}
	t.RawSetString("libxl", libxl)
	params := L.NewTable()
	for _, p := range s.Params {
		params.RawSetInt(int(p.Index), lua.LNumber(p.Value))
	}
	t.RawSetString("params", params)
	return t
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
	mod.RawSetString("pid_start", lua.LString(host.ProcessStart(os.Getpid())))
	mod.RawSetString("uid", lua.LNumber(os.Geteuid()))
	// alive(pid [, start]) -> bool: that process still runs (and, given its
	// start time, is the same process, not a later one with a reused pid)
	mod.RawSetString("alive", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LBool(host.ProcessAlive(L.CheckInt(1), L.OptString(2, ""))))
		return 1
	}))
	// crashpoint(name): a test hook. When $LUXEN_CRASH_AT names this point the
	// process ends at once, as kill -9 would end it there: no cleanup runs.
	mod.RawSetString("crashpoint", L.NewFunction(func(L *lua.LState) int {
		if at := os.Getenv("LUXEN_CRASH_AT"); at != "" && at == L.CheckString(1) {
			os.Exit(137)
		}
		return 0
	}))
	// user(name) -> {name=, uid=, gid=} | nil, err : an account of this host
	// (the device model's -runas user, as libxl looks it up)
	mod.RawSetString("user", L.NewFunction(func(L *lua.LState) int {
		u, err := user.Lookup(L.CheckString(1))
		if err != nil {
			return fail(L, err)
		}
		t := L.NewTable()
		t.RawSetString("name", lua.LString(u.Username))
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		t.RawSetString("uid", lua.LNumber(uid))
		t.RawSetString("gid", lua.LNumber(gid))
		L.Push(t)
		return 1
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
	failResult := func(err error) vm.Result {
		return func(L *lua.LState) []lua.LValue {
			if errors.Is(err, fs.ErrNotExist) {
				return []lua.LValue{lua.LNil, lua.LString("ENOENT")}
			}
			return []lua.LValue{lua.LNil, lua.LString(err.Error())}
		}
	}
	sched := vm.Of(L)
	mod.RawSetString("state_write", sched.Blocking(func(L *lua.LState) int {
		rel, data := L.CheckString(1), L.CheckString(2)
		p, err := s.path(rel)
		if err != nil {
			L.ArgError(1, err.Error()) // a path outside the state directory is misuse
		}
		return s.queued(L, p, func() error { return s.write(rel, data) }, failResult)
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
	mod.RawSetString("state_remove", sched.Blocking(func(L *lua.LState) int {
		p, err := s.path(L.CheckString(1))
		if err != nil {
			L.ArgError(1, err.Error())
		}
		return s.queued(L, p, func() error {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			return nil
		}, failResult)
	}))
	// state_mkdir(rel) -> true | nil, err : a directory under the state
	// directory (a device model's empty chroot); os.remove takes it away
	mod.RawSetString("state_mkdir", L.NewFunction(func(L *lua.LState) int {
		p, err := s.path(L.CheckString(1))
		if err != nil {
			L.ArgError(1, err.Error())
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
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
