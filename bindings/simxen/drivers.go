package simxen

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	xs "luxen/bindings/xenstore"
)

// The simulated split drivers: a backend driver in dom0 (what blkback and
// netback do with xenstore) and a frontend driver in each simulated guest.
// Both follow the XenbusState handshake of xen/include/public/io/xenbus.h:
// backend Initialising -> InitWait; frontend publishes its ring and goes
// Initialised; backend Connected; frontend Connected. On close-down the
// backend goes from Closing to Closed and the frontend follows.

// the handshake's states, as ints for the state nodes' values
const (
	stInitialising = int(xs.XenbusInitialising)
	stInitWait     = int(xs.XenbusInitWait)
	stInitialised  = int(xs.XenbusInitialised)
	stConnected    = int(xs.XenbusConnected)
	stClosing      = int(xs.XenbusClosing)
	stClosed       = int(xs.XenbusClosed)
)

// switchState writes a device's nodes in one transaction that first checks
// the device still exists and is still in state from: a driver must never
// re-create (through implicit parents) a device being removed, nor, when a
// conflict makes it retry, apply a transition decided on a state that has
// changed since (Closing overwritten by Connected). It returns errGone when
// that check failed, or what xenstored refused.
func switchState(ctx context.Context, cl *xs.Client, dev string, from int, kv ...string) error {
	return cl.Transaction(ctx, func(tx *xs.Tx) error {
		cur, err := tx.Read(ctx, dev+"/state")
		if err != nil {
			return errGone
		}
		if cur != strconv.Itoa(from) {
			return errGone
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := tx.Write(ctx, dev+"/"+kv[i], kv[i+1]); err != nil {
				return err
			}
		}
		return nil
	})
}

var errGone = errors.New("device gone")

func readState(ctx context.Context, o xs.Ops, path string) int {
	v, err := o.Read(ctx, path+"/state")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}

// backendDriver serves one domain's backend/ tree: dom0's, or a simulated
// driver domain's (every simulated guest runs one over its own tree).
type backendDriver struct {
	prefix string // /local/domain/<id>/backend/
	hung   atomic.Bool
	mu     sync.Mutex
	frontW map[string]*xs.Watch // device backend path -> watch on its frontend's state
}

func newBackend(domid uint32) *backendDriver {
	return &backendDriver{prefix: "/local/domain/" + strconv.FormatUint(uint64(domid), 10) + "/backend/",
		frontW: map[string]*xs.Watch{}}
}

func (h *Host) startBackend() {
	b := newBackend(0)
	h.backend = b
	a, c := net.Pipe()
	go h.XS.ServeConn(c, 0)
	go b.run(context.Background(), xs.NewClient(a))
}

func (b *backendDriver) run(ctx context.Context, cl *xs.Client) {
	w, err := cl.Watch(ctx, strings.TrimSuffix(b.prefix, "/"))
	if err != nil {
		return
	}
	events := make(chan string, 256)
	go func() {
		for {
			p, _, err := w.Next(ctx)
			if err != nil {
				close(events)
				return
			}
			events <- p
		}
	}()
	for p := range events {
		if b.hung.Load() {
			continue
		}
		var devs []string
		if dev := deviceDir(p, b.prefix, 3); dev != "" {
			devs = []string{dev}
		} else if p == strings.TrimSuffix(b.prefix, "/") {
			// the watch's first event: devices made before this driver ran
			o := cl.Root()
			classes, _ := o.Directory(ctx, p)
			for _, c := range classes {
				fronts, _ := o.Directory(ctx, b.prefix+c)
				for _, f := range fronts {
					ids, _ := o.Directory(ctx, b.prefix+c+"/"+f)
					for _, id := range ids {
						devs = append(devs, b.prefix+c+"/"+f+"/"+id)
					}
				}
			}
		}
		for _, dev := range devs {
			b.step(ctx, cl, dev)
		}
	}
}

// deviceDir cuts a path under prefix to prefix + n components, or "".
func deviceDir(p, prefix string, n int) string {
	if !strings.HasPrefix(p, prefix) {
		return ""
	}
	parts := strings.Split(strings.TrimPrefix(p, prefix), "/")
	if len(parts) < n {
		return ""
	}
	return prefix + strings.Join(parts[:n], "/")
}

// step moves one backend device along the handshake.
func (b *backendDriver) step(ctx context.Context, cl *xs.Client, dev string) {
	o := cl.Root()
	fe, err := o.Read(ctx, dev+"/frontend")
	if err != nil {
		return // being removed
	}
	b.mu.Lock()
	_, watching := b.frontW[dev]
	b.mu.Unlock()
	if !watching {
		// follow the frontend's state too: its changes move us along
		if fw, err := cl.Watch(ctx, fe+"/state"); err == nil {
			b.mu.Lock()
			b.frontW[dev] = fw
			b.mu.Unlock()
			go func() {
				for {
					if _, _, err := fw.Next(ctx); err != nil {
						return
					}
					if !b.hung.Load() {
						b.step(ctx, cl, dev)
					}
					if ok, _ := o.Exists(ctx, dev); !ok {
						fw.Close(ctx)
						b.mu.Lock()
						delete(b.frontW, dev)
						b.mu.Unlock()
						if again, _ := o.Exists(ctx, dev); again {
							b.step(ctx, cl, dev) // made again meanwhile: watch it anew
						}
						return
					}
				}
			}()
		}
	}
	st := readState(ctx, o, dev)
	online, _ := o.Read(ctx, dev+"/online")
	fst := readState(ctx, o, fe)
	switch {
	case st == stClosing:
		switchState(ctx, cl, dev, st, "state", strconv.Itoa(stClosed))
	case st == stInitialising && online == "1":
		switchState(ctx, cl, dev, st, "hotplug-status", "connected", "state", strconv.Itoa(stInitWait))
	case st == stInitWait && (fst == stInitialised || fst == stConnected):
		switchState(ctx, cl, dev, st, "state", strconv.Itoa(stConnected))
	case st == stConnected && fst == stClosed && online == "0":
		switchState(ctx, cl, dev, st, "state", strconv.Itoa(stClosed))
	}
}

// BackendAction makes a simulated backend driver (dom0's, or a driver
// domain's) "hang" (ignore everything) or "unhang", for specs of timeouts
// and failover.
func (h *Host) BackendAction(domid uint32, action string) bool {
	b := h.backend
	if domid != 0 {
		h.mu.Lock()
		d := h.doms[domid]
		h.mu.Unlock()
		if d == nil || d.guest == nil {
			return false
		}
		b = d.guest.backend
	}
	switch action {
	case "hang":
		b.hung.Store(true)
	case "unhang":
		b.hung.Store(false)
	default:
		return false
	}
	return true
}

// The frontend driver inside a simulated guest follows Linux's xenbus
// (drivers/xen/xenbus): the connection is read continuously (xenbus_thread;
// here the xenstore client's reader, which queues every event for its watch
// and never blocks) and every watch callback runs in one thread, one at a
// time (xenwatch_thread), so the guest has one request at a time out on its
// frontend's behalf however many devices it has. A frontend with a goroutine
// per device had up to one request out per device; with their replies queued
// the connection sat at xenstored's 20-outstanding quota, and the watch events
// that arrived meanwhile were dropped: devices stalled half-connected.
//
// Devices are found by enumerating device/ (xenbus_probe_devices) when the
// watch is set and again on every batch of its events: an event names a
// change, not a device to be counted, so one that was dropped or coalesced
// loses no device. Each probed device watches its backend's state (its
// "otherend", watch_otherend) and is stepped on those events.
//
// One thing Linux does not need: xenstored here drops an event the moment an
// unprivileged connection has 20 replies and events queued, where cxenstored
// 4.17 never counts events as outstanding (tools/xenstore/xenstored_core.c:
// 3234-3239 at RELEASE-4.17.5), stops reading the requester instead
// (xenstored_domain.c:201) and drops an event only after 20 s unsent
// (timeout_watch_event_msec, xenstored_core.c:116). A
// burst from dom0's backends while the guest's reader is descheduled can
// still lose a backend's state change, so while a device is mid-handshake
// and no event has come for resyncAfter, device/ is enumerated again and
// every such device's states are read afresh.

// resyncAfter is how long the frontend waits, with nothing to do and a
// device mid-handshake, before it re-reads that device's states.
const resyncAfter = 250 * time.Millisecond

// feDevice is one probed frontend device.
type feDevice struct {
	backend string    // the backend directory it was probed with
	watch   *xs.Watch // on backend + "/state"
	waiting bool      // mid-handshake: a backend change would move it on
	port    uint32    // its event channel, once published (0: none)
}

// frontendBus is the simulated guest's xenbus frontend.
type frontendBus struct {
	cl   *xs.Client
	o    xs.Ops
	home string // /local/domain/<id>/device/

	// work queued for the xenwatch loop by the watch readers. It is a set,
	// not a queue: handling a device reads its current state, so two events
	// for one device need one visit, and nothing is queued without bound.
	mu      sync.Mutex
	rescan  bool
	changed []string        // devices to look at, in the order first marked
	marked  map[string]bool // members of changed
	kick    chan struct{}   // capacity 1: work was queued

	devs map[string]*feDevice // only the xenwatch loop touches it

	// the guest's event channels: a device's port is allocated when it
	// publishes its ring and closed when the device is dropped, as Linux's
	// frontends do (nil in a bus with no host behind it)
	allocPort func(backend uint32) uint32
	closePort func(port uint32)
}

func (b *frontendBus) markRescan() {
	b.mu.Lock()
	b.rescan = true
	b.mu.Unlock()
	b.wake()
}

func (b *frontendBus) mark(dev string) {
	b.mu.Lock()
	if !b.marked[dev] {
		b.marked[dev] = true
		b.changed = append(b.changed, dev)
	}
	b.mu.Unlock()
	b.wake()
}

func (b *frontendBus) wake() {
	select {
	case b.kick <- struct{}{}:
	default: // already woken: the loop takes everything queued when it runs
	}
}

func (b *frontendBus) take() (rescan bool, changed []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rescan, changed = b.rescan, b.changed
	b.rescan, b.changed, b.marked = false, nil, map[string]bool{}
	return rescan, changed
}

// runFrontends is the frontend driver of a simulated guest: it watches the
// guest's device/ directory and answers each device's backend.
func (g *guest) runFrontends(ctx context.Context, cl *xs.Client) {
	w, err := cl.Watch(ctx, "device")
	if err != nil {
		return
	}
	mine := "/local/domain/" + strconv.FormatUint(uint64(g.id), 10) + "/"
	b := &frontendBus{cl: cl, o: cl.Root(), home: mine + "device/",
		marked: map[string]bool{}, kick: make(chan struct{}, 1), devs: map[string]*feDevice{},
		allocPort: func(be uint32) uint32 { return g.h.frontendPort(g.id, be) },
		closePort: func(p uint32) { g.h.closePort(g.id, p) }}
	// the reader of device/'s events: no requests, so it keeps up with any burst
	go func() {
		for {
			p, _, err := w.Next(ctx)
			if err != nil {
				return
			}
			if dev := deviceDir(mine+p, b.home, 2); dev != "" {
				b.mark(dev)
			}
			b.markRescan()
		}
	}()
	for {
		// the resync timer runs only while some device is mid-handshake
		var resync <-chan time.Time
		var t *time.Timer
		if b.anyWaiting() {
			t = time.NewTimer(resyncAfter)
			resync = t.C
		}
		idle := false
		select {
		case <-b.kick:
		case <-resync:
			idle = true
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		// a paused guest handles nothing; what arrives meanwhile waits in the set
		if !g.waitRunning() {
			return
		}
		rescan, changed := b.take()
		if idle {
			rescan = true
			for dev, d := range b.devs {
				if d.waiting {
					changed = append(changed, dev)
				}
			}
		}
		if rescan {
			b.scan(ctx)
		}
		for _, dev := range changed {
			b.changedDev(ctx, dev)
		}
	}
}

func (b *frontendBus) anyWaiting() bool {
	for _, d := range b.devs {
		if d.waiting {
			return true
		}
	}
	return false
}

// scan enumerates device/<class>/<id>, probes what is new and forgets what
// has gone, as xenbus_probe_devices and xenbus_dev_changed do.
func (b *frontendBus) scan(ctx context.Context) {
	present := map[string]bool{}
	var order []string
	classes, err := b.o.Directory(ctx, strings.TrimSuffix(b.home, "/"))
	if err != nil && xs.ErrnoOf(err) != xs.ENOENT {
		return // not a listing: forget nothing on its account
	}
	for _, c := range classes {
		ids, err := b.o.Directory(ctx, b.home+c)
		if err != nil && xs.ErrnoOf(err) != xs.ENOENT {
			return
		}
		for _, id := range ids {
			dev := b.home + c + "/" + id
			present[dev] = true
			order = append(order, dev)
		}
	}
	for dev := range b.devs {
		if !present[dev] {
			b.forget(ctx, dev)
		}
	}
	for _, dev := range order {
		if b.devs[dev] == nil {
			b.probe(ctx, dev)
		}
	}
}

// probe starts following a device: a watch on its backend's state, whose
// first event (xenstored fires a new watch once) steps it. A device that
// cannot be probed yet (no backend node, the watch quota) is tried again on
// the next scan.
func (b *frontendBus) probe(ctx context.Context, dev string) {
	bk, err := b.o.Read(ctx, dev+"/backend")
	if err != nil {
		return
	}
	bw, err := b.cl.Watch(ctx, bk+"/state")
	if err != nil {
		return
	}
	b.devs[dev] = &feDevice{backend: bk, watch: bw, waiting: true}
	// the otherend's reader: no requests, only a hand-off to the xenwatch loop
	go func() {
		for {
			if _, _, err := bw.Next(ctx); err != nil {
				return // closed by forget, or the guest is gone
			}
			b.mark(dev)
		}
	}()
}

func (b *frontendBus) forget(ctx context.Context, dev string) {
	if d := b.devs[dev]; d != nil {
		delete(b.devs, dev)
		_ = d.watch.Close(ctx)
		if d.port != 0 && b.closePort != nil {
			b.closePort(d.port)
		}
	}
}

// changedDev handles an event of a device's own nodes or of its backend's
// state. A device removed is forgotten; one whose backend node now names
// another backend (replugged, or made again) is followed anew; otherwise it
// takes its next step. A backend that has vanished while the frontend still
// names it (its driver domain died) is simply state 0 here: the device waits,
// still watched, for the toolstack to remove or replug it.
func (b *frontendBus) changedDev(ctx context.Context, dev string) {
	d := b.devs[dev]
	if d == nil {
		if ok, _ := b.o.Exists(ctx, dev); ok {
			b.probe(ctx, dev)
		}
		return
	}
	bk, err := b.o.Read(ctx, dev+"/backend")
	if err != nil {
		b.forget(ctx, dev) // removed; a scan finds it again if it comes back
		return
	}
	if bk != d.backend {
		b.forget(ctx, dev)
		b.probe(ctx, dev)
		return
	}
	b.step(ctx, dev, d)
}

// step moves one frontend device along the handshake and notes whether it
// is still mid-way.
func (b *frontendBus) step(ctx context.Context, dev string, d *feDevice) {
	st := readState(ctx, b.o, dev)
	bst := readState(ctx, b.o, d.backend)
	to := 0
	var kv []string
	switch {
	case st == stInitialising && bst == stInitWait:
		if d.port == 0 && b.allocPort != nil {
			be, _ := strconv.ParseUint(strings.Split(strings.TrimPrefix(d.backend, "/local/domain/"), "/")[0], 10, 32)
			d.port = b.allocPort(uint32(be))
		}
		ev := "9"
		if d.port != 0 {
			ev = strconv.FormatUint(uint64(d.port), 10)
		}
		to, kv = stInitialised, []string{"ring-ref", "8", "event-channel", ev}
	case st == stInitialised && bst == stConnected:
		to = stConnected
	case (bst == stClosing || bst == stClosed) && st != stClosed && st != 0:
		to = stClosed
	}
	if to != 0 {
		err := switchState(ctx, b.cl, dev, st, append(kv, "state", strconv.Itoa(to))...)
		switch {
		case err == nil:
			st = to
		case refused(ctx, err):
			b.fatal(ctx, dev, st, err)
			d.waiting = false
			return
		}
	}
	d.waiting = st >= stInitialising && st <= stConnected && bst != 0 && !(st == stConnected && bst == stConnected)
}

// refused reports whether xenstored refused a write (a quota, permissions),
// as opposed to the device changing under us or the guest going away.
func refused(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, errGone) {
		return false
	}
	e := xs.ErrnoOf(err)
	return e != "" && e != xs.EAGAIN
}

// fatal is Linux's xenbus_dev_fatal: a frontend that cannot write its side
// of the handshake (typically ENOSPC, the domain's node quota spent) leaves
// the reason in error/<device path>/error when it can and switches the device
// to Closing, so the toolstack sees a failed device instead of one waiting
// forever at Initialising.
func (b *frontendBus) fatal(ctx context.Context, dev string, from int, err error) {
	rel := dev[strings.Index(dev, "/device/")+1:]
	_ = b.o.Write(ctx, "error/"+rel+"/error", err.Error())
	_ = switchState(ctx, b.cl, dev, from, "state", strconv.Itoa(stClosing))
}
