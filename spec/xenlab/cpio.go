package xenlab

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// An initrd is a "newc" cpio archive (Linux's Documentation/driver-api/
// early-userspace/buffer-format.rst). Writing it here keeps the harness free
// of a cpio binary and makes the archive's contents exact.

type entry struct {
	mode uint32 // type bits and permissions
	data []byte // file contents, or a symlink's target
}

const (
	modeDir     = 0o040000
	modeFile    = 0o100000
	modeSymlink = 0o120000
)

// fsTree is the initrd's files by path (no leading slash).
type fsTree map[string]entry

func (t fsTree) dir(p string) {
	p = strings.Trim(p, "/")
	for p != "" && p != "." {
		if _, ok := t[p]; !ok {
			t[p] = entry{mode: modeDir | 0o755}
		}
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return
		}
		p = p[:i]
	}
}

func (t fsTree) file(p string, mode uint32, data []byte) {
	p = strings.Trim(p, "/")
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		t.dir(p[:i])
	}
	t[p] = entry{mode: modeFile | mode, data: data}
}

func (t fsTree) symlink(p, target string) {
	p = strings.Trim(p, "/")
	if i := strings.LastIndexByte(p, '/'); i > 0 {
		t.dir(p[:i])
	}
	t[p] = entry{mode: modeSymlink | 0o777, data: []byte(target)}
}

// writeCpio writes the tree, parents before children, and the trailer.
func (t fsTree) writeCpio(w io.Writer) error {
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	ino := 1
	pad := func(n int) error {
		if r := n % 4; r != 0 {
			_, err := w.Write(make([]byte, 4-r))
			return err
		}
		return nil
	}
	rec := func(name string, e entry) error {
		nlink := 1
		if e.mode&modeDir == modeDir && e.mode&modeFile != modeFile {
			nlink = 2
		}
		hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, e.mode, 0, 0, nlink, 0, len(e.data), 0, 0, 0, 0, len(name)+1, 0)
		ino++
		if _, err := io.WriteString(w, hdr+name+"\x00"); err != nil {
			return err
		}
		if err := pad(len(hdr) + len(name) + 1); err != nil {
			return err
		}
		if _, err := w.Write(e.data); err != nil {
			return err
		}
		return pad(len(e.data))
	}
	for _, p := range paths {
		if err := rec(p, t[p]); err != nil {
			return err
		}
	}
	return rec("TRAILER!!!", entry{})
}
