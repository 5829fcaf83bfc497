// Package evtchn is the event channel interface of /dev/xen/evtchn
// (include/uapi/xen/evtchn.h): bind, unbind, notify, and waiting for a port to
// fire. The simulated host implements it in simxen. It does not import Lua.
package evtchn

import (
	"context"
	"sync"
)

// Handle is one open event channel device: ports bound through it fire to it.
type Handle interface {
	BindUnbound(ctx context.Context, remoteDom uint32) (uint32, error)
	BindInterdomain(ctx context.Context, remoteDom, remotePort uint32) (uint32, error)
	BindVirq(ctx context.Context, virq uint32) (uint32, error)
	Unbind(ctx context.Context, port uint32) error
	Notify(ctx context.Context, port uint32) error
	// Wait blocks until the port has fired since the last Wait, then unmasks it.
	Wait(ctx context.Context, port uint32) error
	Close() error
}

// Demux turns a stream of fired ports into per-port waits. Events that arrive
// while nobody waits are remembered (once, like a masked pending bit).
type Demux struct {
	mu      sync.Mutex
	pending map[uint32]bool
	waiters map[uint32]chan struct{}
	err     error
}

// NewDemux returns an empty Demux.
func NewDemux() *Demux {
	return &Demux{pending: map[uint32]bool{}, waiters: map[uint32]chan struct{}{}}
}

// Fire records that port fired.
func (d *Demux) Fire(port uint32) {
	d.mu.Lock()
	d.pending[port] = true
	if ch, ok := d.waiters[port]; ok {
		close(ch)
		delete(d.waiters, port)
	}
	d.mu.Unlock()
}

// Fail wakes every waiter with err, for a handle that is closing.
func (d *Demux) Fail(err error) {
	d.mu.Lock()
	d.err = err
	for p, ch := range d.waiters {
		close(ch)
		delete(d.waiters, p)
	}
	d.mu.Unlock()
}

// Wait blocks until port is pending, and clears it.
func (d *Demux) Wait(ctx context.Context, port uint32) error {
	for {
		d.mu.Lock()
		if d.pending[port] {
			delete(d.pending, port)
			d.mu.Unlock()
			return nil
		}
		if d.err != nil {
			err := d.err
			d.mu.Unlock()
			return err
		}
		ch, ok := d.waiters[port]
		if !ok {
			ch = make(chan struct{})
			d.waiters[port] = ch
		}
		d.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
