// The Server: the daemon's state, all of it behind one lock so that a request
// sees and leaves the tree, the connections and the domains consistent, as
// cxenstored's single thread does. How it is served is in conn.go, what each
// message does in dispatch.go and the files named for the message families.

package xenstored

import (
	"fmt"
	"net"
	"strings"
	"sync"
)

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

// New returns a server holding the tree xen-init-dom0 leaves behind.
func New(q Quota) *Server {
	// limits a caller's Quota leaves out keep cxenstored's defaults: a zero
	// timeout would drop every event at once
	if q.WatchEventTimeout <= 0 {
		q.WatchEventTimeout = DefaultQuota.WatchEventTimeout
	}
	if q.MemoryPerDomain <= 0 {
		q.MemoryPerDomain = DefaultQuota.MemoryPerDomain
	}
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
