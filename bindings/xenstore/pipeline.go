// Pipelines: many node operations sent at once on one connection, their
// replies awaited together. xenstored handles a connection's requests one at
// a time in the order they came (cxenstored and oxenstored both do), so a
// pipeline's requests take effect in its order, as the same calls made one
// after the other would, while costing one round trip instead of one each.

package xenstore

import (
	"context"
	"strings"
)

// Request is one operation of a pipeline: Op is TypeRead, TypeWrite,
// TypeMkdir, TypeRm, TypeDirectory, TypeGetPerms or TypeSetPerms; Value is
// a write's value, Perms a set_perms' list.
type Request struct {
	Op    MsgType
	Path  string
	Value string
	Perms []Perm
}

// Reply is one request's outcome: the reply payload (a read's value; a
// directory's names, NUL-separated; a get_perms' list) or its error.
type Reply struct {
	Payload []byte
	Err     error
}

// Names splits a directory reply into its names.
func (r Reply) Names() []string { return SplitStrings(r.Payload) }

// Perms parses a get_perms reply.
func (r Reply) Perms() ([]Perm, error) {
	var perms []Perm
	for _, s := range SplitStrings(r.Payload) {
		p, err := ParsePerm(s)
		if err != nil {
			return nil, err
		}
		perms = append(perms, p)
	}
	return perms, nil
}

// Pipeline sends every request before waiting for any reply and returns
// their replies in the same order. A failed request does not stop the ones
// after it (they are already on their way); each reply says how its request
// fared. A directory too large for one reply is then listed in parts, as
// Directory does.
func (o Ops) Pipeline(ctx context.Context, reqs []Request) []Reply {
	out := make([]Reply, len(reqs))
	// one buffer of messages for the writer and one reply channel for them
	// all: a request costs its message's bytes, not a channel, a buffer and
	// a trip through the writer's queue of its own
	size := 0
	for _, r := range reqs {
		size += HeaderSize + len(r.Path) + 1 + len(r.Value) + 4*len(r.Perms)
	}
	buf := make([]byte, 0, size+8*len(reqs))
	n := 0
	for i, r := range reqs {
		payload, err := r.payload()
		if err == nil && len(payload) > PayloadMax {
			err = &Error{Op: r.Op, Path: r.Path, Errno: E2BIG}
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		buf = AppendMsg(buf, r.Op, uint32(i), o.tx, payload) // the index for now: the ids come below
		n++
	}
	if n == 0 {
		return out
	}
	ch := make(chan Msg, n)
	first, err := o.c.sendAll(ctx, buf, n, ch)
	if err != nil {
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		return out
	}
	defer o.c.forgetAll(first, n)
	// message j (in buf's order) has req_id first+j; map it back to its request
	index := make([]int, 0, n)
	for i := range reqs {
		if out[i].Err == nil {
			index = append(index, i)
		}
	}
	for got := 0; got < n; got++ {
		select {
		case m, ok := <-ch:
			if !ok {
				err := o.c.closedErr()
				for _, i := range index {
					if out[i].Payload == nil && out[i].Err == nil {
						out[i].Err = err
					}
				}
				return out
			}
			j := int(m.ReqID - first)
			if j < 0 || j >= n {
				got-- // not ours (cannot happen: ids are registered to ch only)
				continue
			}
			i := index[j]
			r := reqs[i]
			if m.Type == TypeError {
				out[i].Err = &Error{Op: r.Op, Path: r.Path, Errno: Errno(strings.TrimRight(string(m.Payload), "\x00"))}
			} else if m.Payload == nil {
				out[i].Payload = []byte{}
			} else {
				out[i].Payload = m.Payload
			}
		case <-ctx.Done():
			for _, i := range index {
				if out[i].Payload == nil && out[i].Err == nil {
					out[i].Err = ctx.Err()
				}
			}
			return out
		}
	}
	for i, r := range reqs {
		if r.Op == TypeDirectory && ErrnoOf(out[i].Err) == E2BIG {
			names, err := o.directoryParts(ctx, r.Path)
			out[i] = Reply{Payload: JoinStrings(names...), Err: err}
		}
	}
	return out
}

// payload is the request's message body, as the single-operation methods
// of Ops build it.
func (r Request) payload() ([]byte, error) {
	switch r.Op {
	case TypeRead, TypeMkdir, TypeRm, TypeDirectory, TypeGetPerms:
		return JoinStrings(r.Path), nil
	case TypeWrite:
		p := make([]byte, 0, len(r.Path)+1+len(r.Value))
		return append(append(append(p, r.Path...), 0), r.Value...), nil
	case TypeSetPerms:
		parts := make([]string, 0, 1+len(r.Perms))
		parts = append(parts, r.Path)
		for _, p := range r.Perms {
			parts = append(parts, p.String())
		}
		return JoinStrings(parts...), nil
	}
	return nil, &Error{Op: r.Op, Path: r.Path, Errno: EINVAL}
}

// ChildrenWhere lists the children of parent whose node key reads value
// (the domains under /local/domain whose name is "web", say): one
// DIRECTORY and one pipeline of READs, whatever the number of children, and
// only the matches come back. A child without that node does not match.
func (o Ops) ChildrenWhere(ctx context.Context, parent, key, value string) ([]string, error) {
	children, err := o.Directory(ctx, parent)
	if err != nil {
		return nil, err
	}
	reqs := make([]Request, len(children))
	for i, c := range children {
		reqs[i] = Request{Op: TypeRead, Path: parent + "/" + c + "/" + key}
	}
	var out []string
	for i, r := range o.Pipeline(ctx, reqs) {
		switch {
		case r.Err == nil && string(r.Payload) == value:
			out = append(out, children[i])
		case r.Err != nil && ErrnoOf(r.Err) != ENOENT:
			return nil, r.Err
		}
	}
	return out, nil
}
