// Dispatch: how one request becomes one reply. handle runs it under the
// server lock and queues the reply and the watch events it caused; dispatch
// finds its handler in one table keyed by message type (enum
// xsd_sockmsg_type, xen/include/public/io/xs_wire.h) and gives it the view
// its node operations run against.
// The handlers live with what they serve: nodes.go, watch.go, txn.go,
// domains.go and quota.go (XS_CONTROL).

package xenstored

import (
	"bytes"
	"strconv"
	"strings"

	xs "luxen/bindings/xenstore"
)

// request is one message being served: who sent it and the view its node
// operations run against (the committed tree, or its transaction's overlay).
// Handlers take it by value: a pointer passed through the table's indirect
// call would escape and be allocated on every request. The helpers they call
// take a pointer, which stays on the handler's stack.
type request struct {
	c       *conn
	m       xs.Msg
	v       view
	tx      *txn      // the transaction the header names, for types marked inTx
	changes *[]change // what the request changed, for watches
}

type handler func(s *Server, r request) ([]byte, xs.Errno)

// handlers maps each message type the daemon serves to its handler. inTx marks
// the types that run inside the transaction their tx_id names; the others
// ignore tx_id. Types without an entry (WATCH_EVENT, ERROR and unknown ones)
// get ENOSYS.
var handlers = [...]struct {
	fn   handler
	inTx bool
}{
	xs.TypeRead:             {(*Server).handleRead, true},
	xs.TypeDirectory:        {(*Server).handleDirectory, true},
	xs.TypeDirectoryPart:    {(*Server).handleDirectoryPart, true},
	xs.TypeGetPerms:         {(*Server).handleGetPerms, true},
	xs.TypeWrite:            {(*Server).handleWrite, true},
	xs.TypeMkdir:            {(*Server).handleMkdir, true},
	xs.TypeRm:               {(*Server).handleRm, true},
	xs.TypeSetPerms:         {(*Server).handleSetPerms, true},
	xs.TypeWatch:            {(*Server).handleWatch, false},
	xs.TypeUnwatch:          {(*Server).handleUnwatch, false},
	xs.TypeResetWatches:     {(*Server).handleResetWatches, false},
	xs.TypeTransactionStart: {(*Server).handleTransactionStart, false},
	xs.TypeTransactionEnd:   {(*Server).handleTransactionEnd, true},
	xs.TypeGetDomainPath:    {(*Server).handleGetDomainPath, false},
	xs.TypeIsDomainIntro:    {(*Server).handleIsDomainIntro, false},
	xs.TypeIntroduce:        {(*Server).handleIntroduce, false},
	xs.TypeRelease:          {(*Server).handleRelease, false},
	xs.TypeResume:           {(*Server).handleResume, false},
	xs.TypeSetTarget:        {(*Server).handleSetTarget, false},
	xs.TypeControl:          {(*Server).handleControl, false},
}

var okPayload = xs.JoinStrings("OK")

func (s *Server) handle(c *conn, m xs.Msg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// a bug must not take the daemon down: that request fails with EIO and
	// every other client is served as before
	defer func() {
		if r := recover(); r != nil {
			s.Logf("xenstored: internal error on %s from domain %d: %v", m.Type, c.domid, r)
			s.replyErr(c, m, xs.EIO)
		}
	}()
	var changes []change
	payload, errno := s.dispatch(c, m, &changes)
	if errno != "" {
		s.replyErr(c, m, errno)
	} else {
		s.reply(c, m, payload)
	}
	s.fire(changes)
	if m.Type == xs.TypeWatch && errno == "" {
		// a new watch fires once at once, after its reply
		w := c.watches[len(c.watches)-1]
		c.out.event(xs.AppendMsg(nil, xs.TypeWatchEvent, 0, 0, xs.JoinStrings(w.path, w.token)))
	}
}

func (s *Server) dispatch(c *conn, m xs.Msg, changes *[]change) ([]byte, xs.Errno) {
	if int(m.Type) >= len(handlers) || handlers[m.Type].fn == nil {
		return nil, xs.ENOSYS
	}
	h := &handlers[m.Type]
	r := request{c: c, m: m, changes: changes}
	if m.TxID != 0 && h.inTx {
		r.tx = c.txs[m.TxID]
		if r.tx == nil {
			return nil, xs.ENOENT
		}
	}
	r.v = committed{st: s.st, changes: changes}
	if r.tx != nil {
		if !c.privileged() && len(r.tx.reads)+len(r.tx.over) >= s.quota.TxNodes {
			s.Logf("xenstored: domain %d: transaction %d touches more than %d nodes", c.domid, r.tx.id, s.quota.TxNodes)
			return nil, xs.ENOSPC
		}
		r.v = overlay{st: s.st, tx: r.tx}
	}
	return h.fn(s, r)
}

// mutate runs a node mutation against the request's view. Inside a
// transaction it is also kept, to be replayed on the committed tree at commit.
func (r *request) mutate(op func(v view) error) ([]byte, xs.Errno) {
	if err := op(r.v); err != nil {
		return nil, err.(xs.Errno)
	}
	if r.tx != nil {
		r.tx.ops = append(r.tx.ops, op)
	}
	return okPayload, ""
}

// canonical checks xenstore.txt's path syntax and returns the absolute path.
func (c *conn) canonical(p string) (string, bool) {
	if p == "" {
		return "", false
	}
	if p[0] == '@' {
		return p, p == "@introduceDomain" || p == "@releaseDomain"
	}
	rel := p[0] != '/'
	if rel {
		if len(p) > xs.RelPathMax {
			return "", false
		}
		p = "/local/domain/" + strconv.FormatUint(uint64(c.domid), 10) + "/" + p
	}
	if len(p) > xs.AbsPathMax {
		return "", false
	}
	if p != "/" && (strings.HasSuffix(p, "/") || strings.Contains(p, "//")) {
		return "", false
	}
	for i := 0; i < len(p); i++ {
		ch := p[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '/' || ch == '-' || ch == '_' || ch == '@') {
			return "", false
		}
	}
	return p, true
}

// args splits a payload that must be NUL-terminated strings.
func args(p []byte, n int) ([]string, bool) {
	if len(p) == 0 || p[len(p)-1] != 0 {
		return nil, false
	}
	parts := strings.Split(string(p[:len(p)-1]), "\x00")
	if n >= 0 && len(parts) != n {
		return nil, false
	}
	return parts, true
}

// oneArg is args(p, 1) without the slice that holds the one string: most
// requests (READ above all) carry a single argument, and this is their path.
func oneArg(p []byte) (string, bool) {
	if len(p) == 0 || p[len(p)-1] != 0 || bytes.IndexByte(p[:len(p)-1], 0) >= 0 {
		return "", false
	}
	return string(p[:len(p)-1]), true
}
