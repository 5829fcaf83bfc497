//go:build linux

package hypercall

import (
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// More calls at once than there are buffers wait for one instead of failing:
// 200 creates at once in one supervisor failed with EBUSY in the lab when
// the pool was a fixed eight.
func TestBufferPoolWaitsForABuffer(t *testing.T) {
	p := &Privcmd{}
	p.freed.L = &p.mu
	t.Cleanup(func() {
		for _, b := range p.maps {
			unix.Munmap(b)
		}
	})
	entered := make(chan byte) // the first byte each call found
	release := make(chan struct{})
	errs := make(chan error, bufMax+1)
	for i := 0; i < bufMax+1; i++ {
		go func() {
			errs <- p.withBuffer("test", func(b []byte) error {
				first := b[0]
				b[0] = 0xff // put clears what a call left
				entered <- first
				<-release
				return nil
			})
		}()
	}
	for i := 0; i < bufMax; i++ {
		<-entered
	}
	select {
	case <-entered:
		t.Fatalf("call %d got a buffer while %d were in use", bufMax+1, bufMax)
	case err := <-errs:
		t.Fatalf("call %d did not wait: %v", bufMax+1, err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if first := <-entered; first != 0 {
		t.Fatalf("a buffer came back with the last call's bytes")
	}
	for i := 0; i < bufMax+1; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if len(p.maps) != bufMax || len(p.free) != bufMax {
		t.Fatalf("%d buffers mapped, %d free; want %d of each", len(p.maps), len(p.free), bufMax)
	}
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.withBuffer("test", func([]byte) error { time.Sleep(time.Millisecond); return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(p.maps) > bufMax {
		t.Fatalf("%d buffers mapped, at most %d", len(p.maps), bufMax)
	}
}
