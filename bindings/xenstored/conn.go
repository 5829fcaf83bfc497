// Connection serving: listening for dom0's clients, serving a guest's
// connection handed over by the simulated host, and the per-connection state
// (its domid, watches, open transactions and out queue). Each connection has
// a reader (ServeConn, which runs requests one at a time) and a writer
// (outQueue.drain), so a slow reader never holds the server lock.
//
// A client may pipeline: send many requests before reading a reply. The
// reader takes them from a buffer (one read for all the requests one write
// brought in; handled in order, as cxenstored handles a connection's
// requests), and the writer sends every reply queued by the time it runs in
// one write.

package xenstored

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"

	xs "luxen/bindings/xenstore"
)

// conn is one client connection; domid 0 is privileged.
type conn struct {
	domid   uint32
	rw      io.ReadWriteCloser
	watches []watch
	txs     map[uint32]*txn
	out     *outQueue
	dropped int // watch events dropped (unread past the timeout, or over the memory quota); under s.mu
}

func (c *conn) privileged() bool { return c.domid == 0 }

// Serve accepts dom0 connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	s.lns = append(s.lns, l)
	s.mu.Unlock()
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("xenstored: accept: %w", err)
		}
		go s.ServeConn(c, 0)
	}
}

// Close stops listening and drops every connection.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	lns := s.lns
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, l := range lns {
		l.Close()
	}
	for _, c := range conns {
		c.rw.Close()
	}
}

// ServeConn serves one connection as domain domid until it closes. The simulated
// host uses it for guests' connections (their ring, in real Xen).
func (s *Server) ServeConn(rw io.ReadWriteCloser, domid uint32) {
	c := &conn{domid: domid, rw: rw, txs: map[uint32]*txn{}}
	s.mu.Lock()
	timeout, memory := s.quota.WatchEventTimeout, s.quota.MemoryPerDomain
	s.mu.Unlock()
	c.out = newOutQueue(!c.privileged(), timeout, memory, func(why string) {
		s.mu.Lock()
		c.dropped++
		n, logf := c.dropped, s.Logf
		s.mu.Unlock()
		if logf != nil {
			logf("xenstored: domain %d: a watch event dropped: %s; %d dropped so far", domid, why, n)
		}
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		rw.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	go c.out.drain(rw)
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.out.close()
		rw.Close()
	}()
	br := bufio.NewReaderSize(rw, xs.HeaderSize+xs.PayloadMax)
	for {
		if !c.privileged() {
			// An unprivileged client that does not take its replies is not read
			// from either: its outstanding requests stay within quota (watch
			// events do not count, as in cxenstored).
			c.out.waitBelow(s.quotaOutstanding())
		}
		m, err := xs.ReadMsg(br)
		if err != nil {
			return // EOF, truncated packet or oversized header: drop the connection
		}
		s.handle(c, m)
	}
}

func (s *Server) reply(c *conn, m xs.Msg, payload []byte) {
	c.out.reply(xs.AppendMsg(make([]byte, 0, xs.HeaderSize+len(payload)), m.Type, m.ReqID, m.TxID, payload))
}

func (s *Server) replyErr(c *conn, m xs.Msg, e xs.Errno) {
	c.out.reply(xs.AppendMsg(nil, xs.TypeError, m.ReqID, m.TxID, xs.JoinStrings(string(e))))
}
