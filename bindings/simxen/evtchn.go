package simxen

import (
	"context"
	"syscall"

	"luxen/bindings/evtchn"
	hc "luxen/bindings/hypercall"
)

// VirqDomExc is VIRQ_DOM_EXC (xen.h): a domain shut down or died.
const VirqDomExc = 3

const (
	portUnbound = iota
	portInterdomain
	portVirq
)

type port struct {
	state      int
	remoteDom  uint32
	remotePort uint32
	owner      *Evtchn // dom0 handle that receives its events, if any
}

// allocUnbound makes an unbound port in dom for remote. Callers hold h.mu.
func (h *Host) allocUnbound(dom, remote uint32) uint32 {
	ps := h.ports[dom]
	if ps == nil {
		ps = map[uint32]*port{}
		h.ports[dom] = ps
	}
	p := uint32(1) // port 0 is never valid
	for ps[p] != nil {
		p++
	}
	ps[p] = &port{state: portUnbound, remoteDom: remote}
	return p
}

// closePortsOf closes a dying domain's ports; peers fall back to unbound.
func (h *Host) closePortsOf(dom uint32) {
	for _, p := range h.ports[dom] {
		if p.state == portInterdomain {
			if rp := h.ports[p.remoteDom][p.remotePort]; rp != nil {
				rp.state = portUnbound
			}
		}
	}
	delete(h.ports, dom)
}

// EvtchnStatus is EVTCHNOP_status. Like Xen it answers ESRCH for a domain
// that does not exist and "closed" for a port not in use; Xen answers EINVAL
// for a port past the buckets of 64 it has allocated, which the simulation,
// whose ports are a map, cannot tell apart from a freed one: it says closed.
func (h *Host) EvtchnStatus(_ context.Context, dom uint32, p uint32) (hc.PortStatus, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, err := h.dom("evtchn status", dom); err != nil {
		return hc.PortStatus{}, err
	}
	pt := h.ports[dom][p]
	switch {
	case pt == nil:
		return hc.PortStatus{State: hc.PortClosed}, nil
	case pt.state == portUnbound:
		return hc.PortStatus{State: hc.PortUnbound, RemoteDom: pt.remoteDom}, nil
	case pt.state == portInterdomain:
		return hc.PortStatus{State: hc.PortInterdomain, RemoteDom: pt.remoteDom, RemotePort: pt.remotePort}, nil
	default:
		return hc.PortStatus{State: hc.PortVIRQ}, nil
	}
}

// frontendPort is a simulated frontend's event channel: a port of its
// domain, unbound for its backend domain, as a Linux frontend allocates one
// (xenbus_alloc_evtchn) and publishes it as event-channel.
func (h *Host) frontendPort(dom, backend uint32) uint32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.allocUnbound(dom, backend)
}

// closePort is a guest's EVTCHNOP_close of its own port (a frontend that
// dropped its device); the peer of an interdomain channel falls back to
// unbound.
func (h *Host) closePort(dom, p uint32) {
	h.mu.Lock()
	defer h.mu.Unlock()
	pt := h.ports[dom][p]
	if pt == nil {
		return
	}
	if pt.state == portInterdomain {
		if rp := h.ports[pt.remoteDom][pt.remotePort]; rp != nil {
			rp.state = portUnbound
		}
	}
	delete(h.ports[dom], p)
}

// Evtchn is a dom0 handle on the simulated /dev/xen/evtchn.
type Evtchn struct {
	h     *Host
	demux *evtchn.Demux
	mine  map[uint32]bool
}

var _ evtchn.Handle = (*Evtchn)(nil)

// OpenEvtchn opens a dom0 event channel handle.
func (h *Host) OpenEvtchn() *Evtchn {
	return &Evtchn{h: h, demux: evtchn.NewDemux(), mine: map[uint32]bool{}}
}

func (e *Evtchn) own(p uint32) {
	e.h.ports[0][p].owner = e
	e.mine[p] = true
}

// BindUnbound is IOCTL_EVTCHN_BIND_UNBOUND_PORT.
func (e *Evtchn) BindUnbound(_ context.Context, remote uint32) (uint32, error) {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	if _, ok := e.h.doms[remote]; !ok {
		return 0, hc.Errorf("evtchn bind_unbound_port", remote, syscall.ESRCH, "no such domain")
	}
	p := e.h.allocUnbound(0, remote)
	e.own(p)
	return p, nil
}

// BindInterdomain is IOCTL_EVTCHN_BIND_INTERDOMAIN.
func (e *Evtchn) BindInterdomain(_ context.Context, remote, rport uint32) (uint32, error) {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	rp := e.h.ports[remote][rport]
	if rp == nil || rp.state != portUnbound || rp.remoteDom != 0 {
		return 0, hc.Errorf("evtchn bind_interdomain", remote, syscall.EINVAL, "port %d is not unbound for dom0", rport)
	}
	p := e.h.allocUnbound(0, remote)
	lp := e.h.ports[0][p]
	lp.state, lp.remotePort = portInterdomain, rport
	rp.state, rp.remoteDom, rp.remotePort = portInterdomain, 0, p
	e.own(p)
	return p, nil
}

// BindVirq is IOCTL_EVTCHN_BIND_VIRQ; the simulation raises VIRQ_DOM_EXC only.
func (e *Evtchn) BindVirq(_ context.Context, virq uint32) (uint32, error) {
	if virq != VirqDomExc {
		return 0, hc.Errorf("evtchn bind_virq", 0, syscall.EINVAL, "the simulated host raises only VIRQ_DOM_EXC (%d), not %d", VirqDomExc, virq)
	}
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	p := e.h.allocUnbound(0, 0)
	e.h.ports[0][p].state = portVirq
	e.own(p)
	e.h.virqs[e] = append(e.h.virqs[e], p)
	return p, nil
}

// Unbind is IOCTL_EVTCHN_UNBIND.
func (e *Evtchn) Unbind(_ context.Context, p uint32) error {
	e.h.mu.Lock()
	defer e.h.mu.Unlock()
	return e.unbindLocked(p)
}

func (e *Evtchn) unbindLocked(p uint32) error {
	if !e.mine[p] {
		return hc.Errorf("evtchn unbind", 0, syscall.ENOTCONN, "port %d is not bound by this handle", p)
	}
	lp := e.h.ports[0][p]
	if lp != nil && lp.state == portInterdomain {
		if rp := e.h.ports[lp.remoteDom][lp.remotePort]; rp != nil {
			rp.state = portUnbound
			rp.remoteDom = 0
		}
	}
	delete(e.h.ports[0], p)
	delete(e.mine, p)
	vs := e.h.virqs[e]
	for i, v := range vs {
		if v == p {
			e.h.virqs[e] = append(vs[:i:i], vs[i+1:]...)
		}
	}
	return nil
}

// Notify is IOCTL_EVTCHN_NOTIFY: the remote end's handle sees its port fire.
func (e *Evtchn) Notify(_ context.Context, p uint32) error {
	e.h.mu.Lock()
	lp := e.h.ports[0][p]
	if !e.mine[p] || lp == nil {
		e.h.mu.Unlock()
		return hc.Errorf("evtchn notify", 0, syscall.EINVAL, "port %d is not bound by this handle", p)
	}
	var target *Evtchn
	var tport uint32
	if lp.state == portInterdomain {
		if rp := e.h.ports[lp.remoteDom][lp.remotePort]; rp != nil {
			target, tport = rp.owner, lp.remotePort
		}
	}
	e.h.mu.Unlock()
	if target != nil {
		target.demux.Fire(tport)
	}
	return nil
}

// Wait blocks until port fires.
func (e *Evtchn) Wait(ctx context.Context, p uint32) error {
	e.h.mu.Lock()
	ok := e.mine[p]
	e.h.mu.Unlock()
	if !ok {
		return hc.Errorf("evtchn wait", 0, syscall.EINVAL, "port %d is not bound by this handle", p)
	}
	return e.demux.Wait(ctx, p)
}

// Close unbinds every port of the handle.
func (e *Evtchn) Close() error {
	e.h.mu.Lock()
	for p := range e.mine {
		_ = e.unbindLocked(p)
	}
	delete(e.h.virqs, e)
	e.h.mu.Unlock()
	e.demux.Fail(syscall.EBADF)
	return nil
}
