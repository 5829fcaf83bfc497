// Node operations: READ, WRITE, MKDIR, RM, DIRECTORY (and DIRECTORY_PART
// for listings too large for one reply), GET_PERMS and SET_PERMS, the same
// inside and outside a transaction (Ops carries the transaction id, 0 for
// none).

package xenstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Ops are the requests that can run inside or outside a transaction.
type Ops struct {
	c  *Client
	tx uint32
}

// Root returns the operations outside any transaction.
func (c *Client) Root() Ops { return Ops{c: c} }

// Read returns a node's value.
func (o Ops) Read(ctx context.Context, path string) (string, error) {
	b, err := o.c.request(ctx, TypeRead, o.tx, path, JoinStrings(path))
	return string(b), err
}

// Write sets a node's value, creating it and missing parents.
func (o Ops) Write(ctx context.Context, path, value string) error {
	p := make([]byte, 0, len(path)+1+len(value))
	p = append(append(append(p, path...), 0), value...)
	_, err := o.c.request(ctx, TypeWrite, o.tx, path, p)
	return err
}

// Mkdir creates a node (and parents) with an empty value; an existing node is fine.
func (o Ops) Mkdir(ctx context.Context, path string) error {
	_, err := o.c.request(ctx, TypeMkdir, o.tx, path, JoinStrings(path))
	return err
}

// Rm removes a node and everything below it.
func (o Ops) Rm(ctx context.Context, path string) error {
	_, err := o.c.request(ctx, TypeRm, o.tx, path, JoinStrings(path))
	return err
}

// Directory lists a node's children. A listing too large for one reply (E2BIG) is
// read in parts with DIRECTORY_PART, restarting if the node changes meanwhile.
func (o Ops) Directory(ctx context.Context, path string) ([]string, error) {
	b, err := o.c.request(ctx, TypeDirectory, o.tx, path, JoinStrings(path))
	if ErrnoOf(err) == E2BIG {
		return o.directoryParts(ctx, path)
	}
	if err != nil {
		return nil, err
	}
	return SplitStrings(b), nil
}

func (o Ops) directoryParts(ctx context.Context, path string) ([]string, error) {
	for attempt := 0; attempt < 16; attempt++ {
		var names []string
		gen := ""
		restart := false
		for off := 0; ; {
			b, err := o.c.request(ctx, TypeDirectoryPart, o.tx, path, JoinStrings(path, strconv.Itoa(off)))
			if err != nil {
				return nil, err
			}
			i := strings.IndexByte(string(b), 0)
			if i < 0 {
				return nil, &Error{Op: TypeDirectoryPart, Path: path, Errno: EINVAL}
			}
			if gen == "" {
				gen = string(b[:i])
			} else if string(b[:i]) != gen {
				restart = true
				break
			}
			// NUL-terminated names follow; an empty name ends the listing
			end := false
			for rest := b[i+1:]; len(rest) > 0; {
				j := strings.IndexByte(string(rest), 0)
				if j < 0 {
					return nil, &Error{Op: TypeDirectoryPart, Path: path, Errno: EINVAL}
				}
				if j == 0 {
					end = true
					break
				}
				names = append(names, string(rest[:j]))
				off += j + 1
				rest = rest[j+1:]
			}
			if end {
				break
			}
		}
		if !restart {
			return names, nil
		}
	}
	return nil, &Error{Op: TypeDirectoryPart, Path: path, Errno: EAGAIN}
}

// GetPerms returns a node's permissions, owner first.
func (o Ops) GetPerms(ctx context.Context, path string) ([]Perm, error) {
	b, err := o.c.request(ctx, TypeGetPerms, o.tx, path, JoinStrings(path))
	if err != nil {
		return nil, err
	}
	var perms []Perm
	for _, s := range SplitStrings(b) {
		p, err := ParsePerm(s)
		if err != nil {
			return nil, fmt.Errorf("xenstore: get_perms %s: %w", path, err)
		}
		perms = append(perms, p)
	}
	return perms, nil
}

// SetPerms replaces a node's permissions; the first entry is the owner.
func (o Ops) SetPerms(ctx context.Context, path string, perms []Perm) error {
	parts := []string{path}
	for _, p := range perms {
		parts = append(parts, p.String())
	}
	_, err := o.c.request(ctx, TypeSetPerms, o.tx, path, JoinStrings(parts...))
	return err
}

// Exists reports whether a node exists (ENOENT is not an error here).
func (o Ops) Exists(ctx context.Context, path string) (bool, error) {
	_, err := o.Read(ctx, path)
	if err == nil {
		return true, nil
	}
	if ErrnoOf(err) == ENOENT {
		return false, nil
	}
	return false, err
}
