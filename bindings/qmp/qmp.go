// Package qmp is a client for QEMU's machine protocol (docs/interop/qmp-spec
// in QEMU): the greeting, qmp_capabilities, commands tagged with an id so many
// can be in flight and each reply finds its caller, asynchronous events
// delivered to subscribers, per-command timeouts, and one clean error for every
// pending caller when QEMU goes away. It does not import Lua.
package qmp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrClosed is what pending and later commands get once the connection is gone.
var ErrClosed = errors.New("qmp: connection closed (QEMU went away?)")

// Error is an error QEMU answered with.
type Error struct {
	Command string
	Class   string
	Desc    string
}

func (e *Error) Error() string { return fmt.Sprintf("qmp: %s: %s: %s", e.Command, e.Class, e.Desc) }

// Event is an asynchronous QMP event.
type Event struct {
	Name      string          `json:"event"`
	Data      json.RawMessage `json:"data,omitempty"`
	Timestamp struct {
		Seconds      int64 `json:"seconds"`
		Microseconds int64 `json:"microseconds"`
	} `json:"timestamp"`
}

// Greeting is what QEMU says first.
type Greeting struct {
	QMP struct {
		Version struct {
			QEMU    struct{ Major, Minor, Micro int } `json:"qemu"`
			Package string                            `json:"package"`
		} `json:"version"`
		Capabilities []string `json:"capabilities"`
	} `json:"QMP"`
}

// message is any message QEMU sends.
type message struct {
	QMP    json.RawMessage `json:"QMP,omitempty"`
	Return json.RawMessage `json:"return,omitempty"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error,omitempty"`
	ID    json.RawMessage `json:"id,omitempty"`
	Event string          `json:"event,omitempty"`
	Data  json.RawMessage `json:"data,omitempty"`
	Time  json.RawMessage `json:"timestamp,omitempty"`
}

type reply struct {
	ret json.RawMessage
	err error
}

// Monitor is one QMP connection.
type Monitor struct {
	conn     io.ReadWriteCloser
	Greeting Greeting

	wmu    sync.Mutex // serialises writes of whole commands
	nextID atomic.Uint64

	mu      sync.Mutex
	pending map[string]pendingCmd
	subs    map[*Subscription]struct{}
	err     error
	done    chan struct{}
	unknown int // replies with an id nobody waits for
}

type pendingCmd struct {
	name string
	ch   chan reply
}

// Dial connects to a QMP unix socket and negotiates capabilities. ctx bounds
// the greeting and negotiation: a QEMU that never greets is an error.
func Dial(ctx context.Context, path string) (*Monitor, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("qmp: dial %s: %w", path, err)
	}
	m, err := New(ctx, c)
	if err != nil {
		c.Close()
		return nil, err
	}
	return m, nil
}

// New runs the protocol over an established connection; ctx bounds the
// greeting and the capabilities negotiation.
func New(ctx context.Context, c io.ReadWriteCloser) (*Monitor, error) {
	m := &Monitor{conn: c, pending: map[string]pendingCmd{}, subs: map[*Subscription]struct{}{}, done: make(chan struct{})}
	greeted := make(chan error, 1)
	go m.readLoop(greeted)
	select {
	case err := <-greeted:
		if err != nil {
			m.Close()
			return nil, err
		}
	case <-ctx.Done():
		m.Close()
		return nil, fmt.Errorf("qmp: no greeting from QEMU: %w", ctx.Err())
	}
	if _, err := m.Execute(ctx, "qmp_capabilities", nil); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

// Close drops the connection; pending commands fail with ErrClosed.
func (m *Monitor) Close() error {
	m.fail(ErrClosed)
	return nil
}

// Done is closed when the connection is gone.
func (m *Monitor) Done() <-chan struct{} { return m.done }

// Unknown counts replies that carried an id nobody was waiting for.
func (m *Monitor) Unknown() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unknown
}

func (m *Monitor) fail(err error) {
	m.mu.Lock()
	if m.err != nil {
		m.mu.Unlock()
		return
	}
	m.err = err
	pending := m.pending
	m.pending = map[string]pendingCmd{}
	subs := m.subs
	m.subs = map[*Subscription]struct{}{}
	close(m.done)
	m.mu.Unlock()
	m.conn.Close()
	for _, p := range pending {
		p.ch <- reply{err: err}
	}
	for s := range subs {
		s.close(err)
	}
}

// maxMessage bounds one JSON message from QEMU (query-qmp-schema is the
// largest in practice, well under this).
const maxMessage = 16 << 20

func (m *Monitor) readLoop(greeted chan<- error) {
	r := bufio.NewReaderSize(m.conn, 64<<10)
	first := true
	for {
		line, err := readLine(r)
		if err != nil {
			if first {
				greeted <- fmt.Errorf("qmp: reading the greeting: %w", err)
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				err = ErrClosed
			} else {
				err = fmt.Errorf("%w: %v", ErrClosed, err) // reset, broken pipe: QEMU is gone
			}
			m.fail(err)
			return
		}
		if len(line) == 0 {
			continue
		}
		var msg message
		if err := json.Unmarshal(line, &msg); err != nil {
			err = fmt.Errorf("qmp: garbage from QEMU (%v): %.80q", err, line)
			if first {
				greeted <- err
			}
			m.fail(err)
			return
		}
		if first {
			first = false
			if msg.QMP == nil {
				err := fmt.Errorf("qmp: QEMU did not greet: %.80q", line)
				greeted <- err
				m.fail(err)
				return
			}
			json.Unmarshal(line, &m.Greeting)
			greeted <- nil
			continue
		}
		switch {
		case msg.Event != "":
			ev := Event{Name: msg.Event, Data: msg.Data}
			json.Unmarshal(msg.Time, &ev.Timestamp)
			m.mu.Lock()
			for s := range m.subs {
				s.push(ev)
			}
			m.mu.Unlock()
		case msg.Return != nil || msg.Error != nil:
			id := string(msg.ID)
			m.mu.Lock()
			p, ok := m.pending[id]
			delete(m.pending, id)
			if !ok {
				m.unknown++
			}
			m.mu.Unlock()
			if !ok {
				continue // a reply for a caller that gave up, or an id we never sent
			}
			if msg.Error != nil {
				p.ch <- reply{err: &Error{Command: p.name, Class: msg.Error.Class, Desc: msg.Error.Desc}}
			} else {
				p.ch <- reply{ret: msg.Return}
			}
		}
	}
}

// readLine reads one newline-terminated message, refusing oversized ones.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		buf = append(buf, chunk...)
		if len(buf) > maxMessage {
			return nil, fmt.Errorf("qmp: message over %d bytes", maxMessage)
		}
		if !isPrefix {
			return buf, nil
		}
	}
}

// Execute runs one command and returns its "return" value. ctx bounds it:
// a command QEMU does not answer in time gives ctx's error (its late reply is
// dropped when it comes).
func (m *Monitor) Execute(ctx context.Context, cmd string, args any) (json.RawMessage, error) {
	return m.execute(ctx, cmd, args, nil)
}

// ExecuteWithFile runs a command with f's descriptor attached to it as
// SCM_RIGHTS ancillary data, as QEMU's getfd and add-fd take them: the
// toolstack opens a file a deprivileged QEMU could not open itself (libxl's
// cd-insert does this with add-fd). The connection must be a unix socket.
func (m *Monitor) ExecuteWithFile(ctx context.Context, cmd string, args any, f *os.File) (json.RawMessage, error) {
	if _, ok := m.conn.(*net.UnixConn); !ok {
		return nil, fmt.Errorf("qmp: %s: passing a descriptor needs a unix socket connection", cmd)
	}
	return m.execute(ctx, cmd, args, f)
}

func (m *Monitor) execute(ctx context.Context, cmd string, args any, f *os.File) (json.RawMessage, error) {
	id := strconv.FormatUint(m.nextID.Add(1), 10)
	req := map[string]any{"execute": cmd, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("qmp: %s: arguments: %w", cmd, err)
	}
	key, _ := json.Marshal(id)
	ch := make(chan reply, 1)
	m.mu.Lock()
	if m.err != nil {
		err := m.err
		m.mu.Unlock()
		return nil, err
	}
	m.pending[string(key)] = pendingCmd{name: cmd, ch: ch}
	m.mu.Unlock()
	m.wmu.Lock()
	var werr error
	if f != nil {
		// the descriptor rides on the command's first byte: QEMU reads it
		// with the command and keeps it for the command to use
		_, _, werr = m.conn.(*net.UnixConn).WriteMsgUnix(append(b, '\n'), syscall.UnixRights(int(f.Fd())), nil)
	} else {
		_, werr = m.conn.Write(append(b, '\n'))
	}
	m.wmu.Unlock()
	if werr != nil {
		m.fail(ErrClosed)
	}
	select {
	case r := <-ch:
		return r.ret, r.err
	case <-ctx.Done():
		m.mu.Lock()
		delete(m.pending, string(key))
		m.mu.Unlock()
		return nil, fmt.Errorf("qmp: %s: %w", cmd, ctx.Err())
	}
}

// Subscription receives events whose name is in its filter (all when empty).
type Subscription struct {
	m      *Monitor
	filter map[string]bool
	mu     sync.Mutex
	queue  []Event
	drops  int
	err    error
	signal chan struct{}
}

// EventQueueLimit bounds a subscription's unread events; more are counted.
const EventQueueLimit = 1024

// Events subscribes to events by name.
func (m *Monitor) Events(names ...string) *Subscription {
	s := &Subscription{m: m, filter: map[string]bool{}, signal: make(chan struct{}, 1)}
	for _, n := range names {
		s.filter[n] = true
	}
	m.mu.Lock()
	if m.err != nil {
		s.err = m.err
	} else {
		m.subs[s] = struct{}{}
	}
	m.mu.Unlock()
	return s
}

func (s *Subscription) push(ev Event) {
	if len(s.filter) > 0 && !s.filter[ev.Name] {
		return
	}
	s.mu.Lock()
	if len(s.queue) >= EventQueueLimit {
		s.drops++
	} else {
		s.queue = append(s.queue, ev)
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *Subscription) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Next waits for the next event; dropped counts events lost to overflow.
func (s *Subscription) Next(ctx context.Context) (ev Event, dropped int, err error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 || s.drops > 0 {
			d := s.drops
			s.drops = 0
			if len(s.queue) > 0 {
				ev = s.queue[0]
				s.queue = s.queue[1:]
			}
			s.mu.Unlock()
			return ev, d, nil
		}
		if s.err != nil {
			e := s.err
			s.mu.Unlock()
			return Event{}, 0, e
		}
		s.mu.Unlock()
		select {
		case <-s.signal:
		case <-ctx.Done():
			return Event{}, 0, ctx.Err()
		}
	}
}

// Stop ends the subscription.
func (s *Subscription) Stop() {
	s.m.mu.Lock()
	delete(s.m.subs, s)
	s.m.mu.Unlock()
	s.close(errors.New("qmp: subscription stopped"))
}

// WaitGreeting is a helper for starting QEMU: it dials path until QEMU
// listens (bounded by ctx), the readiness check that replaces a sleep.
func WaitGreeting(ctx context.Context, path string) (*Monitor, error) {
	for {
		m, err := Dial(ctx, path)
		if err == nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("qmp: QEMU not ready at %s: %w (last: %v)", path, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
