// Node operations: the two views a request runs against (committed, the tree
// itself; overlay, a transaction's private copy of what it touched), the
// permission check, and the mutations (create, write, mkdir, rm, setPerms),
// written once against view so that the same code runs in a transaction and
// again when it commits.

package xenstored

import (
	xs "luxen/bindings/xenstore"
)

// committed is the view of operations outside transactions.
type committed struct {
	st      *store
	changes *[]change
}

type change struct {
	path    string
	recurse bool
	perms   []xs.Perm // the node's permissions when it changed, for watch visibility
}

func (v committed) get(p string) *node  { return v.st.nodes[p] }
func (v committed) peek(p string) *node { return v.st.nodes[p] }

func (v committed) put(p string, n *node) {
	old := v.st.nodes[p]
	if old != nil {
		v.st.owned[old.perms[0].Domid]--
	}
	if n == nil {
		delete(v.st.nodes, p)
		return
	}
	v.st.gen++
	n.gen = v.st.gen
	v.st.nodes[p] = n
	v.st.owned[n.perms[0].Domid]++
}

func (v committed) mutable(p string) *node {
	n := v.st.nodes[p]
	if n != nil {
		v.st.gen++
		n.gen = v.st.gen
	}
	return n
}

func (v committed) changed(p string, recurse bool) {
	var perms []xs.Perm
	if n := v.st.nodes[p]; n != nil {
		perms = n.perms
	}
	*v.changes = append(*v.changes, change{path: p, recurse: recurse, perms: perms})
}

// ownedBy counts committed nodes owned by a domain.
func (v committed) ownedBy(d uint32) int { return v.st.owned[d] }

// overlay is a transaction's private view.
type overlay struct {
	st *store
	tx *txn
}

type overlayEntry struct {
	n        *node // nil: deleted in this transaction
	baseGen  uint64
	recorded bool
}

func (v overlay) record(p string, gen uint64) {
	if _, ok := v.tx.reads[p]; !ok {
		v.tx.reads[p] = gen
	}
}

func (v overlay) get(p string) *node {
	if e, ok := v.tx.over[p]; ok {
		if !e.recorded {
			v.record(p, e.baseGen)
			e.recorded = true
		}
		return e.n
	}
	// First access: the transaction keeps its own copy, so later reads see the
	// value as it was then, whatever others commit meanwhile (cxenstored's
	// per-node snapshot; test-xenstore's "ta err" checks it).
	n := v.st.nodes[p]
	e := &overlayEntry{recorded: true}
	if n != nil {
		e.baseGen = n.gen
		e.n = n.clone()
	}
	v.record(p, e.baseGen)
	v.tx.over[p] = e
	return e.n
}

func (v overlay) peek(p string) *node {
	if e, ok := v.tx.over[p]; ok {
		return e.n
	}
	return v.st.nodes[p]
}

func (v overlay) put(p string, n *node) {
	e, ok := v.tx.over[p]
	if !ok {
		base := v.st.nodes[p]
		e = &overlayEntry{}
		if base != nil {
			e.baseGen = base.gen
		}
		v.tx.over[p] = e
	}
	// A node this transaction deletes or creates conflicts with any other change to it.
	if !e.recorded {
		v.record(p, e.baseGen)
		e.recorded = true
	}
	e.n = n
}

// mutable copies a node into the overlay without recording a read, so that a
// transaction that only adds a child to /local/domain does not conflict with
// another that adds a different child.
func (v overlay) mutable(p string) *node {
	if e, ok := v.tx.over[p]; ok {
		return e.n
	}
	base := v.st.nodes[p]
	if base == nil {
		return nil
	}
	e := &overlayEntry{n: base.clone(), baseGen: base.gen}
	v.tx.over[p] = e
	return e.n
}

func (v overlay) changed(string, bool) {}

func (v overlay) ownedBy(d uint32) int { return v.st.owned[d] + v.tx.created[d] }

// access is the permission check of xenstore.txt: dom0 (and a domain's
// target-holder) may do anything; the owner may read and write; anyone else gets
// their own entry, or the first entry's mode as the default.
func (s *Server) access(c *conn, n *node, want xs.PermMode) bool {
	if c.privileged() {
		return true
	}
	owner := n.perms[0].Domid
	if owner == c.domid {
		return true
	}
	if t, ok := s.targets[c.domid]; ok && t == owner {
		return true
	}
	for _, p := range n.perms[1:] {
		if p.Domid == c.domid {
			return p.Mode.Allows(want)
		}
	}
	return n.perms[0].Mode.Allows(want)
}

// create makes path and any missing parents, each inheriting its parent's
// permissions with the creator as owner when the creator is unprivileged.
func (s *Server) create(v view, c *conn, path string, value []byte) error {
	// Find the nearest existing ancestor. Looking at it is not a read that
	// conflicts: two transactions creating siblings must both commit.
	missing := []string{path}
	anc := parentOf(path)
	var an *node
	for {
		an = v.peek(anc)
		if an != nil {
			break
		}
		missing = append(missing, anc)
		anc = parentOf(anc)
	}
	if !s.access(c, an, xs.PermWrite) {
		return xs.EACCES
	}
	if !c.privileged() && v.ownedBy(c.domid)+len(missing) > s.quota.NodesPerDomain {
		return xs.ENOSPC
	}
	perms := append([]xs.Perm(nil), an.perms...)
	if !c.privileged() {
		perms[0].Domid = c.domid
	}
	for i := len(missing) - 1; i >= 0; i-- {
		p := missing[i]
		n := &node{perms: append([]xs.Perm(nil), perms...)}
		if i == 0 {
			n.value = value
		}
		v.put(p, n)
		parent := v.mutable(parentOf(p))
		if parent == nil {
			// in a transaction, the parent seen at first was removed by someone
			// else since: the transaction's view is stale, retry it
			return xs.EAGAIN
		}
		parent.children = append(parent.children, baseName(p))
		if ov, ok := v.(overlay); ok && !c.privileged() {
			ov.tx.created[c.domid]++
		}
	}
	// One event for the node asked for; implicitly made parents fire nothing
	// of their own (watches on them see this path, which is below them).
	v.changed(path, false)
	return nil
}

func (s *Server) write(v view, c *conn, path string, value []byte) error {
	n := v.get(path)
	if n == nil {
		if s.nodeTooBig(c, value, nil) {
			return xs.ENOSPC
		}
		return s.create(v, c, path, value)
	}
	if !s.access(c, n, xs.PermWrite) {
		return xs.EACCES
	}
	if s.nodeTooBig(c, value, n.perms) {
		return xs.ENOSPC
	}
	m := v.mutable(path)
	m.value = append([]byte(nil), value...)
	v.changed(path, false)
	return nil
}

func (s *Server) mkdir(v view, c *conn, path string) error {
	if n := v.get(path); n != nil {
		if !s.access(c, n, xs.PermWrite) {
			return xs.EACCES
		}
		return nil
	}
	return s.create(v, c, path, nil)
}

func (s *Server) rm(v view, c *conn, path string) error {
	if path == "/" {
		return xs.EINVAL
	}
	n := v.get(path)
	if n == nil {
		// Removing a missing child of an existing node succeeds, as in cxenstored.
		if v.get(parentOf(path)) != nil {
			return nil
		}
		return xs.ENOENT
	}
	if !s.access(c, n, xs.PermWrite) {
		return xs.EACCES
	}
	v.changed(path, true)
	var drop func(p string, n *node)
	drop = func(p string, n *node) {
		for _, ch := range n.children {
			cp := childPath(p, ch)
			if cn := v.get(cp); cn != nil {
				drop(cp, cn)
			}
		}
		v.put(p, nil)
	}
	drop(path, n)
	parent := v.mutable(parentOf(path))
	if parent == nil {
		return xs.EAGAIN // as in create: the parent went under a transaction's feet
	}
	parent.removeChild(baseName(path))
	return nil
}

func (s *Server) setPerms(v view, c *conn, path string, perms []xs.Perm) error {
	n := v.get(path)
	if n == nil {
		return xs.ENOENT
	}
	if !c.privileged() {
		// only the owner changes permissions, and only dom0 changes the owner
		if n.perms[0].Domid != c.domid {
			if t, ok := s.targets[c.domid]; !ok || t != n.perms[0].Domid {
				return xs.EACCES
			}
		}
		if perms[0].Domid != n.perms[0].Domid {
			return xs.EPERM
		}
		if len(perms) > s.quota.PermsPerNode {
			return xs.ENOSPC
		}
	}
	// the new owner must be a domain that exists (cxenstored: ENOENT)
	if !s.domainExists(perms[0].Domid) {
		return xs.ENOENT
	}
	m := v.mutable(path)
	if ov, ok := v.(overlay); ok {
		ov.get(path)
	} else {
		// keep the owner count right when dom0 hands a node to someone else
		cv := v.(committed)
		cv.st.owned[m.perms[0].Domid]--
		cv.st.owned[perms[0].Domid]++
	}
	m.perms = perms
	v.changed(path, false)
	return nil
}
