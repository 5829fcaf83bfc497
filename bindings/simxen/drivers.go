package simxen

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	xs "luxen/bindings/xenstore"
)

// The simulated split drivers: a backend driver in dom0 (what blkback and
// netback do with xenstore) and a frontend driver in each simulated guest.
// Both follow the XenbusState handshake of xen/include/public/io/xenbus.h:
// backend Initialising -> InitWait; frontend publishes its ring and goes
// Initialised; backend Connected; frontend Connected. On close-down the
// backend goes from Closing to Closed and the frontend follows.

const (
	stInitialising = 1
	stInitWait     = 2
	stInitialised  = 3
	stConnected    = 4
	stClosing      = 5
	stClosed       = 6
)

// switchState writes a device's nodes in one transaction that first checks
// the device still exists and is still in state from: a driver must never
// re-create (through implicit parents) a device being removed, nor, when a
// conflict makes it retry, apply a transition decided on a state that has
// changed since (Closing overwritten by Connected).
func switchState(ctx context.Context, cl *xs.Client, dev string, from int, kv ...string) {
	_ = cl.Transaction(ctx, func(tx *xs.Tx) error {
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

// runFrontends is the frontend driver inside a simulated guest: it watches
// the guest's device/ directory and answers each device's backend.
func (g *guest) runFrontends(ctx context.Context, cl *xs.Client) {
	w, err := cl.Watch(ctx, "device")
	if err != nil {
		return
	}
	o := cl.Root()
	home := "/local/domain/" + strconv.FormatUint(uint64(g.id), 10) + "/device/"
	var mu sync.Mutex
	following := map[string]bool{}
	step := func(dev string) {
		bk, err := o.Read(ctx, dev+"/backend")
		if err != nil {
			return
		}
		st := readState(ctx, o, dev)
		bst := readState(ctx, o, bk)
		switch {
		case st == stInitialising && bst == stInitWait:
			switchState(ctx, cl, dev, st, "ring-ref", "8", "event-channel", "9", "state", strconv.Itoa(stInitialised))
		case st == stInitialised && bst == stConnected:
			switchState(ctx, cl, dev, st, "state", strconv.Itoa(stConnected))
		case (bst == stClosing || bst == stClosed) && st != stClosed && st != 0:
			switchState(ctx, cl, dev, st, "state", strconv.Itoa(stClosed))
		}
	}
	// follow watches a device's backend state (once) and steps the device.
	var follow func(dev string)
	follow = func(dev string) {
		mu.Lock()
		seen := following[dev]
		mu.Unlock()
		if !seen {
			// followed only once the watch on its backend exists: a device
			// removed before that is simply picked up again when it reappears
			if bk, err := o.Read(ctx, dev+"/backend"); err == nil {
				if bw, err := cl.Watch(ctx, bk+"/state"); err == nil {
					mu.Lock()
					if following[dev] {
						mu.Unlock()
						bw.Close(ctx) // someone else got there first
					} else {
						following[dev] = true
						mu.Unlock()
						go func() {
							for {
								if _, _, err := bw.Next(ctx); err != nil {
									return
								}
								// gone, replugged to another backend, or its backend died: stop
								// following this one
								cur, err := o.Read(ctx, dev+"/backend")
								alive, _ := o.Exists(ctx, bk+"/state")
								if err != nil || cur != bk || !alive {
									bw.Close(ctx)
									mu.Lock()
									delete(following, dev)
									mu.Unlock()
									// made again meanwhile (a retried attach, a replug)? follow it anew
									if again, _ := o.Exists(ctx, dev); again {
										follow(dev)
									}
									return
								}
								step(dev)
							}
						}()
					}
				}
			}
		}
		step(dev)
	}
	for {
		p, _, err := w.Next(ctx)
		if err != nil {
			return
		}
		if !g.waitRunning() {
			return
		}
		full := "/local/domain/" + strconv.FormatUint(uint64(g.id), 10) + "/" + p
		var devs []string
		if dev := deviceDir(full, home, 2); dev != "" {
			devs = []string{dev}
		} else {
			// the watch's first event: devices made before the guest ran
			classes, _ := o.Directory(ctx, strings.TrimSuffix(home, "/"))
			for _, c := range classes {
				ids, _ := o.Directory(ctx, home+c)
				for _, id := range ids {
					devs = append(devs, home+c+"/"+id)
				}
			}
		}
		for _, dev := range devs {
			follow(dev)
		}
	}
}
