package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildLuxen compiles the command once per test binary.
func buildLuxen(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "luxen")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

type cli struct {
	t   *testing.T
	bin string
	env []string
}

func (c cli) run(args ...string) (string, string, error) {
	cmd := exec.Command(c.bin, args...)
	cmd.Env = c.env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// crashAt runs luxen with args, stopped at a crash point (LUXEN_CRASH_AT):
// it must die there, as a kill -9 would stop it.
func (c cli) crashAt(point string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(c.env, "LUXEN_CRASH_AT="+point)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 137 {
		c.t.Fatalf("%s: did not stop at the crash point: %v\n%s", point, err, out)
	}
}

func (c cli) must(args ...string) string {
	c.t.Helper()
	out, errs, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("luxen %v: %v\nstdout: %s\nstderr: %s", args, err, out, errs)
	}
	return out
}

// serve starts `luxen sim serve` and returns an environment pointing at it.
// The served host keeps its state next to its socket (stateOf says where).
func serve(t *testing.T, bin string) []string {
	return serveAt(t, bin, filepath.Join(t.TempDir(), "xenstored.sock"))
}

// serveAt serves a simulated host at sock, with extra `sim serve` flags.
func serveAt(t *testing.T, bin, sock string, extra ...string) []string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"sim", "serve", "--socket", sock}, extra...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := sync.OnceFunc(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })
	servers.Store(sock, stop)
	t.Cleanup(stop)
	for i := 0; ; i++ {
		if _, err := os.Stat(sock + ".hv"); err == nil {
			break
		}
		if i > 200 {
			t.Fatalf("sim serve did not start: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range []string{sock, sock + ".hv"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: mode %v, %v; want 0600", p, st.Mode().Perm(), err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
			t.Fatalf("%s: owned by uid %d, want %d (whoever serves, root on a real host)", p, uid, os.Geteuid())
		}
	}
	// no LUXEN_STATE: the served host says where its state is
	return append(os.Environ(), "XENSTORED_PATH="+sock, "LUXEN_STATE=", "LUXEN_HOST=")
}

// servers holds each served host's stopper, by socket.
var servers sync.Map

// serveStop stops the served host env points at.
func serveStop(t *testing.T, env []string) {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "XENSTORED_PATH="); ok && v != "" {
			if stop, ok := servers.Load(v); ok {
				stop.(func())()
				return
			}
		}
	}
	t.Fatal("no served host in env")
}

// stateOf is the state directory of the served host env points at: what
// the host announces in its xenstore.
func stateOf(t *testing.T, bin string, env []string) string {
	t.Helper()
	c := cli{t: t, bin: bin, env: env}
	return strings.TrimSpace(c.must("run", tempFile(t, "state.lua", `print(require("luxen").state_dir)`)))
}

func TestServedHostIsSharedBetweenProcesses(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	cfg := tempFile(t, "web.cfg", "name = \"web\"\nmemory = 64\nvcpus = 2\n")

	out := c.must("create", cfg)
	if !strings.Contains(out, "created web (domid 1)") {
		t.Fatalf("create said %q", out)
	}
	list := c.must("list")
	if !strings.Contains(list, "Domain-0") || !regexpMatch(`(?m)^web +1 +64 +2 `, list) {
		t.Fatalf("list in another process does not show web:\n%s", list)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(c.must("list", "--json")), &rows); err != nil || len(rows) != 2 || rows[1]["name"] != "web" {
		t.Fatalf("list --json: %v %v", rows, err)
	}
	// Debian's C client sees the same tree, when it is installed
	if ls, err := exec.LookPath("xenstore-ls"); err == nil {
		cmd := exec.Command(ls, "/local/domain/1")
		cmd.Env = c.env
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), `name = "web"`) {
			t.Fatalf("xenstore-ls against the served host: %v\n%s", err, b)
		}
	} else {
		t.Log("xenstore-ls not installed; C-client check not run")
	}

	if _, errs, err := c.run("create", cfg); err == nil || !strings.Contains(errs, "already exists") {
		t.Fatalf("second create: %v %s", err, errs)
	}
	c.must("pause", "web")
	if !regexpMatch(`(?m)^web .* --p--- `, c.must("list")) {
		t.Fatal("pause not visible in list")
	}
	c.must("unpause", "web")
	// no supervisor: shutdown waits and applies on_poweroff=destroy itself
	c.must("shutdown", "-w", "web")
	if strings.Contains(c.must("list"), "web") {
		t.Fatal("web still listed after shutdown")
	}
	if _, errs, err := c.run("destroy", "nosuch"); err == nil || !strings.Contains(errs, "no domain named 'nosuch'") {
		t.Fatalf("destroy of a missing domain: %v %q", err, errs)
	}
}

func TestBadConfigExitsWithFileAndLine(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	cfg := tempFile(t, "bad.cfg", "name = \"x\"\nmemroy = 64\n")
	_, errs, err := c.run("create", cfg)
	if err == nil || !strings.Contains(errs, cfg+":2: unknown key 'memroy'") {
		t.Fatalf("err %v stderr %q", err, errs)
	}
	if strings.Contains(c.must("list"), "x ") {
		t.Fatal("failed create left a domain")
	}
}

func TestHelpTellsTheTruth(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: os.Environ()}
	out := c.must("--help")
	for _, cmd := range commands {
		if !strings.Contains(out, "  "+cmd.name) {
			t.Errorf("--help does not list %s", cmd.name)
		}
		h := c.must(cmd.name, "--help")
		if !strings.HasPrefix(h, "usage: luxen "+cmd.name) {
			t.Errorf("%s --help: %q", cmd.name, h)
		}
		// every flag its usage line shows is explained on a line of its own
		for _, f := range regexp.MustCompile(`\[(--?[a-z-]+)`).FindAllStringSubmatch(cmd.args, -1) {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(f[1]) + `\b`).MatchString(h) {
				t.Errorf("%s --help does not explain %s", cmd.name, f[1])
			}
		}
		if strings.Contains(h, "--allow-exec     let scripts") {
			t.Errorf("%s --help repeats the global options", cmd.name)
		}
		if h2 := c.must("help", cmd.name); h2 != h {
			t.Errorf("luxen help %s differs from %s --help", cmd.name, cmd.name)
		}
	}
	if h := c.must("help", "--help"); !strings.HasPrefix(h, "usage: luxen help") {
		t.Errorf("help --help: %q", h)
	}
	if _, errs, err := c.run("frobnicate"); err == nil || !strings.Contains(errs, "unknown command") {
		t.Errorf("unknown command: %v %q", err, errs)
	}
}

func TestQuickstartRunsOnTheEmbeddedHost(t *testing.T) {
	bin := buildLuxen(t)
	state := t.TempDir()
	c := cli{t: t, bin: bin, env: append(os.Environ(), "LUXEN_STATE="+state, "XENSTORED_PATH=", "LUXEN_HOST=sim")}
	out := c.must("run", "../../scripts/examples/quickstart.lua")
	for _, want := range []string{"Name                                        ID   Mem VCPUs\tState\tTime(s)",
		"web powered off", "db came back as domid", "cache crashed and was destroyed"} {
		if !strings.Contains(out, want) {
			t.Errorf("quickstart output lacks %q:\n%s", want, out)
		}
	}
	for _, name := range []string{"web", "db", "cache"} {
		b, err := os.ReadFile(filepath.Join(state, "log", name+".log"))
		if err != nil || !strings.Contains(string(b), "created domain "+name) {
			t.Errorf("%s.log: %v %q", name, err, b)
		}
	}
}

func TestSiteScriptsOverrideShippedOnes(t *testing.T) {
	bin := buildLuxen(t)
	site, env2 := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(site, "policies"), 0o755)
	os.WriteFile(filepath.Join(site, "policies", "restart.lua"), []byte(`return { from = "site --scripts" }`), 0o644)
	os.WriteFile(filepath.Join(env2, "extra.lua"), []byte(`return { from = "LUXEN_SCRIPTS" }`), 0o644)
	script := tempFile(t, "s.lua", `print(require("policies.restart").from, require("extra").from, require("lifecycle") ~= nil, ...)`)
	c := cli{t: t, bin: bin, env: append(os.Environ(), "LUXEN_STATE="+t.TempDir(), "LUXEN_SCRIPTS="+env2, "LUXEN_HOST=sim", "XENSTORED_PATH=")}
	out := c.must("--scripts", site, "run", script, "a1", "--b")
	if strings.TrimSpace(out) != "site --scripts\tLUXEN_SCRIPTS\ttrue\ta1\t--b" {
		t.Fatalf("got %q", out)
	}
	args := c.must("run", tempFile(t, "x.lua", `local l = require("luxen"); print(table.concat(l.args, ","))`), "x", "--host", "y")
	if strings.TrimSpace(args) != "x,--host,y" {
		t.Fatalf("script args: %q", args)
	}
}

// tempFile writes src to a file of that name in a fresh temporary directory.
func tempFile(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBlockAndNetworkCommands(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	cfg := tempFile(t, "d.cfg", "name = \"d\"\nmemory = 32\ndisk = [ \"/img/root.raw,raw,xvda,rw\" ]\n")
	c.must("create", cfg)
	// the frontend connects once the simulated guest has booted
	var list string
	for i := 0; i < 100; i++ {
		if list = c.must("block-list", "d"); regexpMatch(`(?m)^xvda +0 +51712 +4 +4 +/img/root.raw$`, list) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !regexpMatch(`(?m)^xvda +0 +51712 +4 +4 +/img/root.raw$`, list) {
		t.Fatalf("block-list:\n%s", list)
	}
	if out := c.must("block-attach", "d", "/img/data.raw,raw,xvdb,r"); !strings.Contains(out, "vbd 51728 attached to d") {
		t.Fatalf("block-attach: %q", out)
	}
	if !strings.Contains(c.must("block-list", "d"), "xvdb") {
		t.Fatal("xvdb not listed")
	}
	c.must("block-detach", "d", "xvdb")
	if strings.Contains(c.must("block-list", "d"), "xvdb") {
		t.Fatal("xvdb still listed after detach")
	}
	if _, errs, err := c.run("block-attach", "d", "/x,raw,xvdb,rw,junk"); err == nil || !strings.Contains(errs, "unexpected 'junk'") {
		t.Fatalf("bad spec: %v %q", err, errs)
	}
	c.must("network-attach", "d", "mac=00:16:3e:12:34:56")
	if !regexpMatch(`(?m)^0 +0 +00:16:3e:12:34:56 +4 +4 +xenbr0$`, c.must("network-list", "d")) {
		t.Fatalf("network-list:\n%s", c.must("network-list", "d"))
	}
	c.must("network-detach", "d", "00:16:3e:12:34:56")
	c.must("destroy", "d")
}

// TestConnectionsAndBlockMove: a disk served by one driver domain is listed
// with its backend, moved to another by block-move, and listed there; a move
// to a domain that does not exist is refused and changes nothing.
func TestConnectionsAndBlockMove(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	for _, n := range []string{"drva", "drvb"} {
		c.must("create", tempFile(t, n+".cfg", "name = \""+n+"\"\nmemory = 16\ndriver_domain = 1\n"))
	}
	c.must("create", tempFile(t, "g.cfg", "name = \"g\"\nmemory = 16\ndisk = [ \"/img/g,raw,xvda,rw,backend=drva,fallback=Domain-0\" ]\n"))
	row := `(?m)^g +vbd +xvda +%s +Domain-0 +%s +connected$`
	var out string
	for i := 0; i < 100; i++ {
		if out = c.must("connections"); regexpMatch(fmt.Sprintf(row, "drva", "drva"), out) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !regexpMatch(fmt.Sprintf(row, "drva", "drva"), out) {
		t.Fatalf("connections:\n%s", out)
	}
	if _, errs, err := c.run("block-move", "g", "xvda", "nosuch"); err == nil || !strings.Contains(errs, "backend nosuch") {
		t.Fatalf("block-move to nowhere: %v %q", err, errs)
	}
	if out := c.must("connections", "g"); !regexpMatch(fmt.Sprintf(row, "drva", "drva"), out) {
		t.Fatalf("a refused move changed the connection:\n%s", out)
	}
	if out := c.must("block-move", "g", "xvda", "drvb"); !strings.Contains(out, "vbd 51712 of g now served by drvb") {
		t.Fatalf("block-move: %q", out)
	}
	if out := c.must("connections", "g"); !regexpMatch(fmt.Sprintf(row, "drvb", "drvb"), out) {
		t.Fatalf("connections after the move:\n%s", out)
	}
	if !regexpMatch(`(?m)^xvda +\d+ +51712 +4 +4 +/img/g$`, c.must("block-list", "g")) {
		t.Fatalf("block-list after the move:\n%s", c.must("block-list", "g"))
	}
	for _, n := range []string{"g", "drva", "drvb"} {
		c.must("destroy", n)
	}
}

// consistency is a Lua check that records, xenstore and the hypervisor agree.
const consistency = `
local xs, xen, lifecycle, devices = require("xenstore"), require("xen"), require("lifecycle"), require("devices")
local bad = {}
local live = {}
for _, d in ipairs(xen.list()) do live[d.domid] = d end
local recorded = {}
for _, rec in ipairs(lifecycle.records()) do
  recorded[rec.domid] = rec
  if not live[rec.domid] or live[rec.domid].uuid ~= rec.uuid then bad[#bad+1] = "record without domain: " .. rec.name end
end
for _, d in ipairs(xs.directory("/local/domain") or {}) do
  local id = tonumber(d)
  if id ~= 0 and not recorded[id] then bad[#bad+1] = "xenstore without record: /local/domain/" .. d end
end
for _, d in ipairs(xs.directory("/local/domain/0/mtwatch") or {}) do
  if not recorded[tonumber(d)] then bad[#bad+1] = "marker without record: " .. d end
end
for id, d in pairs(live) do
  if id ~= 0 and not recorded[id] then bad[#bad+1] = "domain without record: " .. id end
end
for id, rec in pairs(recorded) do
  for _, class in ipairs(devices.CLASSES) do
    for _, dev in ipairs(devices.list(id, class)) do
      if not (rec.devices or {})[class .. "/" .. dev.devid] then bad[#bad+1] = "device without entry: " .. class .. dev.devid end
    end
  end
end
print(#bad == 0 and "CONSISTENT" or table.concat(bad, "; "))
`

func TestKilledMidOperationThenReconciled(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "k.cfg")
	os.WriteFile(cfg, []byte("name = \"k\"\nmemory = 16\ndisk = [ \"/img/k,raw,xvda,rw\" ]\n"), 0o644)
	check := filepath.Join(dir, "check.lua")
	os.WriteFile(check, []byte(consistency), 0o644)
	crash := c.crashAt
	settled := func(point string) {
		t.Helper()
		c.must("reconcile")
		if out := c.must("run", check); !strings.Contains(out, "CONSISTENT") {
			t.Fatalf("after a kill at %s and a reconcile: %s", point, out)
		}
	}
	for _, p := range []string{"create:domain", "create:skeleton", "create:built"} {
		crash(p, "create", "--no-supervisor", cfg)
		settled(p)
		if strings.Contains(c.must("list"), "\nk ") {
			t.Fatalf("%s: the half-made domain is still listed", p)
		}
	}
	c.must("create", "--no-supervisor", cfg) // the crashes below must be in the commands' own processes
	for _, p := range []string{"attach:record", "attach:xenstore"} {
		crash(p, "block-attach", "k", "/img/x,raw,xvdb,rw")
		settled(p)
		c.must("block-detach", "-f", "k", "xvdb")
	}
	time.Sleep(200 * time.Millisecond) // let xvda connect
	crash("detach:closed", "block-detach", "k", "xvda")
	settled("detach:closed")
	if strings.Contains(c.must("block-list", "k"), "xvda") {
		t.Fatal("the cut-short detach was not finished")
	}
	crash("destroy:hypervisor", "destroy", "k")
	settled("destroy:hypervisor")
	if strings.Contains(c.must("list"), "\nk ") {
		t.Fatal("k still listed after its destroy was finished")
	}
}

// saveCheck says whether the domain named by its argument runs (not shut
// down, its guest up) and no save intent is left.
const saveCheck = `
local xen, sim, xs, domain, lifecycle = require("xen"), require("sim"), require("xenstore"), require("domain"), require("lifecycle")
local id = domain.find(require("luxen").args[1])
local info = id and xen.info(id)
local ok = info and not info.shutdown
local t0 = require("time").monotonic()
while ok and not sim.booted(id) and require("time").monotonic() - t0 < 5 do require("time").sleep(0.05) end
local left = xs.directory(lifecycle.SAVING) or {}
print(ok and sim.booted(id) and #left == 0 and "RUNS" or string.format("info %s, intents %d", require("json").encode(info or {}), #left))
`

// A save killed at every step (after asking the guest to suspend, once it
// has, once the file is written): reconcile resumes the guest, which runs
// on, removes a partial file and keeps a whole one, saying which.
func TestSaveKilledThenReconciled(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "sk.cfg")
	os.WriteFile(cfg, []byte("name = \"sk\"\nmemory = 16\n"), 0o644)
	check := filepath.Join(dir, "check.lua")
	os.WriteFile(check, []byte(saveCheck), 0o644)
	c.must("create", "--no-supervisor", cfg)
	for _, tc := range []struct{ point, says string }{
		{"save:requested", "nothing was written"},
		{"save:suspended", "nothing was written"},
		{"save:written", "is whole"},
	} {
		file := filepath.Join(dir, strings.ReplaceAll(tc.point, ":", "-")+".save")
		c.crashAt(tc.point, "save", "sk", file)
		rec := c.must("reconcile")
		if !strings.Contains(rec, "sk was being saved by pid") || !strings.Contains(rec, "resumed, it runs on") && !strings.Contains(rec, "withdrawn, it runs on") || !strings.Contains(rec, tc.says) {
			t.Fatalf("%s: reconcile said:\n%s", tc.point, rec)
		}
		if out := c.must("run", check, "sk"); !strings.Contains(out, "RUNS") {
			t.Fatalf("%s: after reconcile: %s", tc.point, out)
		}
		_, err := os.Stat(file)
		if whole := tc.says == "is whole"; whole != (err == nil) {
			t.Fatalf("%s: the file is there: %v, want %v", tc.point, err == nil, whole)
		}
	}
	// and a save after all that works
	c.must("save", "sk", filepath.Join(dir, "last.save"))
}

// mediaCheck is a Lua check that a domain's record and its QEMU agree on the
// CD-ROM: no change pending or unknown, the record's medium is QEMU's, and
// QEMU holds no descriptor set that no drive uses.
const mediaCheck = `
local qmp, devicemodel, lifecycle = require("qmp"), require("devicemodel"), require("lifecycle")
local name = require("luxen").args[1]
local rec
for _, r in ipairs(lifecycle.records()) do if r.name == name then rec = r end end
local m = assert(qmp.connect(rec.dm.socket))
local actual = assert(devicemodel.media(m))
local blocks, sets = assert(m:execute("query-block")), assert(m:execute("query-fdsets"))
m:close()
local bad, e = {}, rec.dm.media.hdc
if e.pending or e.unknown then bad[#bad+1] = "the record still has a change pending: " .. tostring(e.pending or e.unknown) end
if e.target ~= (actual.hdc or "") then bad[#bad+1] = string.format("record says %q, QEMU has %q", e.target, actual.hdc or "") end
local used = {}
for _, b in ipairs(blocks) do
  local n = (b.inserted and b.inserted.file or ""):match("^/dev/fdset/(%d+)$")
  if n then used[n] = true end
end
for _, fs in ipairs(sets) do
  if not used[tostring(fs["fdset-id"])] then bad[#bad+1] = "QEMU holds fdset " .. fs["fdset-id"] .. " that no drive uses" end
end
print(#bad == 0 and ("AGREE " .. e.target) or table.concat(bad, "; "))
`

// A cd-insert or cd-eject killed at every step (after recording its intent,
// between add-fd and the change, after QEMU changed the medium): reconcile
// makes the record say what QEMU has, and QEMU keeps no set nobody uses.
func TestCDChangeKilledThenReconciled(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
			t.Fatal("qemu-system-x86_64 is required but missing")
		}
		t.Skip("qemu-system-x86_64 not installed")
	}
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	dir := t.TempDir()
	iso1, iso2 := filepath.Join(dir, "one.iso"), filepath.Join(dir, "two.iso")
	os.WriteFile(iso1, make([]byte, 64<<10), 0o644)
	os.WriteFile(iso2, make([]byte, 32<<10), 0o644)
	cfg := filepath.Join(dir, "cd.cfg")
	os.WriteFile(cfg, []byte(fmt.Sprintf("name = \"cd\"\nmemory = 16\ndevice_model_override = %q\ncdrom = [ \"hdc\" ]\n", qemu)), 0o644)
	check := filepath.Join(dir, "check.lua")
	os.WriteFile(check, []byte(mediaCheck), 0o644)
	c.must("create", "--no-supervisor", cfg)
	defer c.run("destroy", "cd")
	// running, as a guest's device model is: a paused QEMU (-S) keeps even a
	// removed descriptor set open until it runs
	cont := filepath.Join(dir, "cont.lua")
	os.WriteFile(cont, []byte(`local rec = require("lifecycle").records()[1]
local m = assert(require("qmp").connect(rec.dm.socket))
assert(m:execute("cont"))
m:close()`), 0o644)
	c.must("run", cont)
	agree := func(when string) string {
		t.Helper()
		out := c.must("run", check, "cd")
		if !strings.Contains(out, "AGREE") {
			t.Fatalf("%s: %s", when, out)
		}
		return strings.TrimSpace(out[strings.Index(out, "AGREE")+len("AGREE"):])
	}
	steps := []struct {
		point string
		args  []string
		want  string // what QEMU has after the kill
	}{
		{"cd:intent", []string{"cd-insert", "cd", "hdc", iso1}, ""},
		{"cd:add-fd", []string{"cd-insert", "cd", "hdc", iso1}, ""},
		{"cd:qemu", []string{"cd-insert", "cd", "hdc", iso1}, iso1},
		{"cd:intent", []string{"cd-insert", "cd", "hdc", iso2}, iso1},
		{"cd:add-fd", []string{"cd-insert", "cd", "hdc", iso2}, iso1},
		{"cd:qemu", []string{"cd-insert", "cd", "hdc", iso2}, iso2},
		{"cd:intent", []string{"cd-eject", "cd", "hdc"}, iso2},
		{"cd:qemu", []string{"cd-eject", "cd", "hdc"}, ""},
	}
	for _, s := range steps {
		cmd := exec.Command(bin, s.args...)
		cmd.Env = append(c.env, "LUXEN_CRASH_AT="+s.point)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 137 {
			t.Fatalf("%s at %s: did not stop at the crash point: %v\n%s", s.args[0], s.point, err, out)
		}
		rec := c.must("reconcile")
		t.Logf("%s at %s: reconcile: %s", s.args[0], s.point, rec)
		if !strings.Contains(rec, "CD-ROM change was cut short") {
			t.Errorf("%s at %s: reconcile did not say it settled the change: %s", s.args[0], s.point, rec)
		}
		if got := agree(s.args[0] + " killed at " + s.point); got != s.want {
			t.Fatalf("%s killed at %s: the drive holds %q, want %q", s.args[0], s.point, got, s.want)
		}
	}
	// and the drive still works after all of it
	c.must("cd-insert", "cd", "hdc", iso1)
	if got := agree("a plain insert after the kills"); got != iso1 {
		t.Fatalf("after the kills, an insert gave %q", got)
	}
}

// TestXlCommandsAndFlagsAnywhere: create's flags after the config as xl
// takes them, -n making nothing, -q printing nothing, and vcpu-pin,
// vcpu-list, mem-set, mem-max, domid and domname from the command line,
// with the host's supervisor running (which then carries each out).
func TestXlCommandsAndFlagsAnywhere(t *testing.T) {
	bin := buildLuxen(t)
	env := serve(t, bin)
	c := cli{t: t, bin: bin, env: env}
	cfg := tempFile(t, "x.cfg", "name = \"x\"\nmemory = 32\nmaxmem = 64\nvcpus = 2\ncpus = \"1\"\n")
	out := c.must("create", cfg, "-n", "vcpus=3")
	if !strings.Contains(out, `"vcpus": 3`) || !strings.Contains(out, `"name": "x"`) {
		t.Fatalf("create -n: %q", out)
	}
	if strings.Contains(c.must("list"), "x ") {
		t.Fatal("create -n made a domain")
	}
	supervise(t, bin, env)
	if out := c.must("create", cfg, "-q", "-p"); out != "" {
		t.Fatalf("create -q printed %q", out)
	}
	if !regexpMatch(`(?m)^x +\d+ +\d+ +2 +--p`, c.must("list")) {
		t.Fatalf("create cfg -q -p: not paused:\n%s", c.must("list"))
	}
	id := strings.TrimSpace(c.must("domid", "x"))
	if got := strings.TrimSpace(c.must("domname", id)); got != "x" {
		t.Fatalf("domname %s: %q", id, got)
	}
	if out := c.must("vcpu-list", "x"); !regexpMatch(`(?m)^x +`+id+` +1 +1 .* 1 / all$`, out) {
		t.Fatalf("vcpu-list after create with cpus=1:\n%s", out)
	}
	c.must("vcpu-pin", "x", "all", "0,2", "3")
	if out := c.must("vcpu-list", "x"); !regexpMatch(`(?m)^x +`+id+` +1 +0 .* 0,2 / 3$`, out) {
		t.Fatalf("vcpu-list after vcpu-pin:\n%s", out)
	}
	if _, errs, err := c.run("vcpu-pin", "x", "7", "1"); err == nil || !strings.Contains(errs, "vcpu 7: x has vcpus 0-1") {
		t.Fatalf("vcpu-pin of a vcpu x lacks: %v %q", err, errs)
	}
	c.must("mem-set", "x", "16")
	if _, errs, err := c.run("mem-max", "x", "8m"); err == nil || !strings.Contains(errs, "below the domain's memory target 16384 KiB") {
		t.Fatalf("mem-max below the target: %v %q", err, errs)
	}
	c.must("mem-max", "x", "48")
	if _, errs, err := c.run("mem-set", "x", "1g"); err == nil || !strings.Contains(errs, "above the domain's maximum 49152 KiB") {
		t.Fatalf("mem-set above the maximum: %v %q", err, errs)
	}
	if out := c.must("uptime", "x"); !regexpMatch(`(?m)^Name +ID Uptime\nx +`+id+` +\d+:\d\d:\d\d$`, out) {
		t.Fatalf("uptime:\n%s", out)
	}
	if out := c.must("uptime", "x", "-s"); !regexpMatch(`^ \d\d:\d\d:\d\d up +\d+:\d\d, x \(`+id+`\)\n$`, out) {
		t.Fatalf("uptime -s: %q", out)
	}
	// shutdown -a: every domain but dom0 (the supervisor applies on_poweroff)
	c.must("unpause", "x")
	// xl's form: the spec's parts as separate arguments
	c.must("network-attach", "x", "mac=00:16:3e:00:00:42", "bridge=xenbr0")
	c.must("block-attach", "x", "/img/x2", "raw", "xvdb", "r")
	if out := c.must("network-list", "x"); !strings.Contains(out, "00:16:3e:00:00:42") {
		t.Fatalf("network-attach with separate arguments:\n%s", out)
	}
	if out := c.must("block-list", "x"); !regexpMatch(`xvdb`, out) {
		t.Fatalf("block-attach with separate arguments:\n%s", out)
	}
	c.must("create", tempFile(t, "y.cfg", "name = \"y\"\nmemory = 16\n"))
	if _, errs, err := c.run("shutdown", "-a", "x"); err == nil || !strings.Contains(errs, "-a takes no domain") {
		t.Fatalf("shutdown -a x: %v %q", err, errs)
	}
	c.must("shutdown", "-a", "-w")
	if out := c.must("list"); strings.Contains(out, "x ") || strings.Contains(out, "y ") {
		t.Fatalf("shutdown -a -w left domains:\n%s", out)
	}
	if out := c.must("dmesg", "-c"); !regexpMatch(`(?m)^\(XEN\) sim: d`+id+` created.*\n(?s:.*)^\(XEN\) sim: d`+id+` shut down: poweroff$`, out) {
		t.Fatalf("dmesg:\n%s", out)
	}
	if out := c.must("dmesg"); out != "" {
		t.Fatalf("dmesg after dmesg -c: %q", out)
	}
}

// TestRunGivesArgumentsAsLua: a script gets its arguments as lua(1) gives
// them (the global arg and the main chunk's ...) and as luxen.args.
func TestRunGivesArgumentsAsLua(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: append(os.Environ(), "LUXEN_STATE="+t.TempDir(), "XENSTORED_PATH=", "LUXEN_HOST=sim")}
	script := tempFile(t, "args.lua", `local n = select("#", ...)
print(arg[0]:match("[^/]+$"), arg[1], arg[2], #arg, arg[-1], n, (select(2, ...)), table.concat(require("luxen").args, "|"))`)
	out := strings.TrimSpace(c.must("run", script, "one", "two words"))
	if want := "args.lua\tone\ttwo words\t2\tluxen\t2\ttwo words\tone|two words"; out != want {
		t.Fatalf("run args:\n got %q\nwant %q", out, want)
	}
}

func TestBashCompletion(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	for _, n := range []string{"web", "db"} {
		c.must("create", tempFile(t, n+".cfg", "name = \""+n+"\"\nmemory = 16\n"))
	}
	script := c.must("completion", "bash")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "web.cfg"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "other.txt"), nil, 0o644)
	// complete(words...) is what TAB offers after the words, the last being
	// the one completed, as bash fills COMP_WORDS
	complete := func(words ...string) string {
		var q []string
		for _, w := range words {
			q = append(q, "'"+w+"'")
		}
		src := fmt.Sprintf("%s\nCOMP_WORDS=(%s %s)\nCOMP_CWORD=%d\n_luxen\nprintf '%%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '",
			script, bin, strings.Join(q, " "), len(words))
		cmd := exec.Command("bash", "-c", src)
		cmd.Env, cmd.Dir = c.env, dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("completing %q: %v\n%s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"cre"}, "create"},
		{[]string{"vcpu-"}, "vcpu-list vcpu-pin vcpu-set"},
		{[]string{"--host"}, "--host"},
		{[]string{"--host", "s"}, "sim"},
		{[]string{"-v", "--host", "sim", "des"}, "destroy"},
		{[]string{"destroy", ""}, "db web"},
		{[]string{"vcpu-pin", "w"}, "web"},
		{[]string{"create", "we"}, "web.cfg"},
		{[]string{"create", "--n"}, "--no-supervisor"},
		{[]string{"shutdown", "-"}, "--allow-exec --help --host --scripts --state -F -a -t -v -w"},
		{[]string{"help", "network-a"}, "network-attach"},
		{[]string{"completion", ""}, "bash"},
		{[]string{"info", ""}, ""},
	} {
		if got := complete(tc.words...); got != tc.want {
			t.Errorf("luxen %s<TAB>: got %q, want %q", strings.Join(tc.words, " "), got, tc.want)
		}
	}
	if _, errs, err := c.run("completion", "zsh"); err == nil || !strings.Contains(errs, "bash") {
		t.Errorf("completion zsh: %v %q", err, errs)
	}
}

// -v after "list" is xl list -v's; before any command it is the global one.
func TestListOwnsItsVerboseFlag(t *testing.T) {
	for _, c := range []struct {
		args    []string
		verbose bool
		rest    string
	}{
		{[]string{"list", "-v"}, false, "list -v"},
		{[]string{"list", "--verbose", "web"}, false, "list --verbose web"},
		{[]string{"-v", "list"}, true, "list"},
		{[]string{"destroy", "web", "-v"}, true, "destroy web"},
	} {
		g, rest, err := splitGlobals(c.args)
		if err != nil {
			t.Fatal(err)
		}
		if g.verbose != c.verbose || strings.Join(rest, " ") != c.rest {
			t.Errorf("%q: verbose %v, rest %q; want %v, %q", c.args, g.verbose, rest, c.verbose, c.rest)
		}
	}
}

// A live migration to this host through xl's protocol (luxen migrate -s ""
// NAME "luxen migrate-receive"): the guest comes back under its name with
// its devices, and the records, xenstore and the hypervisor agree. A
// receiver that refuses, one that dies mid-stream, and a sender killed
// once the guest suspended each leave the guest running where it was.
func TestMigrateOnOneHost(t *testing.T) {
	bin := buildLuxen(t)
	c := cli{t: t, bin: bin, env: serve(t, bin)}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mg.cfg")
	os.WriteFile(cfg, []byte("name = \"mg\"\nmemory = 32\ndisk = [ \"/img/mg,raw,xvda,rw\" ]\nvif = [ \"mac=00:16:3e:00:00:21\" ]\n"), 0o644)
	check := filepath.Join(dir, "check.lua")
	os.WriteFile(check, []byte(consistency), 0o644)
	consistent := func(when string) {
		t.Helper()
		if out := c.must("run", check); !strings.Contains(out, "CONSISTENT") {
			t.Fatalf("%s: %s", when, out)
		}
	}
	domidOf := func(name string) string {
		t.Helper()
		return strings.TrimSpace(c.must("domid", name))
	}
	c.must("create", cfg)
	time.Sleep(200 * time.Millisecond) // the guest's devices connect
	before := domidOf("mg")
	out := c.must("migrate", "-s", "", "mg", bin+" migrate-receive")
	if !strings.Contains(out, "migrated mg to ") {
		t.Fatalf("migrate said: %s", out)
	}
	after := domidOf("mg")
	if after == before {
		t.Fatalf("mg is still domid %s", before)
	}
	consistent("after the migration")
	if bl := c.must("block-list", "mg"); !strings.Contains(bl, "51712  4     4") {
		t.Fatalf("the migrated guest's disk is not connected:\n%s", bl)
	}
	if l := c.must("list"); strings.Contains(l, "incoming") || strings.Contains(l, "migratedaway") {
		t.Fatalf("a migration's name is left:\n%s", l)
	}

	// the receiver refuses (a domain has its incoming name): mg runs on, in place
	other := filepath.Join(dir, "in.cfg")
	os.WriteFile(other, []byte("name = \"mg--incoming\"\nmemory = 16\n"), 0o644)
	c.must("create", other)
	// (the sender finds out while it sends, or when no ready message comes)
	if _, errs, err := c.run("migrate", "-s", "", "mg", bin+" migrate-receive"); err == nil || !strings.Contains(errs, "runs on") || !strings.Contains(errs, "mg--incoming' already exists") {
		t.Fatalf("a refused migration: %v\n%s", err, errs)
	}
	c.must("destroy", "mg--incoming")
	if id := domidOf("mg"); id != after {
		t.Fatalf("mg moved to domid %s after a failed migration", id)
	}
	consistent("after a refused migration")

	// the receiver dies after some of the stream
	dies := "printf 'xl migration receiver ready, send binary domain data.\\n'; head -c 65536 >/dev/null"
	if _, errs, err := c.run("migrate", "-s", "", "mg", dies); err == nil || !strings.Contains(errs, "runs on") {
		t.Fatalf("a migration whose receiver died: %v\n%s", err, errs)
	}
	if id := domidOf("mg"); id != after {
		t.Fatalf("mg moved to domid %s after its receiver died", id)
	}
	consistent("after the receiver died")

	// the sender killed once the guest has suspended: its receiver gives up
	// (its stream ends), reconcile resumes the guest
	c.crashAt("migrate:suspended", "migrate", "-s", "", "mg", bin+" migrate-receive")
	for i := 0; strings.Contains(c.must("list"), "mg--incoming"); i++ {
		if i > 100 {
			t.Fatal("the receiver's incoming domain outlived its sender")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec := c.must("reconcile"); !strings.Contains(rec, "mg was being saved by pid") || !strings.Contains(rec, "resumed, it runs on") {
		t.Fatalf("reconcile after a killed sender said:\n%s", rec)
	}
	if id := domidOf("mg"); id != after {
		t.Fatalf("mg moved to domid %s", id)
	}
	consistent("after the killed sender and reconcile")
	c.must("shutdown", "-w", "mg")
}
