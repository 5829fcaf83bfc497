package xenstored

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"

	xs "luxen/bindings/xenstore"
)

// Quota holds cxenstored's per-domain limits. They bind unprivileged domains
// only, as in cxenstored; dom0 is exempt.
type Quota struct {
	NodesPerDomain      int // entries a domain may own; default 1000
	WatchesPerDomain    int // default 128
	NodeSize            int // bytes of value plus permissions; default 2048
	TransactionsPerConn int // open at once; default 10
	PermsPerNode        int // default 5
	TxNodes             int // nodes one transaction may touch; default 1024
	Outstanding         int // replies and events queued to one connection; default 20
}

// DefaultQuota is cxenstored 4.17's defaults.
var DefaultQuota = Quota{NodesPerDomain: 1000, WatchesPerDomain: 128, NodeSize: 2048,
	TransactionsPerConn: 10, PermsPerNode: 5, TxNodes: 1024, Outstanding: 20}

// Fields maps the names XS_CONTROL "quota" and `luxen sim serve --quota` use
// to the limits.
func (q *Quota) Fields() map[string]*int {
	return map[string]*int{"nodes": &q.NodesPerDomain, "watches": &q.WatchesPerDomain,
		"node-size": &q.NodeSize, "transactions": &q.TransactionsPerConn, "permissions": &q.PermsPerNode,
		"transaction-nodes": &q.TxNodes, "outstanding": &q.Outstanding}
}

// Server is an embedded xenstored.
type Server struct {
	mu      sync.Mutex
	st      *store
	conns   map[*conn]struct{}
	domains map[uint32]domainInfo // introduced domains
	targets map[uint32]uint32     // SET_TARGET: domid -> the domain it may act for
	quota   Quota
	nextTx  uint32
	closed  bool
	lns     []net.Listener
	// Logf receives the daemon's own reports (quota hits, dropped events).
	Logf func(format string, a ...any)
	// DomainExists asks the hypervisor whether a domain exists (set by the
	// simulated host). Without it, dom0 and introduced domains exist.
	DomainExists func(domid uint32) bool
	// KeepOrphans keeps the nodes a dead domain owned (cxenstored -K); by
	// default they are deleted when the domain goes.
	KeepOrphans bool
	// WholeStoreConflicts makes any commit conflict with every transaction open
	// at the time, as oxenstored did before its fix. Only benchmarks set it,
	// to measure per-node conflict detection against it in the same run.
	WholeStoreConflicts bool
	commits             uint64 // successful commits, for WholeStoreConflicts
}

func (s *Server) domainExists(d uint32) bool {
	if d == 0 {
		return true
	}
	if s.DomainExists != nil {
		return s.DomainExists(d)
	}
	_, ok := s.domains[d]
	return ok
}

// domainGone forgets what a dead domain had: the nodes it owned (unless
// KeepOrphans, then they pass to dom0) and its entries in other nodes'
// permissions, so a new domain that reuses the domid inherits nothing.
// Callers hold s.mu.
func (s *Server) domainGone(domid uint32, changes *[]change) {
	if domid == 0 {
		return
	}
	if !s.KeepOrphans {
		var owned []string
		for p, n := range s.st.nodes {
			if n.perms[0].Domid == domid {
				owned = append(owned, p)
			}
		}
		sort.Strings(owned) // parents first: removing them takes the children too
		v := committed{st: s.st, changes: changes}
		dom0 := &conn{domid: 0}
		for _, p := range owned {
			if s.st.nodes[p] != nil {
				_ = s.rm(v, dom0, p)
			}
		}
	}
	s.st.forgetPerms(domid)
}

type domainInfo struct {
	gfn  uint64
	port uint32
}

// New returns a server holding the tree xen-init-dom0 leaves behind.
func New(q Quota) *Server {
	s := &Server{st: newStore(), conns: map[*conn]struct{}{}, domains: map[uint32]domainInfo{},
		targets: map[uint32]uint32{}, quota: q, Logf: func(string, ...any) {}}
	dom0 := &conn{domid: 0}
	var ch []change
	v := committed{st: s.st, changes: &ch}
	for _, kv := range [][2]string{{"/tool/xenstored", ""}, {"/local/domain/0/domid", "0"},
		{"/local/domain/0/name", "Domain-0"}} {
		_ = s.write(v, dom0, kv[0], []byte(kv[1]))
	}
	s.domains[0] = domainInfo{}
	return s
}

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

type watch struct {
	path  string // as registered (may be relative)
	abs   string
	token string
}

type txn struct {
	id      uint32
	start   uint64            // s.commits when it began
	reads   map[string]uint64 // path -> generation seen (0: absent)
	over    map[string]*overlayEntry
	ops     []func(v quotaView) error
	created map[uint32]int
}

// conn is one client connection; domid 0 is privileged.
type conn struct {
	domid   uint32
	rw      io.ReadWriteCloser
	watches []watch
	txs     map[uint32]*txn
	out     *outQueue
	dropped int // watch events dropped over quota
}

func (c *conn) privileged() bool { return c.domid == 0 }

// ServeConn serves one connection as domain domid until it closes. The simulated
// host uses it for guests' connections (their ring, in real Xen).
func (s *Server) ServeConn(rw io.ReadWriteCloser, domid uint32) {
	c := &conn{domid: domid, rw: rw, txs: map[uint32]*txn{}, out: newOutQueue()}
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
	for {
		if !c.privileged() {
			// An unprivileged client that does not read its replies is not read
			// from either: its outstanding requests stay within quota.
			c.out.waitBelow(s.quotaOutstanding())
		}
		m, err := xs.ReadMsg(rw)
		if err != nil {
			return // EOF, truncated packet or oversized header: drop the connection
		}
		s.handle(c, m)
	}
}

func (s *Server) quotaOutstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota.Outstanding
}

func (s *Server) reply(c *conn, m xs.Msg, payload []byte) {
	c.out.push(xs.AppendMsg(nil, m.Type, m.ReqID, m.TxID, payload))
}

func (s *Server) replyErr(c *conn, m xs.Msg, e xs.Errno) {
	c.out.push(xs.AppendMsg(nil, xs.TypeError, m.ReqID, m.TxID, xs.JoinStrings(string(e))))
}

var okPayload = xs.JoinStrings("OK")

// validPath checks xenstore.txt's path syntax and returns the absolute path.
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
		c.out.push(xs.AppendMsg(nil, xs.TypeWatchEvent, 0, 0, xs.JoinStrings(w.path, w.token)))
	}
}

func (s *Server) dispatch(c *conn, m xs.Msg, changes *[]change) ([]byte, xs.Errno) {
	var tx *txn
	if m.TxID != 0 {
		switch m.Type {
		case xs.TypeRead, xs.TypeWrite, xs.TypeMkdir, xs.TypeRm, xs.TypeDirectory,
			xs.TypeDirectoryPart, xs.TypeGetPerms, xs.TypeSetPerms, xs.TypeTransactionEnd:
			tx = c.txs[m.TxID]
			if tx == nil {
				return nil, xs.ENOENT
			}
		}
	}
	var v quotaView = committed{st: s.st, changes: changes}
	if tx != nil {
		if !c.privileged() && len(tx.reads)+len(tx.over) >= s.quota.TxNodes {
			s.Logf("xenstored: domain %d: transaction %d touches more than %d nodes", c.domid, tx.id, s.quota.TxNodes)
			return nil, xs.ENOSPC
		}
		v = overlay{st: s.st, tx: tx}
	}
	// mutating ops inside a transaction are replayed at commit
	mutate := func(op func(v quotaView) error) ([]byte, xs.Errno) {
		if err := op(v); err != nil {
			return nil, err.(xs.Errno)
		}
		if tx != nil {
			tx.ops = append(tx.ops, op)
		}
		return okPayload, ""
	}
	switch m.Type {
	case xs.TypeRead, xs.TypeDirectory, xs.TypeGetPerms, xs.TypeMkdir, xs.TypeRm:
		a, ok := args(m.Payload, 1)
		if !ok {
			return nil, xs.EINVAL
		}
		p, ok := c.canonical(a[0])
		if !ok || p[0] == '@' {
			return nil, xs.EINVAL
		}
		switch m.Type {
		case xs.TypeMkdir:
			return mutate(func(v quotaView) error { return s.mkdir(v, c, p) })
		case xs.TypeRm:
			return mutate(func(v quotaView) error { return s.rm(v, c, p) })
		}
		n := v.get(p)
		if n == nil {
			return nil, xs.ENOENT
		}
		if !s.access(c, n, xs.PermRead) {
			return nil, xs.EACCES
		}
		switch m.Type {
		case xs.TypeRead:
			return append([]byte(nil), n.value...), ""
		case xs.TypeDirectory:
			b := xs.JoinStrings(n.children...)
			if len(b) > xs.PayloadMax {
				return nil, xs.E2BIG
			}
			return b, ""
		default:
			ps := make([]string, len(n.perms))
			for i, pm := range n.perms {
				ps[i] = pm.String()
			}
			return xs.JoinStrings(ps...), ""
		}
	case xs.TypeDirectoryPart:
		a, ok := args(m.Payload, 2)
		if !ok {
			return nil, xs.EINVAL
		}
		p, ok := c.canonical(a[0])
		off, err := strconv.Atoi(a[1])
		if !ok || err != nil || off < 0 {
			return nil, xs.EINVAL
		}
		n := v.get(p)
		if n == nil {
			return nil, xs.ENOENT
		}
		if !s.access(c, n, xs.PermRead) {
			return nil, xs.EACCES
		}
		all := xs.JoinStrings(n.children...)
		if off > len(all) {
			return nil, xs.EINVAL
		}
		gen := strconv.FormatUint(n.gen, 10)
		room := xs.PayloadMax - len(gen) - 1
		rest := all[off:]
		out := append([]byte(gen), 0)
		if len(rest)+1 <= room {
			return append(append(out, rest...), 0), "" // the empty name ends the list
		}
		cut := 0
		for i := 0; i < len(rest) && i < room; i++ {
			if rest[i] == 0 {
				cut = i + 1
			}
		}
		return append(out, rest[:cut]...), ""
	case xs.TypeWrite:
		i := strings.IndexByte(string(m.Payload), 0)
		if i < 0 {
			return nil, xs.EINVAL
		}
		p, ok := c.canonical(string(m.Payload[:i]))
		if !ok || p[0] == '@' {
			return nil, xs.EINVAL
		}
		val := append([]byte(nil), m.Payload[i+1:]...)
		return mutate(func(v quotaView) error { return s.write(v, c, p, val) })
	case xs.TypeSetPerms:
		a, ok := args(m.Payload, -1)
		if !ok || len(a) < 2 {
			return nil, xs.EINVAL
		}
		p, ok := c.canonical(a[0])
		if !ok || p[0] == '@' {
			return nil, xs.EINVAL
		}
		perms := make([]xs.Perm, 0, len(a)-1)
		for _, ps := range a[1:] {
			pm, err := xs.ParsePerm(ps)
			if err != nil {
				return nil, xs.EINVAL
			}
			perms = append(perms, pm)
		}
		return mutate(func(v quotaView) error { return s.setPerms(v, c, p, perms) })
	case xs.TypeWatch:
		a, ok := args(m.Payload, 2)
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
		c.watches = append(c.watches, watch{path: a[0], abs: p, token: a[1]})
		return okPayload, ""
	case xs.TypeUnwatch:
		a, ok := args(m.Payload, 2)
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
	case xs.TypeResetWatches:
		c.watches = nil
		c.txs = map[uint32]*txn{}
		return okPayload, ""
	case xs.TypeTransactionStart:
		if m.TxID != 0 {
			return nil, xs.EBUSY
		}
		if !c.privileged() && len(c.txs) >= s.quota.TransactionsPerConn {
			return nil, xs.ENOSPC
		}
		s.nextTx++
		if s.nextTx == 0 {
			s.nextTx = 1
		}
		t := &txn{id: s.nextTx, reads: map[string]uint64{}, over: map[string]*overlayEntry{},
			created: map[uint32]int{}, start: s.commits}
		c.txs[t.id] = t
		return xs.JoinStrings(strconv.FormatUint(uint64(t.id), 10)), ""
	case xs.TypeTransactionEnd:
		a, ok := args(m.Payload, 1)
		if !ok || tx == nil || (a[0] != "T" && a[0] != "F") {
			return nil, xs.EINVAL
		}
		delete(c.txs, tx.id)
		if a[0] == "F" {
			return okPayload, ""
		}
		return s.commit(c, tx, changes)
	case xs.TypeGetDomainPath:
		a, ok := args(m.Payload, 1)
		if !ok {
			return nil, xs.EINVAL
		}
		id, err := strconv.ParseUint(a[0], 10, 16)
		if err != nil {
			return nil, xs.EINVAL
		}
		return xs.JoinStrings("/local/domain/" + strconv.FormatUint(id, 10)), ""
	case xs.TypeIsDomainIntro:
		a, ok := args(m.Payload, 1)
		if !ok {
			return nil, xs.EINVAL
		}
		id, err := strconv.ParseUint(a[0], 10, 16)
		if err != nil {
			return nil, xs.EINVAL
		}
		if _, ok := s.domains[uint32(id)]; ok {
			return xs.JoinStrings("T"), ""
		}
		return xs.JoinStrings("F"), ""
	case xs.TypeIntroduce:
		if !c.privileged() {
			return nil, xs.EACCES
		}
		a, ok := args(m.Payload, 3)
		if !ok {
			return nil, xs.EINVAL
		}
		id, e1 := strconv.ParseUint(a[0], 10, 16)
		gfn, e2 := strconv.ParseUint(a[1], 10, 64)
		port, e3 := strconv.ParseUint(a[2], 10, 32)
		if e1 != nil || e2 != nil || e3 != nil || id == 0 {
			return nil, xs.EINVAL
		}
		_, existed := s.domains[uint32(id)]
		s.domains[uint32(id)] = domainInfo{gfn: gfn, port: uint32(port)}
		if !existed {
			*changes = append(*changes, change{path: "@introduceDomain"})
		}
		return okPayload, ""
	case xs.TypeRelease, xs.TypeResume:
		if !c.privileged() {
			return nil, xs.EACCES
		}
		a, ok := args(m.Payload, 1)
		if !ok {
			return nil, xs.EINVAL
		}
		id, err := strconv.ParseUint(a[0], 10, 16)
		if err != nil || id == 0 {
			return nil, xs.EINVAL
		}
		if _, ok := s.domains[uint32(id)]; !ok {
			return nil, xs.ENOENT
		}
		if m.Type == xs.TypeRelease {
			delete(s.domains, uint32(id))
			delete(s.targets, uint32(id))
			s.domainGone(uint32(id), changes)
			*changes = append(*changes, change{path: "@releaseDomain"})
		}
		return okPayload, ""
	case xs.TypeSetTarget:
		if !c.privileged() {
			return nil, xs.EACCES
		}
		a, ok := args(m.Payload, 2)
		if !ok {
			return nil, xs.EINVAL
		}
		id, e1 := strconv.ParseUint(a[0], 10, 16)
		tg, e2 := strconv.ParseUint(a[1], 10, 16)
		if e1 != nil || e2 != nil {
			return nil, xs.EINVAL
		}
		if _, ok := s.domains[uint32(id)]; !ok {
			return nil, xs.ENOENT
		}
		s.targets[uint32(id)] = uint32(tg)
		return okPayload, ""
	case xs.TypeControl:
		a, ok := args(m.Payload, -1)
		if !ok || len(a) == 0 {
			return nil, xs.EINVAL
		}
		if !c.privileged() {
			return nil, xs.EACCES
		}
		switch a[0] {
		case "print", "log":
			return okPayload, ""
		case "help":
			return xs.JoinStrings("help\nlog\nprint\nquota [name value]\n"), ""
		case "quota":
			f := s.quota.Fields()
			if len(a) == 1 {
				names := make([]string, 0, len(f))
				for n := range f {
					names = append(names, n)
				}
				sort.Strings(names)
				var b strings.Builder
				for _, n := range names {
					fmt.Fprintf(&b, "%-18s: %d\n", n, *f[n])
				}
				return xs.JoinStrings(b.String()), ""
			}
			if len(a) != 3 || f[a[1]] == nil {
				return nil, xs.EINVAL
			}
			n, err := strconv.Atoi(a[2])
			if err != nil || n < 1 {
				return nil, xs.EINVAL
			}
			*f[a[1]] = n
			return okPayload, ""
		}
		return nil, xs.EINVAL
	}
	return nil, xs.ENOSYS
}

// commit validates a transaction's reads and replays its writes.
func (s *Server) commit(c *conn, tx *txn, changes *[]change) ([]byte, xs.Errno) {
	if s.WholeStoreConflicts && s.commits != tx.start && len(tx.ops) > 0 {
		return nil, xs.EAGAIN
	}
	for p, gen := range tx.reads {
		var cur uint64
		if n := s.st.nodes[p]; n != nil {
			cur = n.gen
		}
		if cur != gen {
			return nil, xs.EAGAIN
		}
	}
	v := committed{st: s.st, changes: changes}
	for _, op := range tx.ops {
		if err := op(v); err != nil {
			// cannot happen when every node it depends on is unchanged; report, don't hide
			return nil, err.(xs.Errno)
		}
	}
	if len(tx.ops) > 0 {
		s.commits++
	}
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
				if !c.privileged() && c.out.len() >= s.quota.Outstanding {
					c.dropped++
					s.Logf("xenstored: domain %d: watch event for %s dropped: %d replies and events outstanding (quota %d); %d dropped so far",
						c.domid, path, c.out.len(), s.quota.Outstanding, c.dropped)
					continue
				}
				c.out.push(xs.AppendMsg(nil, xs.TypeWatchEvent, 0, 0, xs.JoinStrings(path, w.token)))
			}
		}
	}
}

// DomainChanged is the simulated VIRQ_DOM_EXC: the hypervisor saw a domain shut
// down, crash or die, and xenstored fires @releaseDomain for watchers to rescan.
func (s *Server) DomainChanged() {
	s.mu.Lock()
	s.fire([]change{{path: "@releaseDomain"}})
	s.mu.Unlock()
}

// ForgetDomain drops a domain that no longer exists, as xenstored does when it
// finds a released domain gone: its connections close and @releaseDomain fires.
func (s *Server) ForgetDomain(domid uint32) {
	s.mu.Lock()
	delete(s.domains, domid)
	delete(s.targets, domid)
	var changes []change
	s.domainGone(domid, &changes)
	var drop []*conn
	for c := range s.conns {
		if c.domid == domid && domid != 0 {
			drop = append(drop, c)
		}
	}
	s.fire(append(changes, change{path: "@releaseDomain"}))
	s.mu.Unlock()
	for _, c := range drop {
		c.rw.Close()
	}
}

// Snapshot returns every node's value by path.
func (s *Server) Snapshot() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.snapshot()
}

// Dump renders the tree sorted by path, for diffs in test failures.
func Dump(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s = %q\n", k, m[k])
	}
	return b.String()
}

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
