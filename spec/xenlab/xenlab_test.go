package xenlab

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"luxen/bindings/savestream"
	"luxen/toolstack/specrun"
)

// dom0Script runs the named spec files inside the lab's dom0 with luxen's
// own runner, reporting SPEC-RESULT lines back; the main group also runs the
// xenstore spec once more, over the xenbus device instead of the socket.
//
// The emulated CPU is 50-100x slower than hardware, and go test may run
// other packages beside the lab: scripts get 30 s, not 1 s, before the
// watchdog calls them runaway.
func dom0Script(specs []string, xenbus bool) string {
	s := `
export PATH=/bin:/sbin HOME=/tmp LUXEN_WATCHDOG=30
cd /spec
echo "xl: $(xl info | grep -E '^(xen_version|total_memory|nr_cpus)' | tr -s ' ' | tr '\n' ' ')"
luxen spec --json --host xen ` + strings.Join(specs, " ") + "\n"
	if xenbus {
		s += `mkdir -p /tmp/xenbus && cp helpers.lua /tmp/xenbus/ && cp xenstore_spec.lua /tmp/xenbus/xenstore_over_xenbus_spec.lua
cd /tmp/xenbus && XENSTORED_PATH=/dev/xen/xenbus luxen spec --json --host xen xenstore_over_xenbus_spec.lua
`
	}
	return s
}

// labGroup is the group a spec file asks to be booted with, from a
// "-- lab: NAME" line among its leading comments; "main" when it names none.
// Each group gets a lab boot of its own, so that a slow group (hundreds of
// guests, HVM Linux under emulation) neither starves the others of time nor
// hides their results when it runs out of its own.
func labGroup(src []byte) string {
	for _, line := range strings.Split(string(src), "\n") {
		if !strings.HasPrefix(line, "--") {
			break
		}
		if g, ok := strings.CutPrefix(line, "-- lab: "); ok {
			return strings.TrimSpace(g)
		}
	}
	return "main"
}

// labGroupTimeout bounds one group's boot: the main group is many short
// specs, the others a few long ones (times measured in CI, with room).
var labGroupTimeout = map[string]time.Duration{
	"main":        20 * time.Minute,
	"devicemodel": 20 * time.Minute,
	"load":        30 * time.Minute,
	// 200 tiny guests three ways (xl's round boxed at 4 minutes) and 500
	// create/destroy cycles
	"many": 40 * time.Minute,
	// driver domains: a few Linux guests booted and restarted several
	// times (one pass took 4 minutes in all, boot included)
	"driverdomain": 15 * time.Minute,
}

// labGroupOptIn are the groups that run only when LUXEN_LAB_GROUPS (a
// comma-separated list) names them, and why they are not run by default
// (none now: driverdomain was, until its guests were pinned to one CPU,
// which ended their triple faults under emulation).
var labGroupOptIn = map[string]string{}

func optedIn(group string) bool {
	for _, g := range strings.Split(os.Getenv("LUXEN_LAB_GROUPS"), ",") {
		if strings.TrimSpace(g) == group {
			return true
		}
	}
	return false
}

// dom0Files is what goes into dom0: a static luxen, the spec files, and the
// guest initrd the guest specs boot.
func dom0Files(t *testing.T, lab *Lab) map[string][]byte {
	bin := filepath.Join(t.TempDir(), "luxen")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/luxen")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // dom0 has no Go runtime deps to offer
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building a static luxen: %v\n%s", err, out)
	}
	files := map[string][]byte{}
	b, _ := os.ReadFile(bin)
	files["bin/luxen"] = b
	specs, _ := filepath.Glob("../*.lua")
	for _, f := range specs {
		b, _ := os.ReadFile(f)
		files["spec/"+filepath.Base(f)] = b
	}
	initrd, err := lab.GuestInitrd()
	if err != nil {
		t.Fatal(err)
	}
	files["guest/initrd.gz"] = initrd
	files["guest/hvmboot.img"] = HVMBootDisk()
	files["guest/tiny.elf"] = TinyPVHKernel()
	// console=hvc0: Linux on HVM finds Xen's PV console too (the same
	// console log as a PVH guest's); ttyS0 is QEMU's serial, unconnected
	disk, err := lab.LinuxHVMDisk(initrd, "console=hvc0 luxen_action=stay")
	if err != nil {
		t.Fatal(err)
	}
	files["guest/linux-hvm.img"] = disk
	// the same guest without PV drivers: nopv turns Xen off for Linux, so
	// it has no PV console either (it reports on port 0xe9)
	disk, err = lab.LinuxHVMDisk(initrd, "nopv luxen_action=acpi")
	if err != nil {
		t.Fatal(err)
	}
	files["guest/linux-hvm-nopv.img"] = disk
	return files
}

// prepareLab readies the lab (downloading what it lacks) and the files dom0
// gets; the context bounds the whole test.
func prepareLab(t *testing.T) (context.Context, *Lab, map[string][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	t.Cleanup(cancel)
	lab, err := Prepare(ctx, DefaultCache(), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, lab, dom0Files(t, lab)
}

// TestRealXen boots Xen 4.17 under QEMU and runs the real-Xen specs in its
// dom0; each spec is reported here as a subtest, with its time in the lab.
func TestRealXen(t *testing.T) {
	if os.Getenv("LUXEN_XENLAB") == "" {
		t.Skip("set LUXEN_XENLAB=1 to boot a real Xen 4.17 under QEMU and run the real-Xen specs " +
			"(about 13 minutes, ten guests at once by luxen and by xl among them; the first run downloads ~80 MB of Debian packages)")
	}
	ctx, lab, files := prepareLab(t)
	groups := map[string][]string{}
	for p, src := range files {
		if !strings.HasSuffix(p, "_spec.lua") {
			continue
		}
		if ok, _ := specrun.ForHost(filepath.Join("..", filepath.Base(p)), "xen"); ok {
			g := labGroup(src)
			groups[g] = append(groups[g], filepath.Base(p))
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		if _, ok := labGroupTimeout[g]; !ok {
			t.Fatalf("spec files %v name lab group %q, which has no timeout in labGroupTimeout", groups[g], g)
		}
		names = append(names, g)
	}
	sort.Strings(names)
	for _, g := range names {
		specs := groups[g]
		sort.Strings(specs)
		t.Run("lab-"+g, func(t *testing.T) {
			if why, ok := labGroupOptIn[g]; ok && !optedIn(g) {
				t.Skipf("lab group %s runs only when LUXEN_LAB_GROUPS names it: %s", g, why)
			}
			runLabGroup(ctx, t, lab, files, g, specs)
		})
	}
}

// runLabGroup boots the lab once for one group of spec files and reports each
// spec as a subtest, with its time in the lab.
func runLabGroup(ctx context.Context, t *testing.T, lab *Lab, files map[string][]byte, group string, specs []string) {
	t.Logf("real-Xen spec files: %v", specs)
	serial := filepath.Join(os.TempDir(), "luxen-xenlab-serial-"+group+".log")
	export := filepath.Join(t.TempDir(), "export.img")
	if err := os.WriteFile(export, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Truncate(export, 1<<30) // sparse: room for a save file of a 256 MiB guest and more
	res, err := lab.Run(ctx, RunOptions{Files: files, Script: dom0Script(specs, group == "main"), SerialLog: serial,
		Timeout: labGroupTimeout[group], ExportDisk: export})
	if res != nil {
		t.Logf("lab: boot to dom0 script %.1fs, whole run %.1fs (serial log %s)", res.Boot.Seconds(), res.Total.Seconds(), serial)
		if res.BootStalls > 0 {
			t.Logf("lab: %d boot(s) stalled in the emulator before the script began and were booted again (the vCPUs' registers are in the serial log)", res.BootStalls)
		}
	}
	n := 0
	if res != nil {
		n = reportSpecResults(t, res.Output)
	}
	if err != nil {
		// what did come back is reported above: a timeout names the spec
		// that was running by what is missing
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatalf("no spec results came back from dom0 (rc %d):\n%s", res.RC, res.Output)
	}
	verifyExport(t, export)
	if res.RC != 0 && !t.Failed() {
		t.Fatalf("dom0 script exited %d:\n%s", res.RC, res.Output)
	}
}

// verifyExport holds a save file a spec wrote to the export disk (dom0's
// /dev/vda) to Xen's verify-stream-v2, which the lab's dom0 cannot run:
// the stream is read up to libxl's END (the disk goes on with zeroes) and
// checked as a file of its own.
func verifyExport(t *testing.T, disk string) {
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	magic := make([]byte, len(savestream.XLMagic))
	if _, err := f.ReadAt(magic, 0); err != nil || string(magic) != savestream.XLMagic {
		return // no spec exported a stream
	}
	t.Run("export/verify-stream-v2", func(t *testing.T) {
		sum, err := savestream.ScanStream(f)
		if err != nil {
			t.Fatalf("the exported stream: %v", err)
		}
		out := filepath.Join(t.TempDir(), "exported.save")
		b := make([]byte, sum.Bytes)
		if _, err := f.ReadAt(b, 0); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(out, b, 0o644)
		tool, pylib := savestream.XenVerifier()
		if tool == "" {
			if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
				t.Fatal("no verify-stream-v2 (xen-utils-4.17) and python3")
			}
			t.Skip("no verify-stream-v2 (xen-utils-4.17) and python3")
		}
		cmd := exec.Command("python3", tool, "-f", "xl", "-i", out)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+pylib)
		res, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("verify-stream-v2 of the save file exported from the lab (%d bytes, %d pfns, %d pages): %v\n%s",
				sum.Bytes, sum.PFNs, sum.Pages, err, res)
		}
		t.Logf("verify-stream-v2 took the lab's save file: %d bytes, %d pfns, %d pages", sum.Bytes, sum.PFNs, sum.Pages)
	})
}

// reportSpecResults turns dom0's SPEC-RESULT lines into subtests and logs the
// rest of its output; it returns how many results there were.
func reportSpecResults(t *testing.T, output string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(output))
	sc.Buffer(make([]byte, 0, 64*1024), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "SPEC-RESULT ")
		if !ok {
			t.Log(line)
			continue
		}
		var r specrun.Result
		if err := json.Unmarshal([]byte(rest), &r); err != nil {
			t.Errorf("bad result line %q: %v", line, err)
			continue
		}
		n++
		t.Run(r.File+"/"+r.Name, func(t *testing.T) {
			t.Logf("%.2fs in the lab", r.Seconds)
			switch r.Status {
			case "fail":
				t.Error(r.Err)
			case "pass":
			default:
				t.Skip(r.Status + " " + r.Err)
			}
		})
	}
	return n
}

// TestLabScript runs the dom0 script named by LUXEN_LAB_SCRIPT in the lab,
// with a static luxen, the specs and the guest initrd in place: a developer's
// way to try things on real Xen.
func TestLabScript(t *testing.T) {
	script := os.Getenv("LUXEN_LAB_SCRIPT")
	if script == "" {
		t.Skip("set LUXEN_LAB_SCRIPT=file.sh to run it in the lab's dom0")
	}
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	ctx, lab, files := prepareLab(t)
	export := filepath.Join(t.TempDir(), "export.img")
	os.WriteFile(export, nil, 0o644)
	os.Truncate(export, 1<<30)
	res, err := lab.Run(ctx, RunOptions{Files: files, Script: string(src), SerialLog: filepath.Join(os.TempDir(), "luxen-lab-script.log"),
		Timeout: 30 * time.Minute, ExportDisk: export})
	if res != nil {
		t.Logf("rc %d, boot %.1fs, total %.1fs\n%s", res.RC, res.Boot.Seconds(), res.Total.Seconds(), res.Output)
	}
	if err != nil {
		t.Fatal(err)
	}
	verifyExport(t, export)
}
