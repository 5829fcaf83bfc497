package simxen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"luxen/bindings/evtchn"
	hc "luxen/bindings/hypercall"
)

// The served host's hypervisor speaks newline-delimited JSON on a unix socket
// next to its xenstored socket (HVSocket). Each request runs in its own
// goroutine, so a long evtchn wait never holds up a create.

// HVSocket names the hypervisor socket that goes with a xenstored socket.
func HVSocket(xenstoredPath string) string { return xenstoredPath + ".hv" }

type rpcReq struct {
	ID   uint64          `json:"id"`
	Op   string          `json:"op"`
	Args json.RawMessage `json:"args,omitempty"`
}

type rpcErr struct {
	Op    string `json:"op"`
	Domid uint32 `json:"domid,omitempty"`
	Errno string `json:"errno"`
	Msg   string `json:"msg,omitempty"`
}

type rpcResp struct {
	ID     uint64          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Err    *rpcErr         `json:"err,omitempty"`
}

type rpcArgs struct {
	Domid  uint32            `json:"domid"`
	Create *hc.CreateConfig  `json:"create,omitempty"`
	Build  *hc.BuildSpec     `json:"build,omitempty"`
	KB     uint64            `json:"kb,omitempty"`
	N      uint32            `json:"n,omitempty"`
	Reason hc.ShutdownReason `json:"reason,omitempty"`
	Action string            `json:"action,omitempty"`
	Handle uint64            `json:"handle,omitempty"`
	Port   uint32            `json:"port,omitempty"`
	Cancel uint64            `json:"cancel,omitempty"`
}

// Serve serves the host: xenstored on xsPath and the hypervisor on
// HVSocket(xsPath), both mode 0600. It returns when ctx is done.
func Serve(ctx context.Context, h *Host, xsPath string) error {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for _, p := range []string{xsPath, HVSocket(xsPath)} {
		_ = os.Remove(p)
		l, err := net.Listen("unix", p)
		if err != nil {
			return fmt.Errorf("simxen: listen %s: %w", p, err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			l.Close()
			return fmt.Errorf("simxen: chmod %s: %w", p, err)
		}
		lns = append(lns, l)
	}
	go h.XS.Serve(lns[0])
	go func() {
		for {
			c, err := lns[1].Accept()
			if err != nil {
				return
			}
			go h.serveRPC(ctx, c)
		}
	}()
	<-ctx.Done()
	for _, p := range []string{xsPath, HVSocket(xsPath)} {
		os.Remove(p)
	}
	return nil
}

func toRPCErr(err error) *rpcErr {
	var he *hc.Error
	if errors.As(err, &he) {
		return &rpcErr{Op: he.Op, Domid: he.Domid, Errno: hc.ErrnoName(he.Errno), Msg: he.Msg}
	}
	return &rpcErr{Op: "rpc", Errno: "EIO", Msg: err.Error()}
}

func (e *rpcErr) toError() error {
	errno, ok := hc.ErrnoByName(e.Errno)
	if !ok {
		errno = syscall.EIO
	}
	return &hc.Error{Op: e.Op, Domid: e.Domid, Errno: errno, Msg: e.Msg}
}

func (h *Host) serveRPC(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.Close()
	var wmu sync.Mutex
	enc := json.NewEncoder(c)
	var mu sync.Mutex
	handles := map[uint64]*Evtchn{}
	inflight := map[uint64]context.CancelFunc{}
	var nextHandle uint64
	defer func() {
		mu.Lock()
		for _, e := range handles {
			e.Close()
		}
		mu.Unlock()
	}()
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var req rpcReq
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return // not our protocol: drop the connection
		}
		var a rpcArgs
		if len(req.Args) > 0 {
			if err := json.Unmarshal(req.Args, &a); err != nil {
				return
			}
		}
		if req.Op == "cancel" {
			mu.Lock()
			if f := inflight[a.Cancel]; f != nil {
				f()
			}
			mu.Unlock()
			continue
		}
		rctx, rcancel := context.WithCancel(ctx)
		mu.Lock()
		inflight[req.ID] = rcancel
		mu.Unlock()
		go func() {
			defer rcancel()
			handle := func() *Evtchn {
				mu.Lock()
				defer mu.Unlock()
				return handles[a.Handle]
			}
			var res any
			var err error
			switch req.Op {
			case "create":
				if a.Create == nil {
					err = hc.Errorf("createdomain", 0, syscall.EINVAL, "missing config")
					break
				}
				res, err = h.CreateDomain(rctx, *a.Create)
			case "destroy":
				err = h.DestroyDomain(rctx, a.Domid)
			case "pause":
				err = h.PauseDomain(rctx, a.Domid)
			case "unpause":
				err = h.UnpauseDomain(rctx, a.Domid)
			case "info":
				res, err = h.DomainInfo(rctx, a.Domid)
			case "list":
				res, err = h.ListDomains(rctx)
			case "max_mem":
				err = h.SetMaxMem(rctx, a.Domid, a.KB)
			case "max_vcpus":
				err = h.SetMaxVcpus(rctx, a.Domid, a.N)
			case "shutdown":
				err = h.Shutdown(rctx, a.Domid, a.Reason)
			case "physinfo":
				res, err = h.PhysInfo(rctx)
			case "version":
				res, err = h.Version(rctx)
			case "build":
				if a.Build == nil {
					err = hc.Errorf("build", a.Domid, syscall.EINVAL, "missing spec")
					break
				}
				res, err = h.Build(rctx, a.Domid, *a.Build)
			case "guest_action":
				err = h.GuestAction(rctx, a.Domid, a.Action)
			case "guest_booted":
				res, err = h.GuestBooted(rctx, a.Domid)
			case "evtchn.open":
				mu.Lock()
				nextHandle++
				handles[nextHandle] = h.OpenEvtchn()
				res = nextHandle
				mu.Unlock()
			case "evtchn.close":
				mu.Lock()
				e := handles[a.Handle]
				delete(handles, a.Handle)
				mu.Unlock()
				if e != nil {
					err = e.Close()
				}
			case "evtchn.bind_unbound", "evtchn.bind_interdomain", "evtchn.bind_virq",
				"evtchn.unbind", "evtchn.notify", "evtchn.wait":
				e := handle()
				if e == nil {
					err = hc.Errorf(req.Op, 0, syscall.EBADF, "no such evtchn handle")
					break
				}
				switch req.Op {
				case "evtchn.bind_unbound":
					res, err = e.BindUnbound(rctx, a.Domid)
				case "evtchn.bind_interdomain":
					res, err = e.BindInterdomain(rctx, a.Domid, a.Port)
				case "evtchn.bind_virq":
					res, err = e.BindVirq(rctx, a.Port)
				case "evtchn.unbind":
					err = e.Unbind(rctx, a.Port)
				case "evtchn.notify":
					err = e.Notify(rctx, a.Port)
				case "evtchn.wait":
					err = e.Wait(rctx, a.Port)
				}
			default:
				err = hc.Errorf(req.Op, 0, syscall.ENOSYS, "unknown operation")
			}
			resp := rpcResp{ID: req.ID}
			if err != nil {
				resp.Err = toRPCErr(err)
			} else if res != nil {
				resp.Result, _ = json.Marshal(res)
			}
			mu.Lock()
			delete(inflight, req.ID)
			mu.Unlock()
			wmu.Lock()
			_ = enc.Encode(resp)
			wmu.Unlock()
		}()
	}
}

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
	r := &Remote{c: c, wait: map[uint64]chan rpcResp{}, done: make(chan struct{})}
	go r.read()
	return r, nil
}

func (r *Remote) read() {
	sc := bufio.NewScanner(r.c)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
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

func (r *Remote) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, err = r.c.Write(append(b, '\n'))
	return err
}

func (r *Remote) call(ctx context.Context, op string, a rpcArgs, out any) error {
	ch := make(chan rpcResp, 1)
	r.mu.Lock()
	if r.err != nil {
		err := r.err
		r.mu.Unlock()
		return hc.Errorf(op, a.Domid, syscall.EIO, "%v", err)
	}
	r.next++
	id := r.next
	r.wait[id] = ch
	r.mu.Unlock()
	args, _ := json.Marshal(a)
	if err := r.send(rpcReq{ID: id, Op: op, Args: args}); err != nil {
		return hc.Errorf(op, a.Domid, syscall.EIO, "%v", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return hc.Errorf(op, a.Domid, syscall.EIO, "simulated host went away")
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
		_ = r.send(rpcReq{Op: "cancel", Args: mustJSON(rpcArgs{Cancel: id})})
		return ctx.Err()
	}
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// Close drops the connection.
func (r *Remote) Close() error { return r.c.Close() }

// CreateDomain implements hc.Hypervisor.
func (r *Remote) CreateDomain(ctx context.Context, cfg hc.CreateConfig) (id uint32, err error) {
	err = r.call(ctx, "create", rpcArgs{Create: &cfg}, &id)
	return
}

// DestroyDomain implements hc.Hypervisor.
func (r *Remote) DestroyDomain(ctx context.Context, id uint32) error {
	return r.call(ctx, "destroy", rpcArgs{Domid: id}, nil)
}

// PauseDomain implements hc.Hypervisor.
func (r *Remote) PauseDomain(ctx context.Context, id uint32) error {
	return r.call(ctx, "pause", rpcArgs{Domid: id}, nil)
}

// UnpauseDomain implements hc.Hypervisor.
func (r *Remote) UnpauseDomain(ctx context.Context, id uint32) error {
	return r.call(ctx, "unpause", rpcArgs{Domid: id}, nil)
}

// DomainInfo implements hc.Hypervisor.
func (r *Remote) DomainInfo(ctx context.Context, id uint32) (di hc.DomainInfo, err error) {
	err = r.call(ctx, "info", rpcArgs{Domid: id}, &di)
	return
}

// ListDomains implements hc.Hypervisor.
func (r *Remote) ListDomains(ctx context.Context) (ds []hc.DomainInfo, err error) {
	err = r.call(ctx, "list", rpcArgs{}, &ds)
	return
}

// SetMaxMem implements hc.Hypervisor.
func (r *Remote) SetMaxMem(ctx context.Context, id uint32, kb uint64) error {
	return r.call(ctx, "max_mem", rpcArgs{Domid: id, KB: kb}, nil)
}

// SetMaxVcpus implements hc.Hypervisor.
func (r *Remote) SetMaxVcpus(ctx context.Context, id uint32, n uint32) error {
	return r.call(ctx, "max_vcpus", rpcArgs{Domid: id, N: n}, nil)
}

// Shutdown implements hc.Hypervisor.
func (r *Remote) Shutdown(ctx context.Context, id uint32, reason hc.ShutdownReason) error {
	return r.call(ctx, "shutdown", rpcArgs{Domid: id, Reason: reason}, nil)
}

// PhysInfo implements hc.Hypervisor.
func (r *Remote) PhysInfo(ctx context.Context) (pi hc.PhysInfo, err error) {
	err = r.call(ctx, "physinfo", rpcArgs{}, &pi)
	return
}

// Version implements hc.Hypervisor.
func (r *Remote) Version(ctx context.Context) (v hc.Version, err error) {
	err = r.call(ctx, "version", rpcArgs{}, &v)
	return
}

// Build implements hc.Hypervisor.
func (r *Remote) Build(ctx context.Context, id uint32, spec hc.BuildSpec) (br hc.BuildResult, err error) {
	err = r.call(ctx, "build", rpcArgs{Domid: id, Build: &spec}, &br)
	return
}

// GuestAction implements Control.
func (r *Remote) GuestAction(ctx context.Context, id uint32, action string) error {
	return r.call(ctx, "guest_action", rpcArgs{Domid: id, Action: action}, nil)
}

// GuestBooted implements Control.
func (r *Remote) GuestBooted(ctx context.Context, id uint32) (ok bool, err error) {
	err = r.call(ctx, "guest_booted", rpcArgs{Domid: id}, &ok)
	return
}

// OpenEvtchn opens an event channel handle on the served host.
func (r *Remote) OpenEvtchn(ctx context.Context) (evtchn.Handle, error) {
	var id uint64
	if err := r.call(ctx, "evtchn.open", rpcArgs{}, &id); err != nil {
		return nil, err
	}
	return &remoteEvtchn{r: r, id: id}, nil
}

type remoteEvtchn struct {
	r  *Remote
	id uint64
}

func (e *remoteEvtchn) port(ctx context.Context, op string, a rpcArgs) (p uint32, err error) {
	a.Handle = e.id
	err = e.r.call(ctx, op, a, &p)
	return
}

func (e *remoteEvtchn) BindUnbound(ctx context.Context, remote uint32) (uint32, error) {
	return e.port(ctx, "evtchn.bind_unbound", rpcArgs{Domid: remote})
}

func (e *remoteEvtchn) BindInterdomain(ctx context.Context, remote, rport uint32) (uint32, error) {
	return e.port(ctx, "evtchn.bind_interdomain", rpcArgs{Domid: remote, Port: rport})
}

func (e *remoteEvtchn) BindVirq(ctx context.Context, virq uint32) (uint32, error) {
	return e.port(ctx, "evtchn.bind_virq", rpcArgs{Port: virq})
}

func (e *remoteEvtchn) Unbind(ctx context.Context, p uint32) error {
	return e.r.call(ctx, "evtchn.unbind", rpcArgs{Handle: e.id, Port: p}, nil)
}

func (e *remoteEvtchn) Notify(ctx context.Context, p uint32) error {
	return e.r.call(ctx, "evtchn.notify", rpcArgs{Handle: e.id, Port: p}, nil)
}

func (e *remoteEvtchn) Wait(ctx context.Context, p uint32) error {
	return e.r.call(ctx, "evtchn.wait", rpcArgs{Handle: e.id, Port: p}, nil)
}

func (e *remoteEvtchn) Close() error {
	return e.r.call(context.Background(), "evtchn.close", rpcArgs{Handle: e.id}, nil)
}

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
)
