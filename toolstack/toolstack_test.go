package toolstack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"luxen/bindings/host"
	"luxen/bindings/savestream"
	"luxen/bindings/simxen"
)

func newRuntime(t *testing.T) *Runtime {
	t.Helper()
	h := host.Embedded(simxen.New(simxen.Options{}))
	r, err := New(Options{Host: h, StateDir: t.TempDir(), Echo: nil})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); h.Close() })
	return r
}

// TestMetaStubsCoverNativeModules keeps the LuaLS stubs honest: every function
// a native module (or its userdata methods) offers, and every public name of
// the Lua modules scripts build on, must be in its ---@meta file.
func TestMetaStubsCoverNativeModules(t *testing.T) {
	r := newRuntime(t)
	stubs := map[string]string{
		"xenstore": "xenstore.lua", "xen": "xen.lua", "evtchn": "evtchn.lua", "sim": "sim.lua",
		"task": "task.lua", "log": "log.lua", "json": "json.lua", "time": "time.lua",
		"_sync": "sync.lua", "luxen": "luxen.lua", "_config": "_config.lua", "proc": "proc.lua", "qmp": "qmp.lua",
		// Lua modules
		"domain": "domain.lua", "lifecycle": "lifecycle.lua", "config": "config.lua", "devices": "devices.lua",
		"records": "records.lua", "schema": "schema.lua", "libxlcfg": "libxlcfg.lua",
	}
	methods := map[string]string{
		"luxen.xenstore.watch": "xenstore.lua", "luxen.evtchn": "evtchn.lua", "luxen.task": "task.lua",
		"luxen.sync.mutex": "sync.lua", "luxen.sync.queue": "sync.lua",
		"luxen.qmp": "qmp.lua", "luxen.qmp.events": "qmp.lua",
	}
	names := map[string][]string{}
	src := "local out = {}\n"
	for mod := range stubs {
		src += "do local m = require('" + mod + "'); local ks = {}; for k in pairs(m) do ks[#ks+1] = k end; out['" + mod + "'] = ks end\n"
	}
	src += "return out"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fn, err := r.Sched.L.LoadString(src)
	if err != nil {
		t.Fatal(err)
	}
	task := r.Sched.Spawn("meta", "", fn)
	if err := r.Sched.RunTask(ctx, task); err != nil || task.Err() != nil {
		t.Fatal(err, task.Err())
	}
	out := task.Results()[0].(*lua.LTable)
	out.ForEach(func(k, v lua.LValue) {
		v.(*lua.LTable).ForEach(func(_, n lua.LValue) {
			names[stubs[k.String()]] = append(names[stubs[k.String()]], k.String()+"."+n.String())
		})
	})
	for tname, file := range methods {
		mt, ok := r.Sched.L.GetTypeMetatable(tname).(*lua.LTable)
		if !ok {
			t.Errorf("type %s not registered", tname)
			continue
		}
		if idx, ok := mt.RawGetString("__index").(*lua.LTable); ok {
			idx.ForEach(func(k, _ lua.LValue) { names[file] = append(names[file], tname+":"+k.String()) })
		}
	}
	for file, ns := range names {
		b, err := os.ReadFile(filepath.Join("..", "meta", file))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.HasPrefix(text, "---@meta") {
			t.Errorf("%s does not start with ---@meta", file)
		}
		sort.Strings(ns)
		for _, n := range ns {
			short := n[strings.LastIndexAny(n, ".:")+1:]
			if !strings.Contains(text, "."+short+"(") && !strings.Contains(text, ":"+short+"(") &&
				!strings.Contains(text, "."+short+" =") && !strings.Contains(text, "@field "+short+" ") {
				t.Errorf("%s: %s is not described", file, n)
			}
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.RunString(ctx, "json", `
		local json = require("json")
		local s = assert(json.encode({ b = { 1, 2, "x" }, a = true, n = json.null }))
		assert(s == '{"a":true,"b":[1,2,"x"],"n":null}', s)
		local v = assert(json.decode(s))
		assert(v.b[3] == "x" and v.a == true and v.n == nil)
		local bad, err = json.decode("{nope")
		assert(bad == nil and err:find("json.decode"))
		local cyc = {}; cyc.self = cyc
		local c, cerr = json.encode(cyc)
		assert(c == nil and cerr:find("cycle"))
	`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestStateFilesStayInTheStateDirectory(t *testing.T) {
	r := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.RunString(ctx, "state", `
		local luxen = require("luxen")
		assert(luxen.state_write("domains/x.json", "{}"))
		assert(luxen.state_read("domains/x.json") == "{}")
		assert(not pcall(luxen.state_write, "../escape", "x"))
		assert(not pcall(luxen.state_read, "/etc/passwd"))
		local v, err = luxen.state_read("domains/none.json")
		assert(v == nil and err == "ENOENT")
	`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.State, "domains", "x.json")); err != nil {
		t.Fatal(err)
	}
}

// TestStateWritesKeepTheirOrder: writes run off the scheduler goroutine, yet
// the last write asked for is the one that stays, and a remove asked for
// after a write removes it, whichever goroutine gets to the disk first.
func TestStateWritesKeepTheirOrder(t *testing.T) {
	r := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.RunString(ctx, "order", `
		local luxen, task = require("luxen"), require("task")
		for round = 1, 20 do
			local ts = {}
			for i = 1, 30 do
				ts[i] = task.spawn(function() assert(luxen.state_write("rec", tostring(i))) end)
			end
			for _, t in ipairs(ts) do assert(task.join(t)) end
			assert(luxen.state_read("rec") == "30", "round " .. round .. ": " .. tostring(luxen.state_read("rec")))
			local w = task.spawn(function() assert(luxen.state_write("gone", "x")) end)
			local rm = task.spawn(function() assert(luxen.state_remove("gone")) end)
			assert(task.join(w)); assert(task.join(rm))
			assert(luxen.state_read("gone") == nil, "a remove asked for after a write lost to it")
		end
	`)
	if err != nil {
		t.Fatal(err)
	}
}

func TestSandbox(t *testing.T) {
	r := newRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// links in the state directory: one to a file outside every grant, one
	// to nothing there (writing through it would make the file it names)
	os.Symlink("/etc/passwd", filepath.Join(r.State, "out-link"))
	os.Symlink("/etc/luxen-made-through-a-link", filepath.Join(r.State, "dangling"))
	err := r.RunString(ctx, "sandbox", `
		local function refused(f, pattern)
			local ok, err = pcall(f)
			assert(not ok, "allowed: " .. pattern)
			assert(tostring(err):find(pattern, 1, true), tostring(err))
		end
		refused(function() os.execute("true") end, "os.execute is not allowed")
		refused(function() io.popen("true") end, "io.popen is not allowed")
		refused(function() require("proc").run("true") end, "proc.run of /bin/sh is not allowed")
		refused(function() require("proc").run({ "false" }) end, "proc.run of false is not allowed")
		refused(function() os.exit(1) end, "os.exit")
		refused(function() io.open("/etc/passwd") end, "reading /etc/passwd is not allowed")
		refused(function() io.open("/etc/luxen-test", "w") end, "writing /etc/luxen-test is not allowed")
		refused(function() dofile("/etc/passwd") end, "reading /etc/passwd")
		refused(function() loadstring("\27Lua\81\0") end, "precompiled bytecode")
		refused(function() os.remove("/etc/hostname") end, "writing /etc/hostname")
		local luxen = require("luxen")
		refused(function() io.open(luxen.state_dir .. "/out-link") end, "out-link is not allowed")
		refused(function() io.open(luxen.state_dir .. "/dangling", "w") end, "writing " .. luxen.state_dir .. "/dangling is not allowed")
		assert(io.open(luxen.state_dir .. "/no/such/dir/x") == nil, "nothing to open under a directory that is not there")
		local f = assert(io.open(luxen.state_dir .. "/ok.txt", "w")); f:write("x"); f:close()
		assert(io.open(luxen.state_dir .. "/ok.txt"):read("*a") == "x")
		assert(io.open("/proc/self/status"))
		assert(loadstring("return 1")() == 1)
	`)
	if err != nil {
		t.Fatal(err)
	}
	// the site can grant exec
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	sb := DefaultSandbox(t.TempDir(), nil)
	sb.Exec = true
	r2, err := New(Options{Host: h, StateDir: t.TempDir(), Sandbox: &sb})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.RunString(ctx, "granted", `assert(require("proc").run("true").code == 0)`); err != nil {
		t.Fatal(err)
	}
}

// TestWatchdogFromEnvironment: $LUXEN_WATCHDOG sets the limit (the lab's
// emulated dom0 needs more than a second); a bad value is refused by name.
func TestWatchdogFromEnvironment(t *testing.T) {
	h := host.Embedded(simxen.New(simxen.Options{}))
	defer h.Close()
	for _, bad := range []string{"abc", "0", "-1", "99999"} {
		t.Setenv("LUXEN_WATCHDOG", bad)
		if r, err := New(Options{Host: h, StateDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "LUXEN_WATCHDOG") {
			if r != nil {
				r.Close()
			}
			t.Errorf("LUXEN_WATCHDOG=%s: %v", bad, err)
		}
	}
	// a short limit takes effect: a spinning script is stopped well before
	// the default second would have
	t.Setenv("LUXEN_WATCHDOG", "0.2")
	r, err := New(Options{Host: h, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	t0 := time.Now()
	err = r.RunString(context.Background(), "spin.lua", "while true do end")
	if err == nil || !strings.Contains(err.Error(), "watchdog") {
		t.Fatalf("spin: %v", err)
	}
	if took := time.Since(t0); took > 900*time.Millisecond {
		t.Fatalf("interrupted after %v; LUXEN_WATCHDOG=0.2 was not applied", took)
	}
}

// luxen.libxl_store writes a userdata file as libxl does (mode 0600, whole)
// and refuses any other name.
func TestLibxlStoreWritesUserdataOnly(t *testing.T) {
	r := newRuntime(t)
	name := "userdata-d.3.0e9f1c2a-0000-4000-8000-000000000001.libxl-json"
	err := r.RunString(context.Background(), "libxl_store", `local luxen = require("luxen")
		assert(luxen.libxl_store("`+name+`", "{}\n\0"))
		local ok, err = pcall(luxen.libxl_store, "../../etc/passwd", "x")
		assert(not ok and tostring(err):find("is not a libxl userdata file name", 1, true), tostring(err))`)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(r.State, "libxl", name)
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode().Perm())
	}
	if b, _ := os.ReadFile(p); string(b) != "{}\n\x00" {
		t.Fatalf("content %q", b)
	}
}

// luxen.save_info reads a save file as the stream reader does: what a file
// holds, and a bad one's offset and record.
func TestSaveInfo(t *testing.T) {
	r := newRuntime(t)
	var buf bytes.Buffer
	w := savestream.NewWriter(&buf)
	w.XLHeader(savestream.XLHeader{MandatoryFlags: savestream.XLFlagJSON | savestream.XLFlagStreamV2, Config: []byte("{\"c_info\":{}}\x00")})
	w.LibxlHeader()
	w.LibxlRecord(savestream.LibxlLibxcContext, nil)
	w.LibxcHeaders(savestream.DomainHeader{Type: savestream.DomainX86HVM, XenMajor: 4, XenMinor: 17})
	w.Record(savestream.RecStaticDataEnd, nil)
	w.PageData([]uint64{7, 8}, []savestream.PageType{savestream.PageNormal, savestream.PageXTab}, make([]byte, savestream.PageSize))
	w.HVMParams([]savestream.HVMParam{{Index: 1, Value: 0xfeffc}})
	w.Record(savestream.RecEnd, nil)
	w.LibxlRecord(savestream.LibxlEnd, nil)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "g.save"), filepath.Join(dir, "bad.save")
	os.WriteFile(good, buf.Bytes(), 0o600)
	os.WriteFile(bad, buf.Bytes()[:buf.Len()-12], 0o600)
	err := r.RunString(context.Background(), "save_info", `local luxen = require("luxen")
		local i = assert(luxen.save_info("`+good+`"))
		assert(i.config == '{"c_info":{}}', i.config)
		assert(i.domain_type == "x86 HVM" and i.xen == "4.17" and i.image_version == 3)
		assert(i.pfns == 2 and i.pages == 1 and i.max_pfn == 8 and i.records.PAGE_DATA == 1)
		assert(i.libxl[1] == "LIBXC_CONTEXT" and i.libxl[2] == "END" and i.params[1] == 0xfeffc)
		local none, err = luxen.save_info("`+bad+`")
		assert(none == nil and err:find("libxc record header: truncated", 1, true), err)`)
	if err != nil {
		t.Fatal(err)
	}
}
