package xenlab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCpioIsReadByCpio checks the archive with GNU cpio when it is installed.
func TestCpioIsReadByCpio(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	tr := fsTree{}
	tr.file("bin/hello", 0o755, []byte("#!/bin/sh\necho hi\n"))
	tr.file("etc/odd", 0o644, []byte("123"))
	tr.symlink("var/run", "/run")
	var buf bytes.Buffer
	if err := tr.writeCpio(&buf); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(cpio, "-idm", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "bin/hello"))
	if err != nil || string(b) != "#!/bin/sh\necho hi\n" {
		t.Fatalf("%q %v", b, err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "bin/hello")); st.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v", st.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(dir, "var/run")); l != "/run" {
		t.Fatalf("symlink %q", l)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/odd")); string(b) != "123" {
		t.Fatalf("odd-sized file %q", b)
	}
}
