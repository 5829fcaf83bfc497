// Domain bookkeeping: which domains xenstored knows (INTRODUCE, RELEASE,
// IS_DOMAIN_INTRODUCED, RESUME, SET_TARGET, GET_DOMAIN_PATH in
// docs/misc/xenstore.txt), and what happens to a dead domain's nodes and
// permissions. The simulated host tells the daemon about domains dying
// through DomainChanged and ForgetDomain, as the hypervisor's VIRQ_DOM_EXC
// tells cxenstored.

package xenstored

import (
	"sort"
	"strconv"

	xs "luxen/bindings/xenstore"
)

type domainInfo struct {
	gfn  uint64
	port uint32
}

// domidArg parses a domid as the wire carries it: decimal, and 16 bits wide
// (domid_t, xen/include/public/xen.h).
func domidArg(a string) (uint32, bool) {
	id, err := strconv.ParseUint(a, 10, 16)
	return uint32(id), err == nil
}

// oneDomid is the argument of GET_DOMAIN_PATH, IS_DOMAIN_INTRODUCED, RELEASE
// and RESUME.
func (r *request) oneDomid() (uint32, xs.Errno) {
	a, ok := oneArg(r.m.Payload)
	if !ok {
		return 0, xs.EINVAL
	}
	id, ok := domidArg(a)
	if !ok {
		return 0, xs.EINVAL
	}
	return id, ""
}

// dom0Args is the n arguments of INTRODUCE or SET_TARGET, which only dom0
// may send: a guest is refused before its payload is looked at.
func (r *request) dom0Args(n int) ([]string, xs.Errno) {
	if !r.c.privileged() {
		return nil, xs.EACCES
	}
	a, ok := args(r.m.Payload, n)
	if !ok {
		return nil, xs.EINVAL
	}
	return a, ""
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

func (s *Server) handleGetDomainPath(r request) ([]byte, xs.Errno) {
	id, errno := r.oneDomid()
	if errno != "" {
		return nil, errno
	}
	return xs.JoinStrings("/local/domain/" + strconv.FormatUint(uint64(id), 10)), ""
}

func (s *Server) handleIsDomainIntro(r request) ([]byte, xs.Errno) {
	id, errno := r.oneDomid()
	if errno != "" {
		return nil, errno
	}
	if _, ok := s.domains[id]; ok {
		return xs.JoinStrings("T"), ""
	}
	return xs.JoinStrings("F"), ""
}

// handleIntroduce takes domid, the ring's gfn and the event channel port.
// Introducing a known domain again updates them and fires nothing.
func (s *Server) handleIntroduce(r request) ([]byte, xs.Errno) {
	a, errno := r.dom0Args(3)
	if errno != "" {
		return nil, errno
	}
	id, ok := domidArg(a[0])
	gfn, e2 := strconv.ParseUint(a[1], 10, 64)
	port, e3 := strconv.ParseUint(a[2], 10, 32)
	if !ok || e2 != nil || e3 != nil || id == 0 {
		return nil, xs.EINVAL
	}
	_, existed := s.domains[id]
	s.domains[id] = domainInfo{gfn: gfn, port: uint32(port)}
	if !existed {
		*r.changes = append(*r.changes, change{path: "@introduceDomain"})
	}
	return okPayload, ""
}

// introducedArg is the domain RELEASE and RESUME name: dom0 only asks, about
// an introduced domain other than itself.
func (s *Server) introducedArg(r *request) (uint32, xs.Errno) {
	if !r.c.privileged() {
		return 0, xs.EACCES
	}
	id, errno := r.oneDomid()
	if errno != "" || id == 0 {
		return 0, xs.EINVAL
	}
	if _, ok := s.domains[id]; !ok {
		return 0, xs.ENOENT
	}
	return id, ""
}

func (s *Server) handleRelease(r request) ([]byte, xs.Errno) {
	id, errno := s.introducedArg(&r)
	if errno != "" {
		return nil, errno
	}
	delete(s.domains, id)
	delete(s.targets, id)
	s.domainGone(id, r.changes)
	*r.changes = append(*r.changes, change{path: "@releaseDomain"})
	return okPayload, ""
}

// handleResume only checks its argument: cxenstored clears its note that the
// domain shut down, and this daemon keeps none.
func (s *Server) handleResume(r request) ([]byte, xs.Errno) {
	_, errno := s.introducedArg(&r)
	if errno != "" {
		return nil, errno
	}
	return okPayload, ""
}

// handleSetTarget lets a domain (a device model's stubdomain) act on the
// nodes of the domain it serves.
func (s *Server) handleSetTarget(r request) ([]byte, xs.Errno) {
	a, errno := r.dom0Args(2)
	if errno != "" {
		return nil, errno
	}
	id, ok1 := domidArg(a[0])
	tg, ok2 := domidArg(a[1])
	if !ok1 || !ok2 {
		return nil, xs.EINVAL
	}
	if _, ok := s.domains[id]; !ok {
		return nil, xs.ENOENT
	}
	s.targets[id] = tg
	return okPayload, ""
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
