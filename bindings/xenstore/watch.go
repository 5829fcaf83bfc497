// Watches: registering and closing them, routing each WATCH_EVENT by its
// token to the Watch that asked, and each Watch's bounded queue of unread
// events, so that a slow reader loses events counted, never silently and
// never by stalling the connection's reader.

package xenstore

import (
	"context"
	"fmt"
	"sync"
)

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
