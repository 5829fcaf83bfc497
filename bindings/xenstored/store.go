// Package xenstored is luxen's embedded xenstore daemon: the semantics of
// docs/misc/xenstore.txt for Xen 4.17 served over the wire protocol of package
// xenstore. It backs the simulated host; real Xen hosts use the real xenstored.
package xenstored

import (
	"sort"
	"strings"

	xs "luxen/bindings/xenstore"
)

// node is one xenstore node. gen is the value of the store's generation counter at
// the node's last change (value, permissions or set of children): transactions
// conflict per node by comparing it.
type node struct {
	value    []byte
	perms    []xs.Perm
	children []string // in creation order, as cxenstored lists them
	gen      uint64
}

func (n *node) clone() *node {
	c := *n
	c.value = append([]byte(nil), n.value...)
	c.perms = append([]xs.Perm(nil), n.perms...)
	c.children = append([]string(nil), n.children...)
	return &c
}

func (n *node) removeChild(name string) {
	for i, c := range n.children {
		if c == name {
			n.children = append(n.children[:i:i], n.children[i+1:]...)
			return
		}
	}
}

func (n *node) hasChild(name string) bool {
	for _, c := range n.children {
		if c == name {
			return true
		}
	}
	return false
}

// view is the store as an operation sees it: the committed tree, or a transaction's
// overlay on top of it. Every node operation (ops.go) runs against one.
type view interface {
	get(path string) *node             // nil when absent; records the read in a transaction
	peek(path string) *node            // like get, but not a read a transaction conflicts on
	put(path string, n *node)          // replace (n != nil) or delete (n == nil)
	mutable(path string) *node         // a node this operation may change in place
	changed(path string, recurse bool) // note a change for watches
	ownedBy(d uint32) int              // nodes d owns as this view sees them, for the node quota
}

// store is the committed tree.
type store struct {
	nodes map[string]*node
	gen   uint64
	// owned counts nodes per owning domain, for the node quota.
	owned map[uint32]int
}

func newStore() *store {
	s := &store{nodes: map[string]*node{}, owned: map[uint32]int{}}
	s.gen = 1
	s.nodes["/"] = &node{perms: []xs.Perm{{Domid: 0, Mode: xs.PermNone}}, gen: 1}
	return s
}

func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

func baseName(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func childPath(parent, name string) string {
	if parent == "/" {
		return "/" + name
	}
	return parent + "/" + name
}

// isUnder reports whether p is at or below dir.
func isUnder(p, dir string) bool {
	if dir == "/" || p == dir {
		return true
	}
	return strings.HasPrefix(p, dir) && len(p) > len(dir) && p[len(dir)] == '/'
}

// Snapshot returns every node's value by path, for leak checks in tests.
func (st *store) snapshot() map[string]string {
	m := make(map[string]string, len(st.nodes))
	for p, n := range st.nodes {
		m[p] = string(n.value)
	}
	return m
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// forgetPerms makes a dead domain's permissions void, so that a new domain that
// gets the same domid inherits nothing: nodes it owned pass to dom0 and its
// entries in other nodes' lists are dropped.
func (st *store) forgetPerms(domid uint32) {
	if domid == 0 {
		return
	}
	for _, n := range st.nodes {
		changed := false
		if n.perms[0].Domid == domid {
			st.owned[domid]--
			st.owned[0]++
			n.perms[0].Domid = 0
			changed = true
		}
		for i := 1; i < len(n.perms); i++ {
			if n.perms[i].Domid == domid {
				n.perms = append(n.perms[:i:i], n.perms[i+1:]...)
				i--
				changed = true
			}
		}
		if changed {
			st.gen++
			n.gen = st.gen
		}
	}
}
