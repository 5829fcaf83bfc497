// Pipelines: many node operations sent at once on one connection, their
// replies awaited together. xenstored handles a connection's requests one at
// a time in the order they came (cxenstored and oxenstored both do), so a
// pipeline's requests take effect in its order, as the same calls made one
// after the other would, while costing one round trip instead of one each.

package xenstore

import "context"

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
	inflight := make([]sent, len(reqs))
	for i, r := range reqs {
		payload, err := r.payload()
		if err == nil {
			inflight[i], err = o.c.send(ctx, r.Op, o.tx, r.Path, payload)
		}
		if err != nil {
			out[i].Err = err
		}
	}
	for i := range reqs {
		if out[i].Err != nil {
			continue
		}
		out[i].Payload, out[i].Err = inflight[i].wait(ctx)
		if reqs[i].Op == TypeDirectory && ErrnoOf(out[i].Err) == E2BIG {
			names, err := o.directoryParts(ctx, reqs[i].Path)
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
