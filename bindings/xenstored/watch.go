// Watches: WATCH, UNWATCH and RESET_WATCHES, and fire, which turns what a
// request changed into the events each connection's watches see
// (docs/misc/xenstore.txt, "WATCH"). Events go through the connection's out
// queue, which drops one only as cxenstored does (outqueue.go: unread past
// the watch-event timeout, or over the domain's memory quota), counted and
// logged.

package xenstored

import (
	"strconv"
	"strings"

	xs "luxen/bindings/xenstore"
)

type watch struct {
	path  string // as registered (may be relative)
	abs   string
	token string
}

func (s *Server) handleWatch(r request) ([]byte, xs.Errno) {
	c := r.c
	a, ok := args(r.m.Payload, 2)
	if !ok {
		return nil, xs.EINVAL
	}
	p, ok := c.canonical(a[0])
	if !ok {
		return nil, xs.EINVAL
	}
	for _, w := range c.watches {
		if w.path == a[0] && w.token == a[1] {
			return nil, xs.EEXIST
		}
	}
	if !c.privileged() && len(c.watches) >= s.quota.WatchesPerDomain {
		return nil, xs.E2BIG
	}
	// An event carries path and token and must fit one message.
	if len(a[0])+len(a[1])+2 > xs.PayloadMax-xs.AbsPathMax+len(a[0]) || len(a[1]) > xs.PayloadMax-xs.AbsPathMax-2 {
		return nil, xs.E2BIG
	}
	// handle sends the new watch's first event after the reply
	c.watches = append(c.watches, watch{path: a[0], abs: p, token: a[1]})
	return okPayload, ""
}

func (s *Server) handleUnwatch(r request) ([]byte, xs.Errno) {
	c := r.c
	a, ok := args(r.m.Payload, 2)
	if !ok {
		return nil, xs.EINVAL
	}
	for i, w := range c.watches {
		if w.path == a[0] && w.token == a[1] {
			c.watches = append(c.watches[:i:i], c.watches[i+1:]...)
			return okPayload, ""
		}
	}
	return nil, xs.ENOENT
}

// handleResetWatches drops the connection's transactions too (xenstore.txt:
// "all watches and transactions of the caller"): a guest that kexecs starts
// afresh on the same ring.
func (s *Server) handleResetWatches(r request) ([]byte, xs.Errno) {
	r.c.watches = nil
	r.c.txs = map[uint32]*txn{}
	return okPayload, ""
}

// fire queues watch events for changes. Callers hold s.mu.
func (s *Server) fire(changes []change) {
	for _, ch := range changes {
		for c := range s.conns {
			for _, w := range c.watches {
				var path string
				switch {
				case isUnder(ch.path, w.abs) && (ch.path[0] != '@' || w.abs == ch.path):
					path = ch.path
					if w.path[0] != '/' && w.path[0] != '@' {
						path = strings.TrimPrefix(ch.path, "/local/domain/"+strconv.FormatUint(uint64(c.domid), 10)+"/")
					}
				case ch.recurse && isUnder(w.abs, ch.path):
					path = w.path
				default:
					continue
				}
				if ch.path[0] == '@' {
					if !c.privileged() {
						continue
					}
				} else if ch.perms != nil && !s.access(c, &node{perms: ch.perms}, xs.PermRead) {
					continue
				}
				c.out.event(xs.AppendMsg(nil, xs.TypeWatchEvent, 0, 0, xs.JoinStrings(path, w.token)))
			}
		}
	}
}
