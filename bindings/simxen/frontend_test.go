package simxen

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	hc "luxen/bindings/hypercall"
	xs "luxen/bindings/xenstore"
	"luxen/bindings/xenstored"
)

// dom0Client is a privileged connection to the host's xenstored, as the
// toolstack has.
func dom0Client(t *testing.T, h *Host) *xs.Client {
	t.Helper()
	a, b := net.Pipe()
	go h.XS.ServeConn(b, 0)
	c := xs.NewClient(a)
	t.Cleanup(func() { c.Close() })
	return c
}

// addDisk writes one vbd's frontend and backend as the toolstack does
// (stdlib/lua/devices.lua, libxl's layout and permissions), in one transaction.
func addDisk(ctx context.Context, t *testing.T, c *xs.Client, domid uint32, devid int) {
	t.Helper()
	fe := fmt.Sprintf("/local/domain/%d/device/vbd/%d", domid, devid)
	bk := fmt.Sprintf("/local/domain/0/backend/vbd/%d/%d", domid, devid)
	err := c.Transaction(ctx, func(tx *xs.Tx) error {
		for dir, perms := range map[string][]xs.Perm{
			fe: {{Domid: domid, Mode: xs.PermNone}, {Domid: 0, Mode: xs.PermRead}},
			bk: {{Domid: 0, Mode: xs.PermNone}, {Domid: domid, Mode: xs.PermRead}},
		} {
			if err := tx.Mkdir(ctx, dir); err != nil {
				return err
			}
			if err := tx.SetPerms(ctx, dir, perms); err != nil {
				return err
			}
		}
		for p, v := range map[string]string{
			fe + "/backend": bk, fe + "/backend-id": "0", fe + "/state": "1",
			fe + "/virtual-device": strconv.Itoa(devid), fe + "/device-type": "disk",
			bk + "/frontend": fe, bk + "/frontend-id": strconv.FormatUint(uint64(domid), 10),
			bk + "/online": "1", bk + "/state": "1", bk + "/params": "/img/d" + strconv.Itoa(devid),
		} {
			if err := tx.Write(ctx, p, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("adding vbd %d: %v", devid, err)
	}
}

// A simulated guest's frontend must not depend on seeing every watch event:
// Linux's xenbus re-enumerates device/ and reads states afresh, and a
// xenstored that drops events (cxenstored drops one left unread past its
// watch-event timeout: here a millisecond, so events that queue behind the
// guest's one xenwatch loop are lost; and an
// outstanding quota of 2 throttles the guest's requests) must still end with
// every device Connected.
func TestFrontendConnectsEveryDiskDespiteDroppedEvents(t *testing.T) {
	q := xenstored.DefaultQuota
	q.Outstanding = 2
	q.WatchEventTimeout = time.Millisecond
	h := New(Options{Quota: q})
	defer h.Close()
	var dropped atomic.Int64
	h.XS.Logf = func(string, ...any) { dropped.Add(1) }
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := dom0Client(t, h)
	id := builtGuest(ctx, t, h)
	guestSkeleton(ctx, t, c, id)
	const n = 60
	for i := 0; i < n; i++ {
		addDisk(ctx, t, c, id, 51712+16*i)
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	o := c.Root()
	start := time.Now()
	var left []string
	for {
		left = left[:0]
		for i := 0; i < n; i++ {
			devid := 51712 + 16*i
			fs := readState(ctx, o, fmt.Sprintf("/local/domain/%d/device/vbd/%d", id, devid))
			bs := readState(ctx, o, fmt.Sprintf("/local/domain/0/backend/vbd/%d/%d", id, devid))
			if fs != stConnected || bs != stConnected {
				left = append(left, fmt.Sprintf("%d fe=%d be=%d", devid, fs, bs))
			}
		}
		if len(left) == 0 || time.Since(start) > 30*time.Second {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := h.DestroyDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Fatalf("%d of %d disks not Connected after 30 s: %v", len(left), n, left)
	}
	t.Logf("%d disks Connected in %v; xenstored reported %d dropped events or quota hits", n, time.Since(start).Round(time.Millisecond), dropped.Load())
}

// A frontend that xenstored refuses (here: its domain's node quota is spent,
// so it cannot create ring-ref) fails the device as Linux's xenbus_dev_fatal
// does, by switching it to Closing, instead of leaving it at Initialising
// where nothing tells it from one still on its way.
func TestFrontendFailsARefusedDeviceLikeXenbusDevFatal(t *testing.T) {
	q := xenstored.DefaultQuota
	q.NodesPerDomain = 1 // the toolstack's writes (not bound) already exceed it
	h := New(Options{Quota: q})
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dom0Client(t, h)
	id := builtGuest(ctx, t, h)
	guestSkeleton(ctx, t, c, id)
	addDisk(ctx, t, c, id, 51712)
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	fe := fmt.Sprintf("/local/domain/%d/device/vbd/51712", id)
	deadline := time.Now().Add(10 * time.Second)
	for readState(ctx, c.Root(), fe) != stClosing {
		if time.Now().After(deadline) {
			t.Fatalf("frontend state %d, want %d (Closing) after its ring-ref was refused", readState(ctx, c.Root(), fe), stClosing)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, _ := c.Root().Exists(ctx, fe+"/ring-ref"); ok {
		t.Fatal("ring-ref written past the node quota")
	}
	if err := h.DestroyDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// builtGuest creates and builds a 16 MiB simulated PVH guest, left paused.
func builtGuest(ctx context.Context, t *testing.T, h *Host) uint32 {
	t.Helper()
	id, err := h.CreateDomain(ctx, hc.CreateConfig{MaxVcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.SetMaxMem(ctx, id, 16<<10); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Build(ctx, id, hc.BuildSpec{Type: "pvh", MemoryKB: 16 << 10, Vcpus: 1}); err != nil {
		t.Fatal(err)
	}
	return id
}

// guestSkeleton writes the skeleton's part the frontend reads: dom0 owns,
// the guest reads (lifecycle.lua's write_skeleton, after libxl__domain_make).
func guestSkeleton(ctx context.Context, t *testing.T, c *xs.Client, id uint32) {
	t.Helper()
	for _, p := range []string{fmt.Sprintf("/local/domain/%d", id), fmt.Sprintf("/local/domain/%d/device", id)} {
		if err := c.Root().Mkdir(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := c.Root().SetPerms(ctx, p, []xs.Perm{{Domid: 0, Mode: xs.PermNone}, {Domid: id, Mode: xs.PermRead}}); err != nil {
			t.Fatal(err)
		}
	}
}
