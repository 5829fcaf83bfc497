package simxen

// The served host's hypervisor, client side: Remote is an hc.Hypervisor (and
// a Control) whose every method names itself and passes its arguments to the
// generic caller (call0 for a method that returns only an error, call1 for
// one that returns a value too). Those methods are generated from the
// interfaces into rpc_forwarders.go. The protocol, and what a new operation
// needs, are described at the top of rpc_server.go.

//go:generate go run ./internal/genforwarders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"

	hc "luxen/bindings/hypercall"
)

// Remote is a served simulated host's hypervisor, reached over its socket.
type Remote struct {
	c    net.Conn
	wmu  sync.Mutex
	mu   sync.Mutex
	next uint64
	wait map[uint64]chan rpcResp
	err  error
	done chan struct{} // closed when the connection to the host is gone
}

// Done is closed when the served host has gone away (it stopped, or the
// connection broke): a long-running client such as a supervisor ends then.
func (r *Remote) Done() <-chan struct{} { return r.done }

// DialHV connects to a served host's hypervisor socket.
func DialHV(path string) (*Remote, error) {
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("simxen: dial %s: %w", path, err)
	}
	return newRemote(c), nil
}

func newRemote(c net.Conn) *Remote {
	r := &Remote{c: c, wait: map[uint64]chan rpcResp{}, done: make(chan struct{})}
	go r.read()
	return r
}

func (r *Remote) read() {
	sc := lines(r.c, 16<<20)
	for sc.Scan() {
		var resp rpcResp
		if json.Unmarshal(sc.Bytes(), &resp) != nil {
			break
		}
		r.mu.Lock()
		ch := r.wait[resp.ID]
		delete(r.wait, resp.ID)
		r.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
	r.mu.Lock()
	r.err = errors.New("simxen: connection to the simulated host closed")
	for id, ch := range r.wait {
		close(ch)
		delete(r.wait, id)
	}
	r.mu.Unlock()
	close(r.done)
}

func (r *Remote) send(req rpcReq) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err = r.c.Write(append(b, '\n'))
	return err
}

// encodeArgs is the request's args: each argument as JSON.
func encodeArgs(args []any) ([]json.RawMessage, error) {
	raw := make([]json.RawMessage, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, err
		}
		raw[i] = b
	}
	return raw, nil
}

// call runs op on the served host and decodes its value into out (nil for
// none). The host's *hc.Error comes back as it was; a broken connection is
// EIO, named for op and the domain its first argument is, when it is one.
func (r *Remote) call(ctx context.Context, op string, out any, args ...any) error {
	var domid uint32
	if len(args) > 0 {
		domid, _ = args[0].(uint32)
	}
	raw, err := encodeArgs(args)
	if err != nil {
		return hc.Errorf(op, domid, syscall.EINVAL, "%v", err)
	}
	ch := make(chan rpcResp, 1)
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return hc.Errorf(op, domid, syscall.EIO, "%v", err)
	}
	r.next++
	id := r.next
	r.wait[id] = ch
	r.mu.Unlock()
	if err := r.send(rpcReq{ID: id, Op: op, Args: raw}); err != nil {
		return hc.Errorf(op, domid, syscall.EIO, "%v", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return hc.Errorf(op, domid, syscall.EIO, "simulated host went away")
		}
		if resp.Err != nil {
			return resp.Err.toError()
		}
		if out != nil {
			return json.Unmarshal(resp.Result, out)
		}
		return nil
	case <-ctx.Done():
		r.mu.Lock()
		delete(r.wait, id)
		r.mu.Unlock()
		cancel, _ := encodeArgs([]any{id})
		_ = r.send(rpcReq{Op: cancelOp, Args: cancel})
		return ctx.Err()
	}
}

// call0 calls an operation that returns only an error.
func (r *Remote) call0(ctx context.Context, op string, args ...any) error {
	return r.call(ctx, op, nil, args...)
}

// call1 calls an operation that returns a T and an error.
func call1[T any](ctx context.Context, r *Remote, op string, args ...any) (T, error) {
	var v T
	err := r.call(ctx, op, &v, args...)
	return v, err
}

// Close drops the connection.
func (r *Remote) Close() error { return r.c.Close() }
