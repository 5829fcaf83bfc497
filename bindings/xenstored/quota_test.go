package xenstored

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	xs "luxen/bindings/xenstore"
)

// guestTree gives domain d a writable home, as a toolstack does.
func guestTree(t *testing.T, c *xs.Client, d uint32) string {
	x := ctx(t)
	if err := c.Introduce(x, d, 1, 1); err != nil {
		t.Fatal(err)
	}
	home := fmt.Sprintf("/local/domain/%d", d)
	if err := c.Root().Write(x, home+"/data", ""); err != nil {
		t.Fatal(err)
	}
	c.Root().SetPerms(x, home+"/data", []xs.Perm{{Domid: d, Mode: xs.PermNone}})
	return home + "/data"
}

func TestQuotas(t *testing.T) {
	q := DefaultQuota
	q.NodesPerDomain = 20
	s := New(q)
	dom0 := guest(t, s, 0)
	x := ctx(t)
	data := guestTree(t, dom0, 7)
	g := guest(t, s, 7).Root()

	// nodes: the creator owns them; the 21st (the data dir itself counts) fails
	var err error
	n := 0
	for ; n < 30; n++ {
		if err = g.Write(x, fmt.Sprintf("%s/n%d", data, n), "v"); err != nil {
			break
		}
	}
	if !errors.Is(err, xs.ENOSPC) || n != 19 {
		t.Fatalf("node quota: stopped after %d with %v, want ENOSPC after 19", n, err)
	}
	// dom0 is not bound by quotas
	for i := 0; i < 30; i++ {
		if err := dom0.Root().Write(x, fmt.Sprintf("/dom0/n%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	g.Rm(x, data+"/n0")
	// node size
	if err := g.Write(x, data+"/n0", strings.Repeat("x", 2100)); !errors.Is(err, xs.ENOSPC) {
		t.Fatalf("node size: %v", err)
	}
	// permissions per node
	perms := []xs.Perm{{Domid: 7, Mode: xs.PermNone}}
	for i := 1; i <= 5; i++ {
		perms = append(perms, xs.Perm{Domid: uint32(i + 20), Mode: xs.PermRead})
	}
	if err := g.SetPerms(x, data+"/n1", perms); !errors.Is(err, xs.ENOSPC) {
		t.Fatalf("perms quota: %v", err)
	}
	// transactions
	gc := guest(t, s, 7)
	var txs []*xs.Tx
	for i := 0; i < 11; i++ {
		tx, err := gc.Start(x)
		if err != nil {
			if i != 10 || !errors.Is(err, xs.ENOSPC) {
				t.Fatalf("transaction %d: %v", i, err)
			}
			break
		}
		txs = append(txs, tx)
	}
	if len(txs) != 10 {
		t.Fatalf("%d transactions opened, want 10", len(txs))
	}
	// watches
	wc := guest(t, s, 7)
	for i := 0; i < 129; i++ {
		_, err := wc.Watch(x, fmt.Sprintf("%s/w%d", data, i))
		if i < 128 && err != nil {
			t.Fatalf("watch %d: %v", i, err)
		}
		if i == 128 && !errors.Is(err, xs.E2BIG) {
			t.Fatalf("watch 129: %v, want E2BIG", err)
		}
	}
	// XS_CONTROL quota shows and changes the limits
	out, err := dom0.Control(x, "quota")
	if err != nil || !strings.Contains(out, "nodes             : 20") {
		t.Fatalf("control quota: %q %v", out, err)
	}
	if _, err := dom0.Control(x, "quota", "nodes", "50"); err != nil {
		t.Fatal(err)
	}
	if err := g.Write(x, data+"/more", "v"); err != nil {
		t.Fatalf("after raising the quota: %v", err)
	}
	if _, err := g.Read(x, data); err != nil {
		t.Fatal(err)
	}
	if _, err := guest(t, s, 7).Control(x, "quota"); !errors.Is(err, xs.EACCES) {
		t.Fatalf("guest control: %v", err)
	}
}

func TestReusedDomidInheritsNothing(t *testing.T) {
	s, c, _ := serve(t)
	x := ctx(t)
	data := guestTree(t, c, 9)
	g := guest(t, s, 9)
	if err := g.Root().Write(x, data+"/mine", "1"); err != nil {
		t.Fatal(err)
	}
	c.Root().Write(x, "/shared", "x")
	c.Root().SetPerms(x, "/shared", []xs.Perm{{Domid: 0, Mode: xs.PermNone}, {Domid: 9, Mode: xs.PermBoth}})
	if err := c.Release(x, 9); err != nil {
		t.Fatal(err)
	}
	// a new domain 9 (same domid) gets no access to what the old one had
	g2 := guest(t, s, 9).Root()
	if err := g2.Write(x, data+"/mine", "2"); !errors.Is(err, xs.EACCES) {
		t.Fatalf("reused domid wrote the old domain's node: %v", err)
	}
	if _, err := g2.Read(x, "/shared"); !errors.Is(err, xs.EACCES) {
		t.Fatalf("reused domid read a node shared with the old domain: %v", err)
	}
	if _, err := c.Root().Read(x, data+"/mine"); !errors.Is(err, xs.ENOENT) {
		t.Fatalf("a dead domain's node survived: %v", err)
	}
}

func TestFloodingGuestDoesNotStallOthers(t *testing.T) {
	s, c, _ := serve(t)
	x := ctx(t)
	data := guestTree(t, c, 4)
	// a guest that sends requests and never reads replies
	a, b := pipe()
	go s.ServeConn(b, 4)
	req := xs.AppendMsg(nil, xs.TypeRead, 1, 0, xs.JoinStrings(data))
	go func() {
		for i := 0; i < 10000; i++ {
			if _, err := a.Write(req); err != nil {
				return
			}
		}
	}()
	// everyone else is still served
	for i := 0; i < 100; i++ {
		if err := c.Root().Write(x, "/alive", fmt.Sprint(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
}
