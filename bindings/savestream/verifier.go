package savestream

import (
	"os"
	"os/exec"
	"path/filepath"
)

// XenVerifier finds Xen's own stream checker, verify-stream-v2 (pure
// Python, in xen-utils-4.17), for the tests that hold luxen's streams to it:
// under $LUXEN_XEN_ROOT (CI's unpacked xen-utils) if set, else installed, or
// in the lab's unpacked packages. "" when it or python3 is missing.
func XenVerifier() (tool, pylib string) {
	roots := []string{"/"}
	if r := os.Getenv("LUXEN_XEN_ROOT"); r != "" {
		roots = []string{r}
	} else if h, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(h, ".cache/luxen/xenlab/root"))
	}
	if _, err := exec.LookPath("python3"); err != nil {
		return "", ""
	}
	for _, r := range roots {
		tool := filepath.Join(r, "usr/lib/xen-4.17/bin/verify-stream-v2")
		if _, err := os.Stat(tool); err == nil {
			return tool, filepath.Join(r, "usr/lib/xen-4.17/lib/python")
		}
	}
	return "", ""
}
