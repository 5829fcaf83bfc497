package xenstored

import (
	"context"
	"net"
	"testing"
	"time"

	xs "luxen/bindings/xenstore"
)

// FuzzServer feeds arbitrary bytes to the server as one client's stream (as
// dom0 and as a guest) and checks that the server neither panics nor stops
// serving a well-behaved client.
func FuzzServer(f *testing.F) {
	seed := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	f.Add(seed(xs.AppendMsg(nil, xs.TypeWrite, 1, 0, []byte("/a/b\x00v")), xs.AppendMsg(nil, xs.TypeRead, 2, 0, xs.JoinStrings("/a/b"))), false)
	f.Add(seed(xs.AppendMsg(nil, xs.TypeTransactionStart, 1, 0, xs.JoinStrings("")), xs.AppendMsg(nil, xs.TypeWrite, 2, 1, []byte("/t\x00x")),
		xs.AppendMsg(nil, xs.TypeTransactionEnd, 3, 1, xs.JoinStrings("T"))), true)
	f.Add(seed(xs.AppendMsg(nil, xs.TypeWatch, 1, 0, xs.JoinStrings("/", "t")), xs.AppendMsg(nil, xs.TypeRm, 2, 0, xs.JoinStrings("/tool"))), false)
	f.Add(seed(xs.AppendMsg(nil, xs.TypeSetPerms, 1, 0, xs.JoinStrings("/local", "b5", "r0")), xs.AppendMsg(nil, 99, 2, 0, nil)), true)
	f.Add(seed(xs.AppendMsg(nil, xs.TypeDirectoryPart, 1, 0, xs.JoinStrings("/", "3"))), false)
	s := New(DefaultQuota)
	f.Fuzz(func(t *testing.T, stream []byte, asGuest bool) {
		a, b := net.Pipe()
		domid := uint32(0)
		if asGuest {
			domid = 5
		}
		done := make(chan struct{})
		go func() { s.ServeConn(b, domid); close(done) }()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := a.Read(buf); err != nil {
					return
				}
			}
		}()
		a.SetWriteDeadline(time.Now().Add(time.Second))
		a.Write(stream)
		a.Close()
		<-done
		// a well-behaved client is still served
		c1, c2 := net.Pipe()
		go s.ServeConn(c2, 0)
		c := xs.NewClient(c1)
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := c.Root().Write(ctx, "/fuzz/alive", "1"); err != nil {
			t.Fatalf("server stopped serving after %q: %v", stream, err)
		}
	})
}
