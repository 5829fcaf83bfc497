package xenlab

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"luxen/toolstack/specrun"
)

// dom0Script runs inside the lab's dom0: every spec marked for real Xen, with
// luxen's own runner, reporting SPEC-RESULT lines back.
//
// The emulated CPU is 50-100x slower than hardware, and go test may run
// other packages beside the lab: scripts get 30 s, not 1 s, before the
// watchdog calls them runaway.
const dom0Script = `
export PATH=/bin:/sbin HOME=/tmp LUXEN_WATCHDOG=30
cd /spec
echo "xl: $(xl info | grep -E '^(xen_version|total_memory|nr_cpus)' | tr -s ' ' | tr '\n' ' ')"
luxen spec --json --host xen *_spec.lua
# the same xenstore spec once more, over the xenbus device instead of the socket
mkdir -p /tmp/xenbus && cp helpers.lua /tmp/xenbus/ && cp xenstore_spec.lua /tmp/xenbus/xenstore_over_xenbus_spec.lua
cd /tmp/xenbus && XENSTORED_PATH=/dev/xen/xenbus luxen spec --json --host xen xenstore_over_xenbus_spec.lua
`

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
	return files
}

// prepareLab readies the lab (downloading what it lacks) and the files dom0
// gets; the context bounds the whole test.
func prepareLab(t *testing.T) (context.Context, *Lab, map[string][]byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
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
	var xenSpecs []string
	for p := range files {
		if strings.HasSuffix(p, "_spec.lua") {
			if ok, _ := specrun.ForHost(filepath.Join("..", filepath.Base(p)), "xen"); ok {
				xenSpecs = append(xenSpecs, filepath.Base(p))
			}
		}
	}
	t.Logf("real-Xen spec files: %v", xenSpecs)
	serial := filepath.Join(os.TempDir(), "luxen-xenlab-serial.log")
	res, err := lab.Run(ctx, RunOptions{Files: files, Script: dom0Script, SerialLog: serial, Timeout: 30 * time.Minute})
	if res != nil {
		t.Logf("lab: boot to dom0 script %.1fs, whole run %.1fs (serial log %s)", res.Boot.Seconds(), res.Total.Seconds(), serial)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	sc := bufio.NewScanner(strings.NewReader(res.Output))
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
	if n == 0 {
		t.Fatalf("no spec results came back from dom0 (rc %d):\n%s", res.RC, res.Output)
	}
	if res.RC != 0 && !t.Failed() {
		t.Fatalf("dom0 script exited %d:\n%s", res.RC, res.Output)
	}
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
	res, err := lab.Run(ctx, RunOptions{Files: files, Script: string(src), SerialLog: filepath.Join(os.TempDir(), "luxen-lab-script.log"), Timeout: 30 * time.Minute})
	if res != nil {
		t.Logf("rc %d, boot %.1fs, total %.1fs\n%s", res.RC, res.Boot.Seconds(), res.Total.Seconds(), res.Output)
	}
	if err != nil {
		t.Fatal(err)
	}
}
