package xenstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	c, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("xenstore: dial %s: %w", path, err)
	}
	return NewClient(c), nil
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

// DialDefault connects where Xen's own C clients would (see SocketPath). The xenbus
// device carries the same framing as the socket, so the same client serves both.
func DialDefault() (*Client, error) {
	p := SocketPath()
	if p == XenbusDevice || strings.HasPrefix(p, "/dev/") {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return nil, fmt.Errorf("xenstore: open %s: %w", p, err)
		}
		return NewClient(f), nil
	}
	return Dial(p)
}

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
	for _, ch := range pending {
		close(ch)
	}
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
	for _, ch := range pending {
		close(ch)
	}
	for _, w := range watches {
		w.q.close(err)
	}
}

func (c *Client) writeLoop(conn io.ReadWriteCloser, stop <-chan struct{}, gen int) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		select {
		case b := <-c.out:
			if _, err := conn.Write(b); err != nil {
				c.lost(gen, fmt.Errorf("xenstore: write: %w", err))
				return
			}
		case <-c.done:
			return
		case <-stop:
			return
		}
	}
}

func (c *Client) readLoop(conn io.ReadWriteCloser, gen int) {
	for {
		m, err := ReadMsg(conn)
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

func (c *Client) dispatchEvent(p []byte) {
	parts := SplitStrings(p)
	if len(parts) < 2 {
		return
	}
	c.mu.Lock()
	w := c.watches[parts[1]]
	c.mu.Unlock()
	if w != nil {
		w.q.push(parts[0])
	}
}

// request sends one message and waits for its reply.
func (c *Client) request(ctx context.Context, t MsgType, tx uint32, path string, payload []byte) ([]byte, error) {
	if len(payload) > PayloadMax {
		return nil, &Error{Op: t, Path: path, Errno: E2BIG}
	}
	id := c.nextID.Add(1)
	ch := make(chan Msg, 1)
	for {
		c.mu.Lock()
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return nil, err
		}
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, c.closedErr()
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
		return nil, c.closedErr()
	case <-ctx.Done():
		c.forget(id)
		return nil, ctx.Err()
	}
	select {
	case m, ok := <-ch:
		if !ok {
			return nil, c.closedErr()
		}
		if m.Type == TypeError {
			name := strings.TrimRight(string(m.Payload), "\x00")
			return nil, &Error{Op: t, Path: path, Errno: Errno(name)}
		}
		return m.Payload, nil
	case <-ctx.Done():
		c.forget(id)
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

// Ops are the requests that can run inside or outside a transaction.
type Ops struct {
	c  *Client
	tx uint32
}

// Root returns the operations outside any transaction.
func (c *Client) Root() Ops { return Ops{c: c} }

// Read returns a node's value.
func (o Ops) Read(ctx context.Context, path string) (string, error) {
	b, err := o.c.request(ctx, TypeRead, o.tx, path, JoinStrings(path))
	return string(b), err
}

// Write sets a node's value, creating it and missing parents.
func (o Ops) Write(ctx context.Context, path, value string) error {
	p := make([]byte, 0, len(path)+1+len(value))
	p = append(append(append(p, path...), 0), value...)
	_, err := o.c.request(ctx, TypeWrite, o.tx, path, p)
	return err
}

// Mkdir creates a node (and parents) with an empty value; an existing node is fine.
func (o Ops) Mkdir(ctx context.Context, path string) error {
	_, err := o.c.request(ctx, TypeMkdir, o.tx, path, JoinStrings(path))
	return err
}

// Rm removes a node and everything below it.
func (o Ops) Rm(ctx context.Context, path string) error {
	_, err := o.c.request(ctx, TypeRm, o.tx, path, JoinStrings(path))
	return err
}

// Directory lists a node's children. A listing too large for one reply (E2BIG) is
// read in parts with DIRECTORY_PART, restarting if the node changes meanwhile.
func (o Ops) Directory(ctx context.Context, path string) ([]string, error) {
	b, err := o.c.request(ctx, TypeDirectory, o.tx, path, JoinStrings(path))
	if ErrnoOf(err) == E2BIG {
		return o.directoryParts(ctx, path)
	}
	if err != nil {
		return nil, err
	}
	return SplitStrings(b), nil
}

func (o Ops) directoryParts(ctx context.Context, path string) ([]string, error) {
	for attempt := 0; attempt < 16; attempt++ {
		var names []string
		gen := ""
		restart := false
		for off := 0; ; {
			b, err := o.c.request(ctx, TypeDirectoryPart, o.tx, path, JoinStrings(path, strconv.Itoa(off)))
			if err != nil {
				return nil, err
			}
			i := strings.IndexByte(string(b), 0)
			if i < 0 {
				return nil, &Error{Op: TypeDirectoryPart, Path: path, Errno: EINVAL}
			}
			if gen == "" {
				gen = string(b[:i])
			} else if string(b[:i]) != gen {
				restart = true
				break
			}
			// NUL-terminated names follow; an empty name ends the listing
			end := false
			for rest := b[i+1:]; len(rest) > 0; {
				j := strings.IndexByte(string(rest), 0)
				if j < 0 {
					return nil, &Error{Op: TypeDirectoryPart, Path: path, Errno: EINVAL}
				}
				if j == 0 {
					end = true
					break
				}
				names = append(names, string(rest[:j]))
				off += j + 1
				rest = rest[j+1:]
			}
			if end {
				break
			}
		}
		if !restart {
			return names, nil
		}
	}
	return nil, &Error{Op: TypeDirectoryPart, Path: path, Errno: EAGAIN}
}

// GetPerms returns a node's permissions, owner first.
func (o Ops) GetPerms(ctx context.Context, path string) ([]Perm, error) {
	b, err := o.c.request(ctx, TypeGetPerms, o.tx, path, JoinStrings(path))
	if err != nil {
		return nil, err
	}
	var perms []Perm
	for _, s := range SplitStrings(b) {
		p, err := ParsePerm(s)
		if err != nil {
			return nil, fmt.Errorf("xenstore: get_perms %s: %w", path, err)
		}
		perms = append(perms, p)
	}
	return perms, nil
}

// SetPerms replaces a node's permissions; the first entry is the owner.
func (o Ops) SetPerms(ctx context.Context, path string, perms []Perm) error {
	parts := []string{path}
	for _, p := range perms {
		parts = append(parts, p.String())
	}
	_, err := o.c.request(ctx, TypeSetPerms, o.tx, path, JoinStrings(parts...))
	return err
}

// Exists reports whether a node exists (ENOENT is not an error here).
func (o Ops) Exists(ctx context.Context, path string) (bool, error) {
	_, err := o.Read(ctx, path)
	if err == nil {
		return true, nil
	}
	if ErrnoOf(err) == ENOENT {
		return false, nil
	}
	return false, err
}

// Tx is an open transaction.
type Tx struct {
	Ops
	ID uint32
}

// Start opens a transaction.
func (c *Client) Start(ctx context.Context) (*Tx, error) {
	b, err := c.request(ctx, TypeTransactionStart, 0, "", JoinStrings(""))
	if err != nil {
		return nil, err
	}
	id, err := strconv.ParseUint(strings.TrimRight(string(b), "\x00"), 10, 32)
	if err != nil {
		return nil, fmt.Errorf("xenstore: transaction_start: bad id %q", b)
	}
	return &Tx{Ops: Ops{c: c, tx: uint32(id)}, ID: uint32(id)}, nil
}

// End commits (commit=true) or aborts the transaction. A commit that conflicts
// with another change returns an error whose Errno is EAGAIN.
func (t *Tx) End(ctx context.Context, commit bool) error { return t.c.EndTx(ctx, t.tx, commit) }

// EndTx commits or aborts transaction id.
func (c *Client) EndTx(ctx context.Context, id uint32, commit bool) error {
	arg := "F"
	if commit {
		arg = "T"
	}
	_, err := c.request(ctx, TypeTransactionEnd, id, "", JoinStrings(arg))
	return err
}

// Transaction runs fn in a transaction and commits, running it again from the
// start whenever the commit answers EAGAIN (up to maxRetries times). An error from
// fn aborts the transaction and is returned.
func (c *Client) Transaction(ctx context.Context, fn func(*Tx) error) error {
	const maxRetries = 64
	for i := 0; ; i++ {
		tx, err := c.Start(ctx)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			_ = tx.End(context.WithoutCancel(ctx), false)
			return err
		}
		err = tx.End(ctx, true)
		if ErrnoOf(err) != EAGAIN || i >= maxRetries {
			return err
		}
	}
}

// Introduce tells xenstored about a new domain's ring page and event channel.
func (c *Client) Introduce(ctx context.Context, domid uint32, gfn uint64, port uint32) error {
	_, err := c.request(ctx, TypeIntroduce, 0, "", JoinStrings(strconv.FormatUint(uint64(domid), 10),
		strconv.FormatUint(gfn, 10), strconv.FormatUint(uint64(port), 10)))
	return err
}

// Release tells xenstored a domain is gone.
func (c *Client) Release(ctx context.Context, domid uint32) error {
	_, err := c.request(ctx, TypeRelease, 0, "", JoinStrings(strconv.FormatUint(uint64(domid), 10)))
	return err
}

// IsIntroduced asks whether xenstored knows the domain.
func (c *Client) IsIntroduced(ctx context.Context, domid uint32) (bool, error) {
	b, err := c.request(ctx, TypeIsDomainIntro, 0, "", JoinStrings(strconv.FormatUint(uint64(domid), 10)))
	if err != nil {
		return false, err
	}
	return strings.TrimRight(string(b), "\x00") == "T", nil
}

// GetDomainPath returns /local/domain/<domid> as xenstored names it.
func (c *Client) GetDomainPath(ctx context.Context, domid uint32) (string, error) {
	b, err := c.request(ctx, TypeGetDomainPath, 0, "", JoinStrings(strconv.FormatUint(uint64(domid), 10)))
	return strings.TrimRight(string(b), "\x00"), err
}

// Watch is a registered watch whose events queue until read.
type Watch struct {
	c     *Client
	Path  string
	Token string
	q     *eventQueue
}

// WatchQueueLimit bounds each watch's queue of unread events; events past it are
// counted and reported by Next, never silently lost.
const WatchQueueLimit = 4096

// Watch registers a watch on path (or a special path such as @releaseDomain).
// As xenstored fires a new watch once at once, the first event is the path itself.
func (c *Client) Watch(ctx context.Context, path string) (*Watch, error) {
	w := &Watch{c: c, Path: path, Token: fmt.Sprintf("luxen:%d", c.tokens.Add(1)), q: newEventQueue(WatchQueueLimit)}
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return nil, c.err
	}
	c.watches[w.Token] = w // before sending: the first event may beat the reply
	c.mu.Unlock()
	if _, err := c.request(ctx, TypeWatch, 0, path, JoinStrings(path, w.Token)); err != nil {
		c.mu.Lock()
		delete(c.watches, w.Token)
		c.mu.Unlock()
		return nil, err
	}
	return w, nil
}

// Next waits for the next event's path. dropped counts events lost to overflow
// since the previous call.
func (w *Watch) Next(ctx context.Context) (path string, dropped int, err error) {
	return w.q.pop(ctx)
}

// Pending reports how many events are queued.
func (w *Watch) Pending() int { return w.q.len() }

// Close unregisters the watch.
func (w *Watch) Close(ctx context.Context) error {
	w.c.mu.Lock()
	_, live := w.c.watches[w.Token]
	delete(w.c.watches, w.Token)
	w.c.mu.Unlock()
	w.q.close(ErrClosed)
	if !live {
		return nil
	}
	_, err := w.c.request(ctx, TypeUnwatch, 0, w.Path, JoinStrings(w.Path, w.Token))
	return err
}

// eventQueue is a bounded FIFO of watch paths with a drop counter.
type eventQueue struct {
	mu      sync.Mutex
	items   []string
	limit   int
	dropped int
	err     error
	signal  chan struct{} // closed and replaced whenever something changes
}

func newEventQueue(limit int) *eventQueue {
	return &eventQueue{limit: limit, signal: make(chan struct{})}
}

func (q *eventQueue) push(p string) {
	q.mu.Lock()
	if len(q.items) >= q.limit {
		q.dropped++
	} else {
		q.items = append(q.items, p)
	}
	close(q.signal)
	q.signal = make(chan struct{})
	q.mu.Unlock()
}

func (q *eventQueue) close(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
		close(q.signal)
		q.signal = make(chan struct{})
	}
	q.mu.Unlock()
}

func (q *eventQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

func (q *eventQueue) pop(ctx context.Context) (string, int, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 || q.dropped > 0 {
			var p string
			if len(q.items) > 0 {
				p = q.items[0]
				q.items[0] = ""
				q.items = q.items[1:]
			}
			d := q.dropped
			q.dropped = 0
			q.mu.Unlock()
			return p, d, nil
		}
		if q.err != nil {
			err := q.err
			q.mu.Unlock()
			return "", 0, err
		}
		sig := q.signal
		q.mu.Unlock()
		select {
		case <-sig:
		case <-ctx.Done():
			return "", 0, ctx.Err()
		}
	}
}

// TxOps returns the operations of an open transaction known only by its id (the
// Lua binding keeps ids, not *Tx).
func (c *Client) TxOps(id uint32) Ops { return Ops{c: c, tx: id} }

// ResetWatches drops every watch (and transaction) of this connection on the
// server, as a kexec'd guest does; local Watch objects are closed too.
func (c *Client) ResetWatches(ctx context.Context) error {
	if _, err := c.request(ctx, TypeResetWatches, 0, "", JoinStrings("")); err != nil {
		return err
	}
	c.mu.Lock()
	ws := c.watches
	c.watches = map[string]*Watch{}
	c.mu.Unlock()
	for _, w := range ws {
		w.q.close(ErrClosed)
	}
	return nil
}

// SetTarget lets domid act with target's privileges (device-model stubdomains).
func (c *Client) SetTarget(ctx context.Context, domid, target uint32) error {
	_, err := c.request(ctx, TypeSetTarget, 0, "", JoinStrings(strconv.FormatUint(uint64(domid), 10),
		strconv.FormatUint(uint64(target), 10)))
	return err
}

// Resume clears a domain's shutdown flag in xenstored after a suspend was cancelled.
func (c *Client) Resume(ctx context.Context, domid uint32) error {
	_, err := c.request(ctx, TypeResume, 0, "", JoinStrings(strconv.FormatUint(uint64(domid), 10)))
	return err
}

// Control sends an XS_CONTROL command ("log", "print", "quota", ...) and
// returns the daemon's answer.
func (c *Client) Control(ctx context.Context, args ...string) (string, error) {
	b, err := c.request(ctx, TypeControl, 0, "", JoinStrings(args...))
	return strings.TrimRight(string(b), "\x00"), err
}

// DialDefaultRedialing is DialDefault with a client that survives xenstored
// restarting (NewRedialing): each redial looks where DialDefault looks.
func DialDefaultRedialing() (*Client, error) {
	return NewRedialing(func() (io.ReadWriteCloser, error) {
		p := SocketPath()
		if strings.HasPrefix(p, "/dev/") {
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				return nil, fmt.Errorf("xenstore: open %s: %w", p, err)
			}
			return f, nil
		}
		c, err := net.Dial("unix", p)
		if err != nil {
			return nil, fmt.Errorf("xenstore: dial %s: %w", p, err)
		}
		return c, nil
	})
}
