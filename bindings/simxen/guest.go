package simxen

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"

	hc "luxen/bindings/hypercall"
	xs "luxen/bindings/xenstore"
)

// guest is a simulated guest OS. It behaves as Linux's drivers/xen/manage.c does:
// it advertises control/feature-*, watches control/shutdown, acknowledges a
// request by writing "" back, and shuts its domain down with the matching reason.
// It talks to xenstored as its own (unprivileged) domain.
type guest struct {
	h     *Host
	id    uint32
	delay time.Duration

	ctx     context.Context
	cancel  context.CancelFunc
	hung    atomic.Bool
	up      atomic.Bool
	nopv    atomic.Bool    // boots without PV drivers (GuestAction "nopv")
	backend *backendDriver // serves this guest's own backend/ tree (a driver domain)

	mu      sync.Mutex
	paused  bool
	resumed chan struct{}
}

func newGuest(h *Host, id uint32, delay time.Duration) *guest {
	ctx, cancel := context.WithCancel(context.Background())
	return &guest{h: h, id: id, delay: delay, ctx: ctx, cancel: cancel, paused: true, resumed: make(chan struct{}),
		backend: newBackend(id)}
}

func (g *guest) booted() bool { return g.up.Load() }

// callbackVector is what Linux writes to HVM_PARAM_CALLBACK_IRQ: delivery
// type 2 (a vector) in bits 63:56, vector 0xf3 (HYPERVISOR_CALLBACK_VECTOR).
const callbackVector = 2<<56 | 0xf3

// powerButton is an ACPI power button press: a booted guest that is not
// hung powers off, as Linux with acpid (or systemd-logind) does.
func (g *guest) powerButton() {
	if !g.booted() || g.hung.Load() {
		return
	}
	go func() {
		if g.waitRunning() {
			_ = g.h.Shutdown(context.Background(), g.id, hc.Poweroff)
		}
	}()
}

func (g *guest) stop() { g.cancel() }

func (g *guest) setPaused(p bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.paused == p {
		return
	}
	g.paused = p
	if !p {
		close(g.resumed)
	} else {
		g.resumed = make(chan struct{})
	}
}

// waitRunning blocks while the domain is paused; false when the guest is gone.
func (g *guest) waitRunning() bool {
	for {
		g.mu.Lock()
		paused, ch := g.paused, g.resumed
		g.mu.Unlock()
		if !paused {
			return g.ctx.Err() == nil
		}
		select {
		case <-ch:
		case <-g.ctx.Done():
			return false
		}
	}
}

func (g *guest) run() {
	if !g.waitRunning() {
		return
	}
	if g.delay > 0 {
		select {
		case <-time.After(g.delay):
		case <-g.ctx.Done():
			return
		}
	}
	if g.nopv.Load() {
		// up, with only ACPI to talk to: it waits for the power button
		g.up.Store(true)
		<-g.ctx.Done()
		return
	}
	// its PV drivers start: Xen's callback for its event channels is set
	// (on an HVM container; Linux's xen_set_callback_via)
	g.h.mu.Lock()
	if d, ok := g.h.doms[g.id]; ok && d.hvm && !d.destroyed {
		g.h.setParam(d, hc.HVMParamCallbackIRQ, callbackVector)
	}
	g.h.mu.Unlock()
	a, b := net.Pipe()
	go g.h.XS.ServeConn(b, g.id)
	c := xs.NewClient(a)
	defer c.Close()
	ctx := g.ctx
	r := c.Root()
	w, err := c.Watch(ctx, "control/shutdown")
	if err != nil {
		return
	}
	go g.runFrontends(ctx, c)
	go g.backend.run(ctx, c)
	g.up.Store(true)
	// Features last: a toolstack that sees them may rely on the watch being in
	// place and on the domain reporting itself booted.
	for _, f := range []string{"feature-poweroff", "feature-reboot", "feature-suspend"} {
		// A toolstack that did not make control/ writable gets no features,
		// exactly as with Linux (which only logs the failure).
		_ = r.Write(ctx, "control/"+f, "1")
	}
	for {
		if _, _, err := w.Next(ctx); err != nil {
			return
		}
		if !g.waitRunning() {
			return
		}
		if g.hung.Load() {
			continue
		}
		v, err := r.Read(ctx, "control/shutdown")
		if err != nil || v == "" {
			continue
		}
		var reason hc.ShutdownReason
		switch v {
		case "poweroff", "halt":
			reason = hc.Poweroff
		case "reboot":
			reason = hc.Reboot
		case "suspend":
			reason = hc.Suspend
		default:
			continue
		}
		_ = r.Write(ctx, "control/shutdown", "")
		_ = g.h.Shutdown(context.Background(), g.id, reason)
		return
	}
}
