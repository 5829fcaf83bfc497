package evtchn

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// TestIoctlNumbersMatchLinuxHeaders compiles against xen/sys/evtchn.h.
func TestIoctlNumbersMatchLinuxHeaders(t *testing.T) {
	if _, err := os.Stat("/usr/include/xen/sys/evtchn.h"); err != nil {
		if os.Getenv("LUXEN_REQUIRE_C_TOOLS") != "" {
			t.Fatal("xen/sys/evtchn.h (libxen-dev) is required but missing")
		}
		t.Skip("libxen-dev not installed")
	}
	src := `#include <stdio.h>
#include <stddef.h>
#include <linux/types.h>
#include <linux/ioctl.h>
typedef unsigned short domid_t;
#include <xen/sys/evtchn.h>
int main(void) {
  printf("%lu %lu %lu %lu %lu %lu %zu %zu %zu\n", (unsigned long)IOCTL_EVTCHN_BIND_VIRQ, (unsigned long)IOCTL_EVTCHN_BIND_INTERDOMAIN,
    (unsigned long)IOCTL_EVTCHN_BIND_UNBOUND_PORT, (unsigned long)IOCTL_EVTCHN_UNBIND, (unsigned long)IOCTL_EVTCHN_NOTIFY,
    (unsigned long)IOCTL_EVTCHN_RESET, sizeof(struct ioctl_evtchn_bind_interdomain),
    offsetof(struct ioctl_evtchn_bind_interdomain, remote_port), sizeof(struct ioctl_evtchn_bind_unbound_port));
  return 0;
}`
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.c"), []byte(src), 0o644)
	if out, err := exec.Command("gcc", "-o", filepath.Join(dir, "p"), filepath.Join(dir, "p.c")).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "p")).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	want := []uint64{ioctlBindVirq, ioctlBindInterdomain, ioctlBindUnboundPort, ioctlUnbind, ioctlNotify, ioctlReset,
		uint64(unsafe.Sizeof(bindInterdomainArg{})), uint64(unsafe.Offsetof(bindInterdomainArg{}.RemotePort)), 4}
	for i, w := range want {
		got, _ := strconv.ParseUint(f[i], 10, 64)
		if got != w {
			t.Errorf("item %d: C %d, Go %d", i, got, w)
		}
	}
}
