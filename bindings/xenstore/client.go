// The connection: dialing xenstored (its socket or the xenbus device), the
// reader and writer goroutines that let many requests share one connection,
// and, for a redialing client, getting a new connection when xenstored
// restarts. request is the one way a message goes out and its reply comes
// back; the operations built on it are in ops.go, tx.go, watch.go and
// control.go.

package xenstore

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Client is one connection to xenstored. Many goroutines may use it at once: every
// request carries its own req_id and replies are matched to it whatever their order,
// and watch events are routed by token to the Watch that asked for them.
type Client struct {
	conn   io.ReadWriteCloser
	out    chan []byte // framed messages for the writer goroutine
	nextID atomic.Uint32
	tokens atomic.Uint64

	mu      sync.Mutex
	pending map[uint32]chan Msg
	watches map[string]*Watch
	err     error // set once the client is closed for good
	done    chan struct{}

	// a redialing client survives xenstored restarting (see NewRedialing)
	dial  func() (io.ReadWriteCloser, error)
	gen   int           // which connection the loops serve
	ready chan struct{} // closed while connected
	stop  chan struct{} // closed when the current connection is lost
}

// Dial connects to a xenstored unix socket.
func Dial(path string) (*Client, error) {
	c, err := dialSocket(path)
	if err != nil {
		return nil, err
	}
	return NewClient(c), nil
}

// dialTimeout bounds how long dialSocket waits for a xenstored whose
// listen backlog is full.
var dialTimeout = 30 * time.Second

// dialSocket connects to a xenstored socket. cxenstored listens with a
// backlog of 1 (init_sockets in tools/xenstore/xenstored_core.c: listen(sock,
// 1)), and a unix socket connect with a full backlog fails at once with
// EAGAIN when it is non-blocking, as Go's is; libxenstore's blocking connect
// waits instead. So does this: ten `luxen destroy` at once met EAGAIN in the
// lab.
func dialSocket(path string) (io.ReadWriteCloser, error) {
	deadline := time.Now().Add(dialTimeout)
	backoff := time.Millisecond
	for {
		c, err := net.Dial("unix", path)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			return nil, fmt.Errorf("xenstore: dial %s: %w", path, err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// SocketPath returns where a client should connect: $XENSTORED_PATH, else the
// standard socket when it exists, else the xenbus device.
func SocketPath() string {
	if p := os.Getenv(SocketEnvVar); p != "" {
		return p
	}
	if _, err := os.Stat(DefaultSocket); err == nil {
		return DefaultSocket
	}
	return XenbusDevice
}

// dialDefault opens where SocketPath says, afresh each time it is called (so
// a redial sees a changed $XENSTORED_PATH). The xenbus device carries the same
// framing as the socket, so the same client serves both.
func dialDefault() (io.ReadWriteCloser, error) {
	p := SocketPath()
	if strings.HasPrefix(p, "/dev/") { // XenbusDevice among them
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("xenstore: open %s: %w", p, err)
		}
		return newDeviceConn(f), nil
	}
	return dialSocket(p)
}

// DialDefault connects where Xen's own C clients would (see SocketPath).
func DialDefault() (*Client, error) {
	conn, err := dialDefault()
	if err != nil {
		return nil, err
	}
	return NewClient(conn), nil
}

// DialDefaultRedialing is DialDefault with a client that survives xenstored
// restarting (NewRedialing): each redial looks where DialDefault looks.
func DialDefaultRedialing() (*Client, error) { return NewRedialing(dialDefault) }

// NewClient runs the protocol over an established connection.
func NewClient(conn io.ReadWriteCloser) *Client {
	c := &Client{
		conn:    conn,
		out:     make(chan []byte, 64),
		pending: make(map[uint32]chan Msg),
		watches: make(map[string]*Watch),
		done:    make(chan struct{}),
		ready:   make(chan struct{}),
		stop:    make(chan struct{}),
	}
	close(c.ready)
	go c.readLoop(conn, 0)
	go c.writeLoop(conn, c.stop, 0)
	return c
}

// NewRedialing is a client that survives xenstored restarting: when the
// connection drops it dials again (with backoff) and registers its watches
// again, each of which then fires once, telling its owner to look afresh.
// Requests in flight when the connection dropped fail with ErrClosed; new
// requests wait for the new connection (bounded by their context).
func NewRedialing(dial func() (io.ReadWriteCloser, error)) (*Client, error) {
	conn, err := dial()
	if err != nil {
		return nil, err
	}
	c := NewClient(conn)
	c.dial = dial
	return c, nil
}

// lost handles a dropped connection of generation gen.
func (c *Client) lost(gen int, err error) {
	if c.dial == nil {
		c.fail(err)
		return
	}
	c.mu.Lock()
	if c.err != nil || c.gen != gen {
		c.mu.Unlock()
		return
	}
	c.gen++
	c.ready = make(chan struct{})
	close(c.stop) // the old writer stops before it can take the new connection's messages
	c.stop = make(chan struct{})
	pending := c.pending
	c.pending = map[uint32]chan Msg{}
	old := c.conn
	c.mu.Unlock()
	old.Close()
	closeAll(pending)
	go c.redial()
}

func (c *Client) redial() {
	backoff := 10 * time.Millisecond
	for {
		select {
		case <-c.done:
			return
		case <-time.After(backoff):
		}
		conn, err := c.dial()
		if err != nil {
			backoff = min(backoff*2, time.Second)
			continue
		}
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			conn.Close()
			return
		}
		c.conn = conn
		gen, stop := c.gen, c.stop
		ws := make([]*Watch, 0, len(c.watches))
		for _, w := range c.watches {
			ws = append(ws, w)
		}
		close(c.ready)
		c.mu.Unlock()
		go c.readLoop(conn, gen)
		go c.writeLoop(conn, stop, gen)
		for _, w := range ws {
			// fire and forget: the new watch's first event is the signal
			id := c.nextID.Add(1)
			c.out <- AppendMsg(nil, TypeWatch, id, 0, JoinStrings(w.Path, w.Token))
		}
		return
	}
}

// Close drops the connection; outstanding requests fail with ErrClosed.
func (c *Client) Close() error {
	c.fail(ErrClosed)
	return nil
}

// Done is closed when the connection has gone away.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = map[uint32]chan Msg{}
	watches := c.watches
	c.watches = map[string]*Watch{}
	close(c.done)
	conn := c.conn
	c.mu.Unlock()
	conn.Close()
	closeAll(pending)
	for _, w := range watches {
		w.q.close(err)
	}
}

// writeLoop sends what requests queue, in their order. Whatever has queued
// by the time a write is due goes out in that one write: requests in flight
// at once (many tasks, or a pipeline) cost one syscall, and the server reads
// them in one go.
// closeAll closes the reply channels of requests that will get no reply;
// a pipeline's requests share one, closed once.
func closeAll(pending map[uint32]chan Msg) {
	closed := make(map[chan Msg]bool, len(pending))
	for _, ch := range pending {
		if !closed[ch] {
			closed[ch] = true
			close(ch)
		}
	}
}

func (c *Client) writeLoop(conn io.ReadWriteCloser, stop <-chan struct{}, gen int) {
	var buf []byte
	for {
		select {
		case <-stop:
			return
		default:
		}
		select {
		case b := <-c.out:
			buf = append(buf[:0], b...)
			// let the goroutines woken with this one queue theirs too: a
			// burst of requests (replies just came for all of them) then
			// goes out in one write; a lone request waits only for a
			// Gosched that finds nothing else to run
			yielded := false
		more:
			for len(buf) < writeBatch {
				select {
				case b := <-c.out:
					buf = append(buf, b...)
				default:
					if yielded {
						break more
					}
					yielded = true
					runtime.Gosched()
				}
			}
			if _, err := conn.Write(buf); err != nil {
				c.lost(gen, fmt.Errorf("xenstore: write: %w", err))
				return
			}
			if cap(buf) > 4*writeBatch {
				buf = nil
			}
		case <-c.done:
			return
		case <-stop:
			return
		}
	}
}

// writeBatch bounds one coalesced write to a socket (the kernel's socket
// buffer is larger). The xenbus device takes one request at a time, which
// deviceConn sees to.
const writeBatch = 64 << 10

func (c *Client) readLoop(conn io.ReadWriteCloser, gen int) {
	// buffered: a batch of replies is one read, not two a reply
	br := bufio.NewReaderSize(conn, HeaderSize+PayloadMax)
	for {
		m, err := ReadMsg(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				err = ErrClosed
			}
			c.lost(gen, err)
			return
		}
		if m.Type == TypeWatchEvent {
			c.dispatchEvent(m.Payload)
			continue
		}
		c.mu.Lock()
		ch := c.pending[m.ReqID]
		delete(c.pending, m.ReqID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m // buffered: never blocks the reader
		}
	}
}

// request sends one message and waits for its reply.
func (c *Client) request(ctx context.Context, t MsgType, tx uint32, path string, payload []byte) ([]byte, error) {
	p, err := c.send(ctx, t, tx, path, payload)
	if err != nil {
		return nil, err
	}
	return p.wait(ctx)
}

// sent is a request on its way: its reply comes on ch.
type sent struct {
	c    *Client
	id   uint32
	t    MsgType
	path string
	ch   chan Msg
}

// send queues one message for the writer without waiting for its reply, so
// a caller may have many in flight (Pipeline); replies are matched by req_id.
// Messages one goroutine sends go out in the order it sent them.
func (c *Client) send(ctx context.Context, t MsgType, tx uint32, path string, payload []byte) (sent, error) {
	if len(payload) > PayloadMax {
		return sent{}, &Error{Op: t, Path: path, Errno: E2BIG}
	}
	id := c.nextID.Add(1)
	ch := make(chan Msg, 1)
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return sent{}, err
		}
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return sent{}, ctx.Err()
		case <-c.done:
			return sent{}, c.closedErr()
		}
		c.mu.Lock()
		if c.ready == ready { // still connected on that connection
			c.pending[id] = ch
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
	}
	msg := AppendMsg(make([]byte, 0, HeaderSize+len(payload)), t, id, tx, payload)
	select {
	case c.out <- msg:
	case <-c.done:
		return sent{}, c.closedErr()
	case <-ctx.Done():
		c.forget(id)
		return sent{}, ctx.Err()
	}
	return sent{c: c, id: id, t: t, path: path, ch: ch}, nil
}

// sendAll queues buf, n framed messages, as one write, with consecutive
// req_ids (written into their headers here) whose replies all come on ch;
// it returns the first id. forgetAll drops them once they are answered.
func (c *Client) sendAll(ctx context.Context, buf []byte, n int, ch chan Msg) (uint32, error) {
	first := c.nextID.Add(uint32(n)) - uint32(n) + 1
	for off, j := 0, 0; j < n; j++ {
		binary.LittleEndian.PutUint32(buf[off+4:], first+uint32(j))
		off += HeaderSize + int(binary.LittleEndian.Uint32(buf[off+12:]))
	}
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return 0, err
		}
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-c.done:
			return 0, c.closedErr()
		}
		c.mu.Lock()
		if c.ready == ready {
			for j := 0; j < n; j++ {
				c.pending[first+uint32(j)] = ch
			}
			c.mu.Unlock()
			break
		}
		c.mu.Unlock()
	}
	select {
	case c.out <- buf:
	case <-c.done:
		return 0, c.closedErr()
	case <-ctx.Done():
		c.forgetAll(first, n)
		return 0, ctx.Err()
	}
	return first, nil
}

func (c *Client) forgetAll(first uint32, n int) {
	c.mu.Lock()
	for j := 0; j < n; j++ {
		delete(c.pending, first+uint32(j))
	}
	c.mu.Unlock()
}

// wait returns the request's reply payload, or its error.
func (p sent) wait(ctx context.Context) ([]byte, error) {
	select {
	case m, ok := <-p.ch:
		if !ok {
			return nil, p.c.closedErr()
		}
		if m.Type == TypeError {
			name := strings.TrimRight(string(m.Payload), "\x00")
			return nil, &Error{Op: p.t, Path: p.path, Errno: Errno(name)}
		}
		return m.Payload, nil
	case <-ctx.Done():
		p.c.forget(p.id)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(id uint32) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}
