// Node requests: READ, DIRECTORY, DIRECTORY_PART, GET_PERMS, WRITE, MKDIR,
// RM and SET_PERMS. Each parses its payload (docs/misc/xenstore.txt gives the
// shapes), then reads through the request's view or hands a mutation from
// ops.go to request.mutate, which also keeps it for a transaction's commit.

package xenstored

import (
	"strconv"
	"strings"

	xs "luxen/bindings/xenstore"
)

// nodePath is the one argument of READ, DIRECTORY, GET_PERMS, MKDIR and RM:
// a node's path, not a special @ path.
func (r *request) nodePath() (string, xs.Errno) {
	a, ok := oneArg(r.m.Payload)
	if !ok {
		return "", xs.EINVAL
	}
	p, ok := r.c.canonical(a)
	if !ok || p[0] == '@' {
		return "", xs.EINVAL
	}
	return p, ""
}

// readable is the node at p if it exists and the sender may read it.
func (s *Server) readable(r *request, p string) (*node, xs.Errno) {
	n := r.v.get(p)
	if n == nil {
		return nil, xs.ENOENT
	}
	if !s.access(r.c, n, xs.PermRead) {
		return nil, xs.EACCES
	}
	return n, ""
}

// readNode is the node a READ, DIRECTORY or GET_PERMS names.
func (s *Server) readNode(r *request) (*node, xs.Errno) {
	p, errno := r.nodePath()
	if errno != "" {
		return nil, errno
	}
	return s.readable(r, p)
}

func (s *Server) handleRead(r request) ([]byte, xs.Errno) {
	n, errno := s.readNode(&r)
	if errno != "" {
		return nil, errno
	}
	return append([]byte(nil), n.value...), ""
}

func (s *Server) handleDirectory(r request) ([]byte, xs.Errno) {
	n, errno := s.readNode(&r)
	if errno != "" {
		return nil, errno
	}
	b := xs.JoinStrings(n.children...)
	if len(b) > xs.PayloadMax {
		return nil, xs.E2BIG // the client reads it with DIRECTORY_PART
	}
	return b, ""
}

func (s *Server) handleGetPerms(r request) ([]byte, xs.Errno) {
	n, errno := s.readNode(&r)
	if errno != "" {
		return nil, errno
	}
	ps := make([]string, len(n.perms))
	for i, pm := range n.perms {
		ps[i] = pm.String()
	}
	return xs.JoinStrings(ps...), ""
}

// handleDirectoryPart answers path and byte offset with the node's generation
// and as many whole child names from the offset as fit one reply; an empty
// name after them says the list is complete.
func (s *Server) handleDirectoryPart(r request) ([]byte, xs.Errno) {
	a, ok := args(r.m.Payload, 2)
	if !ok {
		return nil, xs.EINVAL
	}
	// canonical accepts @introduceDomain and @releaseDomain; they are no
	// nodes, so DIRECTORY_PART of them answers ENOENT
	p, ok := r.c.canonical(a[0])
	off, err := strconv.Atoi(a[1])
	if !ok || err != nil || off < 0 {
		return nil, xs.EINVAL
	}
	n, errno := s.readable(&r, p)
	if errno != "" {
		return nil, errno
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
}

// handleWrite's payload is the path, a NUL and the value, which may hold
// anything (NULs too), so it is not split like the others.
func (s *Server) handleWrite(r request) ([]byte, xs.Errno) {
	i := strings.IndexByte(string(r.m.Payload), 0)
	if i < 0 {
		return nil, xs.EINVAL
	}
	p, ok := r.c.canonical(string(r.m.Payload[:i]))
	if !ok || p[0] == '@' {
		return nil, xs.EINVAL
	}
	val := append([]byte(nil), r.m.Payload[i+1:]...)
	c := r.c
	return r.mutate(func(v view) error { return s.write(v, c, p, val) })
}

func (s *Server) handleMkdir(r request) ([]byte, xs.Errno) { return s.mutatePath(&r, (*Server).mkdir) }
func (s *Server) handleRm(r request) ([]byte, xs.Errno)    { return s.mutatePath(&r, (*Server).rm) }

// mutatePath serves the requests whose one argument is the node they change.
func (s *Server) mutatePath(r *request, op func(s *Server, v view, c *conn, path string) error) ([]byte, xs.Errno) {
	p, errno := r.nodePath()
	if errno != "" {
		return nil, errno
	}
	c := r.c
	return r.mutate(func(v view) error { return op(s, v, c, p) })
}

func (s *Server) handleSetPerms(r request) ([]byte, xs.Errno) {
	a, ok := args(r.m.Payload, -1)
	if !ok || len(a) < 2 {
		return nil, xs.EINVAL
	}
	p, ok := r.c.canonical(a[0])
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
	c := r.c
	return r.mutate(func(v view) error { return s.setPerms(v, c, p, perms) })
}
