// The out queue: each connection's replies and watch events wait here for
// the connection's writer goroutine. Requests are handled under the server
// lock, so writing to a client from there would let one guest that stops
// reading stall every other client; the queue's length is also what the
// Outstanding quota counts.

package xenstored

import (
	"io"
	"sync"
)

// outQueue buffers a connection's outgoing messages so that queuing an event
// never blocks the server on a slow reader.
type outQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond // signalled when items are written
	items   [][]byte
	writing int // taken by the writer, not yet written
	closed  bool
	signal  chan struct{}
}

func newOutQueue() *outQueue {
	q := &outQueue{signal: make(chan struct{}, 1)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *outQueue) push(b []byte) {
	q.mu.Lock()
	if !q.closed {
		q.items = append(q.items, b)
	}
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *outQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) + q.writing
}

// waitBelow blocks until fewer than n items are queued or being written.
func (q *outQueue) waitBelow(n int) {
	q.mu.Lock()
	for len(q.items)+q.writing >= n && !q.closed {
		q.cond.Wait()
	}
	q.mu.Unlock()
}

func (q *outQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

func (q *outQueue) drain(w io.Writer) {
	defer func() {
		q.mu.Lock()
		q.closed = true
		q.writing = 0
		q.cond.Broadcast()
		q.mu.Unlock()
	}()
	for range q.signal {
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.writing = len(items)
		closed := q.closed
		q.mu.Unlock()
		for _, b := range items {
			_, err := w.Write(b)
			q.mu.Lock()
			q.writing--
			q.cond.Broadcast()
			q.mu.Unlock()
			if err != nil {
				return
			}
		}
		if closed {
			return
		}
	}
}
