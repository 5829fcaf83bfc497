package simxen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"luxen/bindings/evtchn"
	hc "luxen/bindings/hypercall"
)

// sample is a value of type t with every field set, different for each seed,
// so that an argument passed in the wrong place shows.
func sample(t *testing.T, typ reflect.Type, seed int) reflect.Value {
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(100 + seed))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(-100 - seed))
	case reflect.String:
		v.SetString(fmt.Sprintf("arg%d", seed))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Struct:
		for i := 0; i < typ.NumField(); i++ {
			if typ.Field(i).IsExported() {
				v.Field(i).Set(sample(t, typ.Field(i).Type, seed*10+i+1))
			}
		}
	case reflect.Array:
		for i := 0; i < typ.Len(); i++ {
			v.Index(i).Set(sample(t, typ.Elem(), seed+i))
		}
	case reflect.Slice:
		v.Set(reflect.Append(v, sample(t, typ.Elem(), seed)))
	default:
		t.Fatalf("an operation's argument of type %v cannot cross the socket as JSON", typ)
	}
	return v
}

// TestRemoteForwardsEveryMethod calls every method of hc.Hypervisor, Control
// and evtchn.Handle on a Remote and checks what reaches the socket: the
// method's own name and its arguments in order; and that the answer's
// *hc.Error comes back field for field. A forwarder copied from its neighbour
// and not renamed fails here.
func TestRemoteForwardsEveryMethod(t *testing.T) {
	a, b := net.Pipe()
	r := newRemote(a)
	defer r.Close()
	reqs := make(chan rpcReq, 1)
	go func() {
		sc := lines(b, 1<<20)
		enc := json.NewEncoder(b)
		for sc.Scan() {
			var req rpcReq
			if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
				t.Errorf("bad request %s: %v", sc.Bytes(), err)
				return
			}
			reqs <- req
			enc.Encode(rpcResp{ID: req.ID, Err: &rpcErr{Op: "probe " + req.Op, Domid: 9, Errno: "E2BIG", Msg: "detail"}})
		}
	}()
	ctx := context.Background()
	check := func(what string, recv reflect.Value, iface reflect.Type, opName func(string) string, lead ...any) {
		for i := 0; i < iface.NumMethod(); i++ {
			name := iface.Method(i).Name
			if name == "Close" && what == "Remote" {
				continue // drops the connection: not an operation
			}
			m := recv.MethodByName(name)
			ft := m.Type()
			var in []reflect.Value
			want := append([]any(nil), lead...)
			for j := 0; j < ft.NumIn(); j++ {
				if ft.In(j) == ctxType {
					in = append(in, reflect.ValueOf(ctx))
					continue
				}
				v := sample(t, ft.In(j), j)
				in = append(in, v)
				want = append(want, v.Interface())
			}
			out := m.Call(in)
			op := opName(name)
			wantErr := &hc.Error{Op: "probe " + op, Domid: 9, Errno: syscall.E2BIG, Msg: "detail"}
			if err, _ := out[len(out)-1].Interface().(error); !reflect.DeepEqual(err, wantErr) {
				t.Errorf("%s.%s: error %#v, want the host's %#v", what, name, err, wantErr)
			}
			req := <-reqs
			if req.Op != op {
				t.Errorf("%s.%s sends %q, want %q: a forwarder names its own method", what, name, req.Op, op)
				continue
			}
			if len(req.Args) != len(want) {
				t.Errorf("%s.%s sends %d arguments, want %d", what, name, len(req.Args), len(want))
				continue
			}
			for k, w := range want {
				got := reflect.New(reflect.TypeOf(w))
				if err := json.Unmarshal(req.Args[k], got.Interface()); err != nil || !reflect.DeepEqual(got.Elem().Interface(), w) {
					t.Errorf("%s.%s: argument %d is %s, want %#v (%v)", what, name, k+1, req.Args[k], w, err)
				}
			}
			// the server serves it under that name
			if _, ok := hostMethods[op]; !ok && what == "Remote" {
				t.Errorf("the server has no %q", op)
			}
			if _, ok := evtchnMethods[op]; !ok && what == "handle" && op != evtchnClose {
				t.Errorf("the server has no %q", op)
			}
		}
	}
	same := func(n string) string { return n }
	check("Remote", reflect.ValueOf(r), reflect.TypeOf((*hc.Hypervisor)(nil)).Elem(), same)
	check("Remote", reflect.ValueOf(r), reflect.TypeOf((*Control)(nil)).Elem(), same)
	e := &remoteEvtchn{r: r, id: 42}
	check("handle", reflect.ValueOf(e), reflect.TypeOf((*evtchn.Handle)(nil)).Elem(), evtchnOp, uint64(42))
	if _, err := r.OpenEvtchn(ctx); err == nil {
		t.Error("OpenEvtchn: no error")
	}
	if req := <-reqs; req.Op != evtchnOpen || len(req.Args) != 0 {
		t.Errorf("OpenEvtchn sends %q %s", req.Op, req.Args)
	}
}

func TestEvtchnOpNames(t *testing.T) {
	for m, want := range map[string]string{"BindUnbound": "evtchn.bind_unbound", "BindInterdomain": "evtchn.bind_interdomain",
		"BindVirq": "evtchn.bind_virq", "Unbind": "evtchn.unbind", "Notify": "evtchn.notify", "Wait": "evtchn.wait"} {
		if got := evtchnOp(m); got != want {
			t.Errorf("evtchnOp(%s) = %q, want %q", m, got, want)
		}
	}
}

// TestServedHostAnswersAsTheHost runs the same calls on a served host through
// a Remote and on a second, fresh host directly: the answers and the errors
// (op, domid, errno, detail) are the same.
func TestServedHostAnswersAsTheHost(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served, direct := New(Options{}), New(Options{})
	defer served.Close()
	defer direct.Close()
	sock := filepath.Join(t.TempDir(), "xs.sock")
	go Serve(ctx, served, sock)
	var r *Remote
	for i := 0; ; i++ {
		var err error
		if r, err = DialHV(HVSocket(sock)); err == nil {
			break
		}
		if i == 100 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer r.Close()

	same := func(what string, got, want any, gerr, werr error) {
		t.Helper()
		if !reflect.DeepEqual(gerr, werr) {
			t.Errorf("%s: served error %#v, direct %#v", what, gerr, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: served %#v, direct %#v", what, got, want)
		}
	}
	noTime := func(ds ...hc.DomainInfo) []hc.DomainInfo {
		for i := range ds {
			ds[i].CPUTime = 0
		}
		return ds
	}
	both := func(f func(hv hc.Hypervisor) (any, error)) (any, any, error, error) {
		a, aerr := f(r)
		b, berr := f(direct)
		return a, b, aerr, berr
	}
	run := func(what string, f func(hv hc.Hypervisor) (any, error)) any {
		t.Helper()
		a, b, aerr, berr := both(f)
		same(what, a, b, aerr, berr)
		return a
	}
	run("version", func(hv hc.Hypervisor) (any, error) { return hv.Version(ctx) })
	run("physinfo", func(hv hc.Hypervisor) (any, error) { return hv.PhysInfo(ctx) })
	run("create EINVAL", func(hv hc.Hypervisor) (any, error) { return hv.CreateDomain(ctx, hc.CreateConfig{}) })
	id := run("create", func(hv hc.Hypervisor) (any, error) {
		return hv.CreateDomain(ctx, hc.CreateConfig{UUID: [16]byte{1, 2, 3}, MaxVcpus: 2, MaxEvtchnPort: -1})
	}).(uint32)
	run("max_mem", func(hv hc.Hypervisor) (any, error) { return nil, hv.SetMaxMem(ctx, id, 65536) })
	run("max_vcpus", func(hv hc.Hypervisor) (any, error) { return nil, hv.SetMaxVcpus(ctx, id, 2) })
	run("build", func(hv hc.Hypervisor) (any, error) { return hv.Build(ctx, id, hc.BuildSpec{MemoryKB: 16384, Vcpus: 2}) })
	run("build EEXIST", func(hv hc.Hypervisor) (any, error) { return hv.Build(ctx, id, hc.BuildSpec{MemoryKB: 16384}) })
	run("build ENOMEM", func(hv hc.Hypervisor) (any, error) {
		id, err := hv.CreateDomain(ctx, hc.CreateConfig{UUID: [16]byte{4}, MaxVcpus: 1})
		if err != nil {
			return nil, err
		}
		return hv.Build(ctx, id, hc.BuildSpec{MemoryKB: 1 << 40})
	})
	run("pause ESRCH", func(hv hc.Hypervisor) (any, error) { return nil, hv.PauseDomain(ctx, 999) })
	run("info", func(hv hc.Hypervisor) (any, error) {
		di, err := hv.DomainInfo(ctx, id)
		return noTime(di), err
	})
	run("list", func(hv hc.Hypervisor) (any, error) {
		ds, err := hv.ListDomains(ctx)
		return noTime(ds...), err
	})
	run("unpause", func(hv hc.Hypervisor) (any, error) { return nil, hv.UnpauseDomain(ctx, id) })
	run("unpause EINVAL", func(hv hc.Hypervisor) (any, error) { return nil, hv.UnpauseDomain(ctx, id) })
	ctl := func(f func(c Control) error) func(hv hc.Hypervisor) (any, error) {
		return func(hv hc.Hypervisor) (any, error) { return nil, f(hv.(Control)) }
	}
	run("guest_action ESRCH", ctl(func(c Control) error { return c.GuestAction(ctx, 999, "crash") }))
	run("guest_action EINVAL", ctl(func(c Control) error { return c.GuestAction(ctx, id, "dance") }))
	run("guest_booted ESRCH", func(hv hc.Hypervisor) (any, error) { return hv.(Control).GuestBooted(ctx, 999) })
	run("shutdown", func(hv hc.Hypervisor) (any, error) { return nil, hv.Shutdown(ctx, id, hc.Crash) })
	run("info after shutdown", func(hv hc.Hypervisor) (any, error) {
		di, err := hv.DomainInfo(ctx, id)
		return noTime(di), err
	})
	run("destroy", func(hv hc.Hypervisor) (any, error) { return nil, hv.DestroyDomain(ctx, id) })
	run("destroy ESRCH", func(hv hc.Hypervisor) (any, error) { return nil, hv.DestroyDomain(ctx, id) })

	// event channels: the served handle answers as the host's own
	re, err := r.OpenEvtchn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	de := direct.OpenEvtchn()
	defer de.Close()
	pa, aerr := re.BindUnbound(ctx, 0)
	pb, berr := de.BindUnbound(ctx, 0)
	same("bind_unbound", pa, pb, aerr, berr)
	qa, aerr := re.BindInterdomain(ctx, 0, pa) // the other end of pa, on the same handle
	qb, berr := de.BindInterdomain(ctx, 0, pb)
	same("bind_interdomain", qa, qb, aerr, berr)
	_, aerr = re.BindInterdomain(ctx, 0, 4000)
	_, berr = de.BindInterdomain(ctx, 0, 4000)
	same("bind_interdomain EINVAL", nil, nil, aerr, berr)
	_, aerr = re.BindVirq(ctx, 1)
	_, berr = de.BindVirq(ctx, 1)
	same("bind_virq EINVAL", nil, nil, aerr, berr)
	same("notify", nil, nil, re.Notify(ctx, qa), de.Notify(ctx, qb))
	same("wait", nil, nil, re.Wait(ctx, pa), de.Wait(ctx, pb))
	same("unbind", nil, nil, re.Unbind(ctx, qa), de.Unbind(ctx, qb))
	same("notify after unbind", nil, nil, re.Notify(ctx, qa), de.Notify(ctx, qb))

	// a wait that the caller gives up is cancelled, and the handle still works
	wctx, wcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer wcancel()
	if err := re.Wait(wctx, pa); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait past its deadline: %v", err)
	}
	if _, err := re.BindUnbound(ctx, 0); err != nil {
		t.Errorf("bind after a cancelled wait: %v", err)
	}
	if err := re.Close(); err != nil {
		t.Fatal(err)
	}
	// EBADF has no name in hc's errno table, so it crosses as EIO (as every
	// errno without one does)
	want := &hc.Error{Op: "evtchn.notify", Errno: syscall.EIO, Msg: "no such evtchn handle"}
	if err := re.Notify(ctx, pa); !reflect.DeepEqual(err, want) {
		t.Errorf("notify on a closed handle: %#v, want %#v", err, want)
	}

	// the connection gone, a call is EIO, named for its operation and domain
	r.Close()
	<-r.Done()
	want = &hc.Error{Op: "PauseDomain", Domid: 7, Errno: syscall.EIO, Msg: "simxen: connection to the simulated host closed"}
	if err := r.PauseDomain(ctx, 7); !reflect.DeepEqual(err, want) {
		t.Errorf("pause with the host gone: %#v, want %#v", err, want)
	}
}
