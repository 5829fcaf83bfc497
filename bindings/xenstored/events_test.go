package xenstored

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	xs "luxen/bindings/xenstore"
)

// rawGuest is domain d's connection spoken by hand, watching path, with the
// WATCH reply and the watch's first event read.
func rawGuest(t *testing.T, s *Server, d uint32, path string) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	return watchOn(t, s, d, path, a, b)
}

// watchOn is rawGuest on a given pipe: a is the guest's end, b the server's.
func watchOn(t *testing.T, s *Server, d uint32, path string, a net.Conn, b io.ReadWriteCloser) net.Conn {
	t.Helper()
	go s.ServeConn(b, d)
	t.Cleanup(func() { a.Close() })
	if _, err := a.Write(xs.AppendMsg(nil, xs.TypeWatch, 1, 0, xs.JoinStrings(path, "tok"))); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the reply and the first event, in either order
		if _, err := xs.ReadMsg(a); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// events reads watch events until none comes for a while.
func events(t *testing.T, c net.Conn) []string {
	var got []string
	for {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		m, err := xs.ReadMsg(c)
		if err != nil {
			return got
		}
		if m.Type == xs.TypeWatchEvent {
			got = append(got, strings.SplitN(string(m.Payload), "\x00", 2)[0])
		}
	}
}

// TestSlowGuestLosesNoWatchEvents: as in cxenstored 4.17, events do not
// count against the Outstanding quota: a guest that reads late (here, after
// five times that many events) still gets every one.
func TestSlowGuestLosesNoWatchEvents(t *testing.T) {
	s, c, _ := serve(t)
	x := ctx(t)
	data := guestTree(t, c, 4)
	g := rawGuest(t, s, 4, data)
	n := 5 * DefaultQuota.Outstanding
	for i := 0; i < n; i++ {
		if err := c.Root().Write(x, fmt.Sprintf("%s/k%d", data, i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if got := events(t, g); len(got) != n {
		t.Fatalf("%d events, want %d", len(got), n)
	}
}

// TestUnreadWatchEventsTimeOut: an event that waits unread past the
// watch-event timeout is dropped (timeout_watch_event_msec), and the drop is
// reported; one queued after the guest reads again is delivered.
func TestUnreadWatchEventsTimeOut(t *testing.T) {
	q := DefaultQuota
	q.WatchEventTimeout = 50 * time.Millisecond
	s, sock := listenWith(t, q)
	var dropped atomic.Int32
	s.mu.Lock()
	s.Logf = func(format string, a ...any) {
		if strings.Contains(fmt.Sprintf(format, a...), "watch-event timeout") {
			dropped.Add(1)
		}
	}
	s.mu.Unlock()
	c, err := xs.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	x := ctx(t)
	data := guestTree(t, c, 4)
	a, b := net.Pipe()
	server := &writeSignal{Conn: b, writing: make(chan struct{}, 16)}
	g := watchOn(t, s, 4, data, a, server)
	for len(server.writing) > 0 { // the WATCH reply's and first event's writes
		<-server.writing
	}
	c.Root().Write(x, data+"/old0", "v")
	// the writer takes old0 and blocks writing it (the guest is not
	// reading), so the next four wait in the queue; without this wait a
	// slow writer could take old0 and old1 in one batch
	<-server.writing
	for i := 1; i < 5; i++ {
		c.Root().Write(x, fmt.Sprintf("%s/old%d", data, i), "v")
	}
	time.Sleep(150 * time.Millisecond) // the guest reads nothing meanwhile
	got := events(t, g)
	if len(got) != 1 || dropped.Load() != 4 {
		t.Fatalf("after the timeout: events %v, %d reported dropped; want the first only and 4 dropped", got, dropped.Load())
	}
	c.Root().Write(x, data+"/new", "v")
	if got := events(t, g); len(got) != 1 || !strings.HasSuffix(got[0], "/new") {
		t.Fatalf("a fresh event: %v", got)
	}
}

// writeSignal is the server's end of a pipe that says when a write starts.
type writeSignal struct {
	net.Conn
	writing chan struct{}
}

func (w *writeSignal) Write(p []byte) (int, error) {
	select {
	case w.writing <- struct{}{}:
	default:
	}
	return w.Conn.Write(p)
}
