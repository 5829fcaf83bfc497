// The out queue: each connection's replies and watch events wait here for
// the connection's writer goroutine. Requests are handled under the server
// lock, so writing to a client from there would let one guest that stops
// reading stall every other client.
//
// It keeps cxenstored 4.17's accounting (tools/xenstore/xenstored_core.c,
// xenstored_domain.c): the Outstanding quota counts replies not yet taken
// by the client, and a client at that count is not read from until it takes
// some (domain_can_read); watch events do not count. An event is dropped
// only when it has waited longer than the watch-event timeout (20 s,
// timeout_watch_event_msec) because the client is not reading, or when a
// client's queued events pass the domain's memory quota (2.5 MiB,
// quota_memory_per_domain_hard). A client that reads, however slowly, loses
// nothing.

package xenstored

import (
	"io"
	"sync"
	"time"
)

// item is one queued message; at is when an event was queued (zero for a reply).
type item struct {
	b  []byte
	at time.Time
}

// outQueue buffers a connection's outgoing messages so that queuing an event
// never blocks the server on a slow reader.
type outQueue struct {
	mu          sync.Mutex
	cond        *sync.Cond // signalled when items are written
	items       []item
	replies     int // replies queued or being written
	eventBytes  int // bytes of the events queued
	closed      bool
	signal      chan struct{}
	timeout     time.Duration // an event older than this is dropped
	maxEvents   int           // event bytes a client may have queued
	dropped     func(why string)
	unprivilege bool // the limits apply (not dom0)
}

func newOutQueue(limited bool, timeout time.Duration, maxEventBytes int, dropped func(why string)) *outQueue {
	q := &outQueue{signal: make(chan struct{}, 1), timeout: timeout, maxEvents: maxEventBytes,
		dropped: dropped, unprivilege: limited}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *outQueue) wake() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// reply queues a reply: it counts against the Outstanding quota until written.
// The writer is woken at once (holding replies back until the reader had
// handled every request it had buffered stalled simulated guests now and
// then); it takes everything queued by the time it runs, so replies to a
// pipelining client still go out together.
func (q *outQueue) reply(b []byte) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, item{b: b})
		q.replies++
	}
	q.mu.Unlock()
	q.wake()
}

// event queues a watch event, unless the client's queued events are over
// its memory quota.
func (q *outQueue) event(b []byte) {
	q.mu.Lock()
	over := q.unprivilege && q.eventBytes+len(b) > q.maxEvents
	if !q.closed && !over {
		q.items = append(q.items, item{b: b, at: time.Now()})
		q.eventBytes += len(b)
	}
	q.mu.Unlock()
	if over && q.dropped != nil {
		q.dropped("its queued events are over the domain's memory quota")
	}
	q.wake()
}

// waitBelow blocks until fewer than n replies are queued or being written.
func (q *outQueue) waitBelow(n int) {
	q.mu.Lock()
	for q.replies >= n && !q.closed {
		q.cond.Wait()
	}
	q.mu.Unlock()
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	q.wake()
}

func (q *outQueue) drain(w io.Writer) {
	defer func() {
		q.mu.Lock()
		q.closed = true
		q.replies = 0
		q.cond.Broadcast()
		q.mu.Unlock()
	}()
	// everything queued goes out in one write: a pipelining client's
	// replies cost it one read, not one each
	var buf []byte
	for range q.signal {
		q.mu.Lock()
		items := q.items
		q.items = nil
		closed := q.closed
		q.mu.Unlock()
		buf = buf[:0]
		var eventBytes, replies int
		for _, it := range items {
			if it.at.IsZero() {
				replies++
			} else {
				eventBytes += len(it.b)
				if q.unprivilege && time.Since(it.at) > q.timeout {
					if q.dropped != nil {
						q.dropped("it waited over the watch-event timeout, unread")
					}
					continue
				}
			}
			buf = append(buf, it.b...)
		}
		var err error
		if len(buf) > 0 {
			_, err = w.Write(buf)
		}
		if cap(buf) > 1<<20 {
			buf = nil // a burst of events need not stay allocated
		}
		if len(items) > 0 {
			q.mu.Lock()
			q.eventBytes -= eventBytes
			q.replies -= replies
			q.cond.Broadcast()
			q.mu.Unlock()
		}
		if err != nil || closed {
			return
		}
	}
}
