package xenstored

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	xs "luxen/bindings/xenstore"
)

// listen starts a server on a unix socket in the test's temporary directory.
func listen(t testing.TB) (*Server, string) {
	t.Helper()
	return listenWith(t, DefaultQuota)
}

// listenWith is listen with other limits.
func listenWith(t testing.TB, q Quota) (*Server, string) {
	t.Helper()
	s := New(q)
	sock := filepath.Join(t.TempDir(), "xs.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	t.Cleanup(s.Close)
	return s, sock
}

// serve starts a server on a unix socket and returns a dom0 client.
func serve(t testing.TB) (*Server, *xs.Client, string) {
	t.Helper()
	s, sock := listen(t)
	c, err := xs.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c, sock
}

// guest returns a client connected as an unprivileged domain.
func guest(t testing.TB, s *Server, domid uint32) *xs.Client {
	a, b := net.Pipe()
	go s.ServeConn(b, domid)
	c := xs.NewClient(a)
	t.Cleanup(func() { c.Close() })
	return c
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestReadWriteDirectory(t *testing.T) {
	_, c, _ := serve(t)
	x := ctx(t)
	r := c.Root()
	if err := r.Write(x, "/a/b/c", "v"); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Read(x, "/a/b/c"); err != nil || v != "v" {
		t.Fatalf("read = %q, %v", v, err)
	}
	if v, err := r.Read(x, "/a/b"); err != nil || v != "" {
		t.Fatalf("implicit parent = %q, %v", v, err)
	}
	_, err := r.Read(x, "/nope")
	if !errors.Is(err, xs.ENOENT) {
		t.Fatalf("missing node: %v", err)
	}
	for _, n := range []string{"z", "y", "x"} {
		r.Write(x, "/a/"+n, "")
	}
	names, err := r.Directory(x, "/a")
	if err != nil || len(names) != 4 || names[0] != "b" || names[1] != "z" || names[3] != "x" {
		t.Fatalf("directory = %v, %v (want creation order b z y x)", names, err)
	}
	if err := r.Rm(x, "/a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Exists(x, "/a/b/c"); ok {
		t.Fatal("rm left a child behind")
	}
	if _, err := r.Read(x, "bad//path"); !errors.Is(err, xs.EINVAL) {
		t.Fatalf("bad path: %v", err)
	}
}

func TestDirectoryPart(t *testing.T) {
	_, c, _ := serve(t)
	x := ctx(t)
	want := 600
	c.Transaction(x, func(tx *xs.Tx) error {
		for i := 0; i < want; i++ {
			if err := tx.Write(x, "/big/domain-"+time.Duration(i).String(), ""); err != nil {
				return err
			}
		}
		return nil
	})
	names, err := c.Root().Directory(x, "/big")
	if err != nil || len(names) != want {
		t.Fatalf("got %d names, %v; want %d", len(names), err, want)
	}
}

func TestTransactionConflictPerNode(t *testing.T) {
	_, c, _ := serve(t)
	x := ctx(t)
	t1, _ := c.Start(x)
	t2, _ := c.Start(x)
	// disjoint domains under the same parent: both commit
	t1.Write(x, "/local/domain/1/name", "a")
	t2.Write(x, "/local/domain/2/name", "b")
	if err := t1.End(x, true); err != nil {
		t.Fatal(err)
	}
	if err := t2.End(x, true); err != nil {
		t.Fatalf("disjoint transactions conflicted: %v", err)
	}
	// same node: the second conflicts
	t3, _ := c.Start(x)
	t4, _ := c.Start(x)
	t3.Read(x, "/local/domain/1/name")
	t4.Write(x, "/local/domain/1/name", "c")
	t3.Write(x, "/local/domain/1/name", "d")
	if err := t4.End(x, true); err != nil {
		t.Fatal(err)
	}
	if err := t3.End(x, true); !errors.Is(err, xs.EAGAIN) {
		t.Fatalf("overlapping commit = %v, want EAGAIN", err)
	}
	if v, _ := c.Root().Read(x, "/local/domain/1/name"); v != "c" {
		t.Fatalf("value = %q, want c", v)
	}
	// in-transaction view sees its own writes, others do not
	t5, _ := c.Start(x)
	t5.Write(x, "/tx/only", "1")
	if ok, _ := c.Root().Exists(x, "/tx/only"); ok {
		t.Fatal("uncommitted write visible outside the transaction")
	}
	if v, err := t5.Read(x, "/tx/only"); v != "1" || err != nil {
		t.Fatalf("tx read = %q %v", v, err)
	}
	t5.End(x, false)
	if ok, _ := c.Root().Exists(x, "/tx"); ok {
		t.Fatal("aborted transaction left nodes")
	}
}

func TestWatches(t *testing.T) {
	_, c, _ := serve(t)
	x := ctx(t)
	w, err := c.Watch(x, "/w")
	if err != nil {
		t.Fatal(err)
	}
	next := func() string {
		p, _, err := w.Next(x)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := next(); p != "/w" {
		t.Fatalf("initial event %q", p)
	}
	// implicit creation of /w and /w/a fires one event, for the path written
	// (as cxenstored 4.17 does: seen with xenstore-watch in the lab)
	c.Root().Write(x, "/w/a/b", "1")
	if p := next(); p != "/w/a/b" {
		t.Fatalf("implicit creation event %q", p)
	}
	c.Root().Write(x, "/other", "1")
	c.Root().Rm(x, "/w")
	if p := next(); p != "/w" {
		t.Fatalf("rm event %q (an unrelated write leaked?)", p)
	}
	if w.Pending() != 0 {
		t.Fatalf("rm of a subtree fired the watch more than once")
	}
}

func TestPermissions(t *testing.T) {
	s, c, _ := serve(t)
	x := ctx(t)
	r := c.Root()
	for _, d := range []uint32{5, 6} {
		if err := c.Introduce(x, d, 1, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.SetPerms(x, "/tool", []xs.Perm{{Domid: 42, Mode: xs.PermNone}}); !errors.Is(err, xs.ENOENT) {
		t.Fatalf("owner that does not exist: %v, want ENOENT", err)
	}
	r.Write(x, "/local/domain/5/data", "")
	r.SetPerms(x, "/local/domain/5", []xs.Perm{{Domid: 5, Mode: xs.PermNone}})
	r.SetPerms(x, "/local/domain/5/data", []xs.Perm{{Domid: 5, Mode: xs.PermNone}})
	r.Write(x, "/local/domain/6/secret", "s")
	r.SetPerms(x, "/local/domain/6/secret", []xs.Perm{{Domid: 6, Mode: xs.PermNone}})
	g := guest(t, s, 5).Root()
	if err := g.Write(x, "data/x", "1"); err != nil {
		t.Fatalf("guest write in own tree: %v", err)
	}
	if p, _ := r.GetPerms(x, "/local/domain/5/data/x"); p[0].Domid != 5 {
		t.Fatalf("new node owner %v, want the creating domain", p)
	}
	if _, err := g.Read(x, "/local/domain/6/secret"); !errors.Is(err, xs.EACCES) {
		t.Fatalf("guest read of another guest's node: %v", err)
	}
	if err := g.SetPerms(x, "data/x", []xs.Perm{{Domid: 6, Mode: xs.PermNone}}); !errors.Is(err, xs.EPERM) {
		t.Fatalf("guest changing owner: %v", err)
	}
	if err := g.Write(x, "/tool/x", "1"); !errors.Is(err, xs.EACCES) {
		t.Fatalf("guest write outside its tree: %v", err)
	}
}

func pipe() (net.Conn, net.Conn) { return net.Pipe() }

// A transaction that removes a node whose parent someone else removed since
// the transaction first saw the node: a conflict (EAGAIN), not a crash.
func TestRmUnderARemovedParentConflicts(t *testing.T) {
	_, c, _ := serve(t)
	x := ctx(t)
	c.Root().Write(x, "/p/q/r", "1")
	tx, _ := c.Start(x)
	if _, err := tx.Directory(x, "/p/q/r"); err != nil { // the transaction sees r
		t.Fatal(err)
	}
	c.Root().Rm(x, "/p/q") // someone else removes its parent
	err := tx.Rm(x, "/p/q/r")
	if err == nil {
		err = tx.End(x, true)
	}
	if !errors.Is(err, xs.EAGAIN) {
		t.Fatalf("got %v, want EAGAIN", err)
	}
	if err := c.Root().Write(x, "/still", "served"); err != nil {
		t.Fatal(err)
	}
}

// TestClientSurvivesXenstoredRestart: the daemon goes away and another starts
// on the same socket; a redialing client reconnects, its watch is registered
// again (and fires once), and requests work again.
func TestClientSurvivesXenstoredRestart(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "xs.sock")
	start := func() *Server {
		s := New(DefaultQuota)
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		go s.Serve(l)
		return s
	}
	s1 := start()
	c, err := xs.NewRedialing(func() (io.ReadWriteCloser, error) { return net.Dial("unix", sock) })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	x := ctx(t)
	w, err := c.Watch(x, "/w")
	if err != nil {
		t.Fatal(err)
	}
	if p, _, _ := w.Next(x); p != "/w" {
		t.Fatalf("first event %q", p)
	}
	s1.Close()
	os.Remove(sock)
	time.Sleep(50 * time.Millisecond)
	s2 := start()
	defer s2.Close()
	// the re-registered watch fires once on the new daemon
	if p, _, err := w.Next(x); err != nil || p != "/w" {
		t.Fatalf("after restart: %q %v", p, err)
	}
	other, _ := xs.Dial(sock)
	defer other.Close()
	other.Root().Write(x, "/w/x", "1")
	if p, _, err := w.Next(x); err != nil || p != "/w/x" {
		t.Fatalf("event from the new daemon: %q %v", p, err)
	}
	if v, err := c.Root().Read(x, "/w/x"); err != nil || v != "1" {
		t.Fatalf("request after reconnect: %q %v", v, err)
	}
}
