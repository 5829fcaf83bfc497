// Quota: cxenstored's per-domain limits (tools/xenstore/xenstored_core.c and
// xenstored_domain.c in Xen 4.17) and XS_CONTROL, whose one command that does
// something here is "quota", the way to read and change them at run time.
// The checks themselves sit where each limit bites (create, setPerms, the
// watch and transaction handlers, fire, ServeConn).

package xenstored

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

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
	Outstanding         int // replies not yet taken by one connection before it is not read from; default 20
	// WatchEventTimeout: a watch event unread this long is dropped
	// (cxenstored's timeout_watch_event_msec, --timeout watch-event=20)
	WatchEventTimeout time.Duration
	// MemoryPerDomain: the bytes of watch events one connection may have
	// queued (cxenstored's hard memory quota, quota_memory_per_domain_hard)
	MemoryPerDomain int
}

// DefaultQuota is cxenstored 4.17's defaults.
var DefaultQuota = Quota{NodesPerDomain: 1000, WatchesPerDomain: 128, NodeSize: 2048,
	TransactionsPerConn: 10, PermsPerNode: 5, TxNodes: 1024, Outstanding: 20,
	WatchEventTimeout: 20 * time.Second, MemoryPerDomain: 2*1024*1024 + 512*1024}

// Fields maps the names XS_CONTROL "quota" and `luxen sim serve --quota` use
// to the limits.
func (q *Quota) Fields() map[string]*int {
	return map[string]*int{"nodes": &q.NodesPerDomain, "watches": &q.WatchesPerDomain,
		"node-size": &q.NodeSize, "transactions": &q.TransactionsPerConn, "permissions": &q.PermsPerNode,
		"transaction-nodes": &q.TxNodes, "outstanding": &q.Outstanding}
}

// quotaOutstanding is read by ServeConn outside a request, so it takes the lock.
func (s *Server) quotaOutstanding() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quota.Outstanding
}

func (s *Server) nodeTooBig(c *conn, value []byte, perms []xs.Perm) bool {
	if c.privileged() {
		return false
	}
	// cxenstored counts the value plus the permission array against the limit
	return len(value)+len(perms)*4 > s.quota.NodeSize
}

// handleControl is XS_CONTROL: dom0's commands to the daemon itself. "print"
// and "log" are accepted and do nothing (there is no trace file to write).
func (s *Server) handleControl(r request) ([]byte, xs.Errno) {
	a, ok := args(r.m.Payload, -1)
	if !ok || len(a) == 0 {
		return nil, xs.EINVAL
	}
	if !r.c.privileged() {
		return nil, xs.EACCES
	}
	switch a[0] {
	case "print", "log":
		return okPayload, ""
	case "help":
		return xs.JoinStrings("help\nlog\nprint\nquota [name value]\n"), ""
	case "quota":
		return s.controlQuota(a[1:])
	}
	return nil, xs.EINVAL
}

// controlQuota lists the limits (no arguments) or sets one (name value).
func (s *Server) controlQuota(a []string) ([]byte, xs.Errno) {
	f := s.quota.Fields()
	if len(a) == 0 {
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
	if len(a) != 2 || f[a[0]] == nil {
		return nil, xs.EINVAL
	}
	n, err := strconv.Atoi(a[1])
	if err != nil || n < 1 {
		return nil, xs.EINVAL
	}
	*f[a[0]] = n
	return okPayload, ""
}
