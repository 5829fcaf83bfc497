package xenstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"testing"
)

// kernelDevice models Linux's xenbus_file_write: it buffers one message,
// acts on it once whole, then empties its buffer (dropping whatever else the
// write held), and refuses a write longer than its buffer with EINVAL.
type kernelDevice struct {
	buf  []byte
	got  []Msg
	max  int
	fail bool
}

func (k *kernelDevice) Write(b []byte) (int, error) {
	if len(b)+len(k.buf) > HeaderSize+PayloadMax {
		k.buf = nil
		return 0, syscall.EINVAL
	}
	k.buf = append(k.buf, b...)
	k.max = max(k.max, len(b))
	if len(k.buf) < HeaderSize {
		return len(b), nil
	}
	m, err := ReadMsg(bytes.NewReader(k.buf))
	if err != nil {
		return len(b), nil // incomplete payload: wait for more
	}
	k.got = append(k.got, m)
	k.buf = nil // the rest of this write is gone, as in the kernel
	return len(b), nil
}
func (k *kernelDevice) Read([]byte) (int, error) { return 0, errors.New("not read here") }
func (k *kernelDevice) Close() error             { return nil }

func TestDeviceConnWritesOneMessageAWrite(t *testing.T) {
	var batch []byte
	want := []string{"/a", "/b", string(bytes.Repeat([]byte("x"), 3000)), "/c"}
	for i, p := range want {
		batch = AppendMsg(batch, TypeRead, uint32(i+1), 0, append([]byte(p), 0))
	}
	// what the client did before: the whole batch in one write loses all
	// but the first message (or, past one buffer, all of them)
	k := &kernelDevice{}
	k.Write(batch)
	if len(k.got) == len(want) {
		t.Fatalf("the model of the device took %d messages from one write: it is not the kernel's", len(k.got))
	}

	k = &kernelDevice{}
	d := newDeviceConn(k)
	go func() { // the replies the model never sends: each turn, by hand
		for range want[1:] {
			d.turn <- struct{}{}
		}
	}()
	n, err := d.Write(batch)
	if err != nil || n != len(batch) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(batch))
	}
	if len(k.got) != len(want) {
		t.Fatalf("the device got %d messages, want %d", len(k.got), len(want))
	}
	for i, m := range k.got {
		if m.ReqID != uint32(i+1) || string(bytes.TrimRight(m.Payload, "\x00")) != want[i] {
			t.Errorf("message %d: req %d payload %.10q", i, m.ReqID, m.Payload)
		}
	}
	if k.max > HeaderSize+PayloadMax {
		t.Errorf("a write of %d bytes", k.max)
	}
}

// answeringDevice answers each request written to it (a READ with its path,
// anything else with "OK"), first queueing a watch event when asked, and
// counts requests written while an earlier one's reply was still unread.
type answeringDevice struct {
	mu        sync.Mutex
	cond      *sync.Cond
	out       []byte
	unread    int // replies queued and not yet read whole
	overlap   int // requests written while a reply was unread
	withEvent bool
	closed    bool
}

func newAnsweringDevice() *answeringDevice {
	a := &answeringDevice{}
	a.cond = sync.NewCond(&a.mu)
	return a
}

func (a *answeringDevice) Write(b []byte) (int, error) {
	m, err := ReadMsg(bytes.NewReader(b))
	if err != nil {
		return 0, syscall.EINVAL
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.unread > 0 {
		a.overlap++
	}
	if a.withEvent {
		a.out = AppendMsg(a.out, TypeWatchEvent, 0, 0, JoinStrings("/some/path", "tok"))
	}
	reply := []byte("OK\x00")
	if m.Type == TypeRead {
		reply = bytes.TrimRight(m.Payload, "\x00")
	}
	a.out = AppendMsg(a.out, m.Type, m.ReqID, m.TxID, reply)
	a.unread++
	a.cond.Broadcast()
	return len(b), nil
}

func (a *answeringDevice) Read(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for len(a.out) == 0 && !a.closed {
		a.cond.Wait()
	}
	if a.closed {
		return 0, io.EOF
	}
	// a reply is read whole or in parts, as the kernel's read gives it
	n := copy(p, a.out[:min(len(a.out), 7+len(p)%13)])
	a.out = a.out[n:]
	// the count falls as whole replies leave (events and replies alike are
	// framed; an approximation good enough: recount what is left)
	a.unread = countReplies(a.out)
	return n, nil
}

func countReplies(b []byte) int {
	n := 0
	for len(b) >= HeaderSize {
		l := HeaderSize + int(binary.LittleEndian.Uint32(b[12:16]))
		if MsgType(binary.LittleEndian.Uint32(b[0:4])) != TypeWatchEvent {
			n++
		}
		if l > len(b) {
			break
		}
		b = b[l:]
	}
	if len(b) > 0 && len(b) < HeaderSize {
		n++ // a reply read in part
	}
	return n
}

func (a *answeringDevice) Close() error {
	a.mu.Lock()
	a.closed = true
	a.cond.Broadcast()
	a.mu.Unlock()
	return nil
}

func TestDeviceConnSendsOneRequestAtATime(t *testing.T) {
	for _, events := range []bool{false, true} {
		dev := newAnsweringDevice()
		dev.withEvent = events
		c := NewClient(newDeviceConn(dev))
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 16; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					p := fmt.Sprintf("/g%d/r%d", g, i)
					v, err := c.Root().Read(ctx, p)
					if err != nil || v != p {
						errs <- fmt.Errorf("read %s = %q, %v", p, v, err)
						return
					}
				}
			}()
		}
		// a pipeline goes over it too, one request after another
		reqs := make([]Request, 40)
		for i := range reqs {
			reqs[i] = Request{Op: TypeRead, Path: fmt.Sprintf("/p/%d", i)}
		}
		for i, r := range c.Root().Pipeline(ctx, reqs) {
			if r.Err != nil || string(r.Payload) != reqs[i].Path {
				t.Errorf("pipeline %d: %q %v", i, r.Payload, r.Err)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		c.Close()
		if dev.overlap != 0 {
			t.Errorf("events %v: %d requests were sent while another awaited its reply", events, dev.overlap)
		}
	}
}
