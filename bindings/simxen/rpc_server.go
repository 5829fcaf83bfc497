package simxen

// The served host's hypervisor, server side. `luxen sim serve` listens on a
// unix socket next to its xenstored socket (HVSocket) and runs the calls of
// every client (a Remote, rpc_client.go) on its Host. What is served beyond
// hc.Hypervisor (Control, event channel handles) is in rpc_control.go.
//
// The protocol is generic, one JSON object a line each way:
//
//	-> {"id":7,"op":"SetMaxMem","args":[3,524288]}
//	<- {"id":7}                                         the method returned nil
//	<- {"id":7,"result":{...}}                          its value, when it has one
//	<- {"id":7,"err":{"op":"max_mem","domid":3,"errno":"ESRCH"}}   its *hc.Error
//	-> {"op":"cancel","args":[7]}                       the caller's context ended
//
// op is a method's name and args are its arguments after the context.
// hostMethods, built by reflect from the hc.Hypervisor and Control interface
// types when the package loads, finds the *Host method of that name; each
// request runs in its own goroutine, so a long evtchn wait never holds up a
// create. Errors cross as hc.Error's op, domid, errno name and detail, so the
// client gets the *hc.Error the Host returned; any other error arrives as
// op "rpc", EIO, its text.
//
// A new hypervisor operation needs exactly:
//  1. its method in hc.Hypervisor (bindings/hypercall/hypercall.go);
//  2. the real implementation, that method on *hc.Privcmd
//     (bindings/hypercall/privcmd_linux.go);
//  3. the simulated implementation, that method on *Host (host.go here).
//
// Then `go generate ./bindings/simxen` writes Remote's forwarder for it
// (rpc_forwarders.go, from the interface: TestForwardersAreCurrent fails
// while it is stale, and the compiler while Remote lacks it). Nothing in
// this file or rpc_control.go changes: the server finds the method by its
// name, and TestRemoteForwardsEveryMethod checks each forwarder end to end.
// A served method takes a context.Context first (or only its arguments),
// returns an error or one value and an error, and its arguments and value
// must survive encoding/json (exported fields, no interfaces or channels).
// Lua scripts reach it once it
// has a row in bindings/lualib/xen.go's xenOps and a stub in meta/xen.lua.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"sync"
	"syscall"

	hc "luxen/bindings/hypercall"
)

// HVSocket names the hypervisor socket that goes with a xenstored socket.
func HVSocket(xenstoredPath string) string { return xenstoredPath + ".hv" }

type rpcReq struct {
	ID   uint64            `json:"id"`
	Op   string            `json:"op"`
	Args []json.RawMessage `json:"args,omitempty"`
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

// lines reads the protocol's lines (each one JSON object) from c, each at
// most max bytes long.
func lines(c net.Conn, max int) *bufio.Scanner {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 64<<10), max)
	return sc
}

// cancelOp is the request that cancels request args[0] (no answer).
const cancelOp = "cancel"

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

// method is one served operation: a method of the receiver's type, called
// with the request's context (when it takes one) and its decoded arguments.
type method struct {
	name   string
	fn     reflect.Value // the method with its receiver as first argument
	ctx    bool          // takes a context.Context first
	args   []reflect.Type
	result bool // returns a value besides its error
}

var (
	ctxType = reflect.TypeOf((*context.Context)(nil)).Elem()
	errType = reflect.TypeOf((*error)(nil)).Elem()
)

// hostMethods are the operations served on the Host: every method of
// hc.Hypervisor but Close (a client's Close drops its connection, it does not
// stop the host), and of Control, by name.
var hostMethods = methodsOf(reflect.TypeOf((*Host)(nil)), func(n string) string { return n }, "Close",
	reflect.TypeOf((*hc.Hypervisor)(nil)).Elem(), reflect.TypeOf((*Control)(nil)).Elem())

// methodsOf is the table of recv's methods that the interfaces name (but
// skip), keyed by opName(the method's name).
func methodsOf(recv reflect.Type, opName func(string) string, skip string, ifaces ...reflect.Type) map[string]method {
	t := map[string]method{}
	for _, it := range ifaces {
		for i := 0; i < it.NumMethod(); i++ {
			im := it.Method(i)
			if im.Name == skip {
				continue
			}
			rm, ok := recv.MethodByName(im.Name)
			if !ok {
				panic(fmt.Sprintf("simxen: %v has no method %s of %v", recv, im.Name, it))
			}
			ft := im.Type
			m := method{name: opName(im.Name), fn: rm.Func}
			for j := 0; j < ft.NumIn(); j++ {
				if j == 0 && ft.In(0) == ctxType {
					m.ctx = true
					continue
				}
				m.args = append(m.args, ft.In(j))
			}
			switch {
			case ft.NumOut() == 1 && ft.Out(0) == errType:
			case ft.NumOut() == 2 && ft.Out(1) == errType:
				m.result = true
			default:
				panic(fmt.Sprintf("simxen: %v.%s cannot be served: an operation returns an error, or one value and an error", it, im.Name))
			}
			t[m.name] = m
		}
	}
	return t
}

// call runs the method on recv with the JSON arguments.
func (m method) call(ctx context.Context, recv reflect.Value, raw []json.RawMessage) (any, error) {
	if len(raw) != len(m.args) {
		return nil, hc.Errorf(m.name, 0, syscall.EINVAL, "%d arguments, want %d", len(raw), len(m.args))
	}
	in := make([]reflect.Value, 0, 2+len(raw))
	in = append(in, recv)
	if m.ctx {
		in = append(in, reflect.ValueOf(&ctx).Elem())
	}
	for i, t := range m.args {
		v := reflect.New(t)
		if err := json.Unmarshal(raw[i], v.Interface()); err != nil {
			return nil, hc.Errorf(m.name, 0, syscall.EINVAL, "argument %d: %v", i+1, err)
		}
		in = append(in, v.Elem())
	}
	out := m.fn.Call(in)
	if err, _ := out[len(out)-1].Interface().(error); err != nil {
		return nil, err
	}
	if m.result {
		return out[0].Interface(), nil
	}
	return nil, nil
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
		l, err := listen0600(p)
		if err != nil {
			return err
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

// listen0600 listens on a unix socket at p that is mode 0600 from the moment
// it has that name: made under a temporary name, narrowed, then renamed into
// place, so nobody (and no test) ever finds p with the umask's wider mode.
func listen0600(p string) (net.Listener, error) {
	tmp := fmt.Sprintf("%s.%d.tmp", p, os.Getpid())
	_ = os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("simxen: listen %s: %w", p, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("simxen: chmod %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		l.Close()
		return nil, fmt.Errorf("simxen: listen %s: %w", p, err)
	}
	return l, nil
}

// session is one client connection: its calls in flight (to cancel them) and
// the event channel handles it opened (closed when it goes).
type session struct {
	h        *Host
	handles  handles
	mu       sync.Mutex
	inflight map[uint64]context.CancelFunc
}

// dispatch runs one request.
func (s *session) dispatch(ctx context.Context, op string, args []json.RawMessage) (any, error) {
	if m, ok := hostMethods[op]; ok {
		return m.call(ctx, reflect.ValueOf(s.h), args)
	}
	if res, ok, err := s.handles.dispatch(ctx, s.h, op, args); ok {
		return res, err
	}
	return nil, hc.Errorf(op, 0, syscall.ENOSYS, "unknown operation")
}

func (h *Host) serveRPC(ctx context.Context, c net.Conn) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer c.Close()
	s := &session{h: h, inflight: map[uint64]context.CancelFunc{}}
	defer s.handles.closeAll()
	var wmu sync.Mutex
	enc := json.NewEncoder(c)
	sc := lines(c, 1<<20)
	for sc.Scan() {
		var req rpcReq
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			return // not our protocol: drop the connection
		}
		if req.Op == cancelOp {
			var id uint64
			if len(req.Args) == 1 && json.Unmarshal(req.Args[0], &id) == nil {
				s.mu.Lock()
				if f := s.inflight[id]; f != nil {
					f()
				}
				s.mu.Unlock()
			}
			continue
		}
		rctx, rcancel := context.WithCancel(ctx)
		s.mu.Lock()
		s.inflight[req.ID] = rcancel
		s.mu.Unlock()
		go func() {
			defer rcancel()
			res, err := s.dispatch(rctx, req.Op, req.Args)
			resp := rpcResp{ID: req.ID}
			if err != nil {
				resp.Err = toRPCErr(err)
			} else if res != nil {
				resp.Result, _ = json.Marshal(res)
			}
			s.mu.Lock()
			delete(s.inflight, req.ID)
			s.mu.Unlock()
			wmu.Lock()
			_ = enc.Encode(resp)
			wmu.Unlock()
		}()
	}
}
