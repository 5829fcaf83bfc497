package xenstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"
)

// fakeServer answers READs out of order: it collects n requests, then replies
// in reverse, with a watch event between every two replies.
func fakeServer(t *testing.T, conn net.Conn, n int, token string) {
	var reqs []Msg
	for len(reqs) < n {
		m, err := ReadMsg(conn)
		if err != nil {
			return
		}
		if m.Type == TypeWatch {
			conn.Write(AppendMsg(nil, TypeWatch, m.ReqID, 0, JoinStrings("OK")))
			continue
		}
		reqs = append(reqs, m)
	}
	for i := len(reqs) - 1; i >= 0; i-- {
		m := reqs[i]
		p := SplitStrings(m.Payload)[0]
		if p == "/missing" {
			conn.Write(AppendMsg(nil, TypeError, m.ReqID, 0, JoinStrings("ENOENT")))
		} else {
			conn.Write(AppendMsg(nil, TypeRead, m.ReqID, 0, []byte("value of "+p)))
		}
		conn.Write(AppendMsg(nil, TypeWatchEvent, 0, 0, JoinStrings(fmt.Sprintf("/ev/%d", i), token)))
	}
}

func TestRepliesOutOfOrderAndInterleavedEvents(t *testing.T) {
	a, b := net.Pipe()
	c := NewClient(a)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	const n = 50
	// the client's first token will be luxen:1
	go fakeServer(t, b, n, "luxen:1")
	w, err := c.Watch(ctx, "/ev")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			p := fmt.Sprintf("/p%d", i)
			if i == 7 {
				p = "/missing"
			}
			v, err := c.Root().Read(ctx, p)
			switch {
			case i == 7 && !errors.Is(err, ENOENT):
				errs <- fmt.Errorf("request %d: %v, want ENOENT", i, err)
			case i != 7 && (err != nil || v != "value of "+p):
				errs <- fmt.Errorf("request %d got %q, %v", i, v, err)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	seen := map[string]bool{}
	for i := 0; i < n; i++ {
		p, _, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		seen[p] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct events, want %d", len(seen), n)
	}
}

func TestCloseFailsPendingRequests(t *testing.T) {
	a, b := net.Pipe()
	c := NewClient(a)
	go func() { ReadMsg(b); b.Close() }() // read one request, then vanish
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := c.Root().Read(ctx, "/x")
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("pending request after the server went away: %v", err)
	}
	if _, err := c.Root().Read(ctx, "/y"); !errors.Is(err, ErrClosed) {
		t.Fatalf("request on a closed client: %v", err)
	}
}

func TestWatchQueueOverflowIsReported(t *testing.T) {
	q := newEventQueue(3)
	for i := 0; i < 5; i++ {
		q.push(fmt.Sprint(i))
	}
	ctx := context.Background()
	p, dropped, _ := q.pop(ctx)
	if p != "0" || dropped != 2 {
		t.Fatalf("got %q dropped %d, want 0 and 2", p, dropped)
	}
	p, dropped, _ = q.pop(ctx)
	if p != "1" || dropped != 0 {
		t.Fatalf("got %q dropped %d", p, dropped)
	}
}
