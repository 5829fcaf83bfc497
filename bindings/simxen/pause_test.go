package simxen

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	hc "luxen/bindings/hypercall"
)

// The simulated pausedomain/unpausedomain must behave as Xen 4.17's. Line
// numbers are of xen-project/xen at tag RELEASE-4.17.5:
//
//   - xen/common/domain.c:687-688, domain_create(): every new domain starts
//     with d->controller_pause_count = 1 (and one d->pause_count reference).
//   - xen/common/domain.c:1297-1319, _domain_pause_by_systemcontroller():
//     each XEN_DOMCTL_pausedomain adds one; a count past 255 fails with
//     -EOVERFLOW (1306-1311) and changes nothing.
//   - xen/common/domain.c:1331-1369, domain_unpause_by_systemcontroller():
//     each XEN_DOMCTL_unpausedomain takes one; at 0 it fails with -EINVAL
//     (1340-1341). The vcpus run again only when the count reaches 0.
//   - xen/common/domctl.c:101, getdomaininfo(): XEN_DOMINF_paused is
//     controller_pause_count > 0.
//   - xen/common/domctl.c:393-397: pausing the caller's own domain (dom0 for
//     a toolstack) is -EINVAL; xen/arch/x86/setup.c:629 unpauses dom0 once at
//     boot, so its count is 0 and unpausing it is -EINVAL as well.
//
// Errors come back as *hc.Error with Xen's errno, as the privcmd path
// returns them (bindings/hypercall/privcmd_linux.go, domctl()).

func wantErrno(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	var he *hc.Error
	if !errors.As(err, &he) || he.Errno != want {
		t.Fatalf("%s: got %v, want an *hypercall.Error with %s", what, err, hc.ErrnoName(want))
	}
}

func paused(t *testing.T, h *Host, id uint32) bool {
	t.Helper()
	di, err := h.DomainInfo(context.Background(), id)
	if err != nil {
		t.Fatalf("getdomaininfo %d: %v", id, err)
	}
	return di.Paused
}

func TestPausesNestAsInXen(t *testing.T) {
	h := New(Options{})
	defer h.Close()
	ctx := context.Background()
	id, err := h.CreateDomain(ctx, hc.CreateConfig{MaxVcpus: 1})
	if err != nil {
		t.Fatal(err)
	}
	// domain.c:687: a new domain holds one controller pause
	if !paused(t, h, id) {
		t.Fatal("a new domain is not paused")
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatalf("the unpause that ends creation: %v", err)
	}
	if paused(t, h, id) {
		t.Fatal("paused after dropping the creation pause")
	}
	// domain.c:1340: no pause left to drop
	wantErrno(t, "unpause of a running domain", h.UnpauseDomain(ctx, id), syscall.EINVAL)
	if paused(t, h, id) {
		t.Fatal("a failed unpause paused the domain")
	}

	// two pauses need two unpauses
	for i := 0; i < 2; i++ {
		if err := h.PauseDomain(ctx, id); err != nil {
			t.Fatalf("pause %d: %v", i+1, err)
		}
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !paused(t, h, id) {
		t.Fatal("pause, pause, unpause left the domain running; Xen keeps it paused")
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if paused(t, h, id) {
		t.Fatal("still paused after as many unpauses as pauses")
	}

	// domain.c:1310: at most 255 nested pauses; the 256th fails and counts nothing
	for i := 1; i <= 255; i++ {
		if err := h.PauseDomain(ctx, id); err != nil {
			t.Fatalf("pause %d of 255: %v", i, err)
		}
	}
	wantErrno(t, "pause 256", h.PauseDomain(ctx, id), syscall.EOVERFLOW)
	for i := 1; i <= 255; i++ {
		if !paused(t, h, id) {
			t.Fatalf("running after %d of 255 unpauses", i-1)
		}
		if err := h.UnpauseDomain(ctx, id); err != nil {
			t.Fatalf("unpause %d of 255: %v", i, err)
		}
	}
	if paused(t, h, id) {
		t.Fatal("paused after 255 pauses and 255 unpauses (the refused 256th must not count)")
	}
	wantErrno(t, "unpause past zero", h.UnpauseDomain(ctx, id), syscall.EINVAL)

	// domctl.c:393-397 and setup.c:629: dom0 (the caller) is neither paused nor unpaused
	wantErrno(t, "pause dom0", h.PauseDomain(ctx, 0), syscall.EINVAL)
	wantErrno(t, "unpause dom0", h.UnpauseDomain(ctx, 0), syscall.EINVAL)
	if paused(t, h, 0) {
		t.Fatal("dom0 reported paused")
	}
	// no such domain: ESRCH, before any pause accounting
	wantErrno(t, "pause a missing domain", h.PauseDomain(ctx, 999), syscall.ESRCH)
	wantErrno(t, "unpause a missing domain", h.UnpauseDomain(ctx, 999), syscall.ESRCH)
}

// The simulated guest follows the count, not the last call: it does not boot
// while any controller pause is held, and a nested pause stops it until the
// last unpause.
func TestGuestRunsOnlyWithNoPauseHeld(t *testing.T) {
	h := New(Options{})
	defer h.Close()
	ctx := context.Background()
	id := builtGuest(ctx, t, h)
	booted := func() bool {
		ok, err := h.GuestBooted(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	// the creation pause plus one more: one unpause is not enough to run
	if err := h.PauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if booted() {
		t.Fatal("the guest booted while the creation pause was still held")
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !booted() {
		if time.Now().After(deadline) {
			t.Fatal("the guest did not boot after the last unpause")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.mu.Lock()
	g := h.doms[id].guest
	h.mu.Unlock()
	running := func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return !g.paused
	}
	for i := 0; i < 2; i++ {
		if err := h.PauseDomain(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if running() {
		t.Fatal("the guest's vcpus run with one of two pauses still held")
	}
	if err := h.UnpauseDomain(ctx, id); err != nil {
		t.Fatal(err)
	}
	if !running() {
		t.Fatal("the guest's vcpus do not run after the last unpause")
	}
}
