package simxen

// What a served host offers beyond hc.Hypervisor, both sides of it:
//   - Control, the simulated host's own operations (a guest acting on its
//     own, whether it has booted): methods of *Host served by name with the
//     hypervisor's, through hostMethods (rpc_server.go); Remote forwards them
//     below, one line each, as it does hc.Hypervisor's;
//   - event channel handles: "evtchn.open" (explicit: it makes a handle the
//     connection owns, and answers its id) and "evtchn.close" (explicit: it
//     forgets the handle); every other method of evtchn.Handle is served by
//     reflect as "evtchn.<snake_case name>" (evtchn.bind_unbound for
//     BindUnbound), on the handle named by its first argument.
//
// sim.backend (BackendAction) stays in-process: only an embedded host offers
// it (lualib's OpenSim says so when it is missing).

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"unicode"

	"luxen/bindings/evtchn"
	hc "luxen/bindings/hypercall"
)

// Control is what a simulated host offers beyond the hypervisor interface.
type Control interface {
	GuestAction(ctx context.Context, id uint32, action string) error
	GuestBooted(ctx context.Context, id uint32) (bool, error)
}

var (
	_ hc.Hypervisor = (*Host)(nil)
	_ hc.Hypervisor = (*Remote)(nil)
	_ Control       = (*Host)(nil)
	_ Control       = (*Remote)(nil)
	_ evtchn.Handle = (*remoteEvtchn)(nil)
)

const (
	evtchnOpen  = "evtchn.open"
	evtchnClose = "evtchn.close"
)

// evtchnOp is the served name of an evtchn.Handle method: evtchn.bind_unbound
// for BindUnbound.
func evtchnOp(method string) string {
	var b strings.Builder
	b.WriteString("evtchn.")
	for i, r := range method {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// evtchnMethods are a handle's operations, served on *Evtchn.
var evtchnMethods = methodsOf(reflect.TypeOf((*Evtchn)(nil)), evtchnOp, "Close",
	reflect.TypeOf((*evtchn.Handle)(nil)).Elem())

// handles are the event channel handles one connection opened, by id.
type handles struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*Evtchn
}

// dispatch runs an event channel request; ok is false for another op.
func (hs *handles) dispatch(ctx context.Context, h *Host, op string, args []json.RawMessage) (res any, ok bool, err error) {
	var id uint64
	if len(args) > 0 {
		_ = json.Unmarshal(args[0], &id)
	}
	switch op {
	case evtchnOpen:
		hs.mu.Lock()
		defer hs.mu.Unlock()
		if hs.m == nil {
			hs.m = map[uint64]*Evtchn{}
		}
		hs.next++
		hs.m[hs.next] = h.OpenEvtchn()
		return hs.next, true, nil
	case evtchnClose:
		hs.mu.Lock()
		e := hs.m[id]
		delete(hs.m, id)
		hs.mu.Unlock()
		if e != nil {
			err = e.Close()
		}
		return nil, true, err
	}
	m, ok := evtchnMethods[op]
	if !ok {
		return nil, false, nil
	}
	hs.mu.Lock()
	e := hs.m[id]
	hs.mu.Unlock()
	if e == nil {
		return nil, true, hc.Errorf(op, 0, syscall.EBADF, "no such evtchn handle")
	}
	res, err = m.call(ctx, reflect.ValueOf(e), args[1:])
	return res, true, err
}

// closeAll closes the handles a connection left open.
func (hs *handles) closeAll() {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for _, e := range hs.m {
		e.Close()
	}
}

// OpenEvtchn opens an event channel handle on the served host.
func (r *Remote) OpenEvtchn(ctx context.Context) (evtchn.Handle, error) {
	id, err := call1[uint64](ctx, r, evtchnOpen)
	if err != nil {
		return nil, err
	}
	return &remoteEvtchn{r: r, id: id}, nil
}

// remoteEvtchn is a handle on the served host. Its methods forward as
// Remote's do, the handle's id first.
type remoteEvtchn struct {
	r  *Remote
	id uint64
}

func (e *remoteEvtchn) BindUnbound(ctx context.Context, remote uint32) (uint32, error) {
	return call1[uint32](ctx, e.r, "evtchn.bind_unbound", e.id, remote)
}

func (e *remoteEvtchn) BindInterdomain(ctx context.Context, remote, rport uint32) (uint32, error) {
	return call1[uint32](ctx, e.r, "evtchn.bind_interdomain", e.id, remote, rport)
}

func (e *remoteEvtchn) BindVirq(ctx context.Context, virq uint32) (uint32, error) {
	return call1[uint32](ctx, e.r, "evtchn.bind_virq", e.id, virq)
}

func (e *remoteEvtchn) Unbind(ctx context.Context, p uint32) error {
	return e.r.call0(ctx, "evtchn.unbind", e.id, p)
}

func (e *remoteEvtchn) Notify(ctx context.Context, p uint32) error {
	return e.r.call0(ctx, "evtchn.notify", e.id, p)
}

func (e *remoteEvtchn) Wait(ctx context.Context, p uint32) error {
	return e.r.call0(ctx, "evtchn.wait", e.id, p)
}

func (e *remoteEvtchn) Close() error { return e.r.call0(context.Background(), evtchnClose, e.id) }
