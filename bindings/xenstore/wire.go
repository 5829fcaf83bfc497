// Package xenstore speaks the xenstore wire protocol (xen/include/public/io/xs_wire.h,
// docs/misc/xenstore.txt): message framing, the error vocabulary and a client that
// multiplexes many requests on one connection. It does not import Lua.
package xenstore

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MsgType is the xsd_sockmsg type field.
type MsgType uint32

// Message types of Xen 4.17 (xs_wire.h, enum xsd_sockmsg_type).
const (
	TypeControl          MsgType = 0 // XS_CONTROL, formerly XS_DEBUG
	TypeDirectory        MsgType = 1
	TypeRead             MsgType = 2
	TypeGetPerms         MsgType = 3
	TypeWatch            MsgType = 4
	TypeUnwatch          MsgType = 5
	TypeTransactionStart MsgType = 6
	TypeTransactionEnd   MsgType = 7
	TypeIntroduce        MsgType = 8
	TypeRelease          MsgType = 9
	TypeGetDomainPath    MsgType = 10
	TypeWrite            MsgType = 11
	TypeMkdir            MsgType = 12
	TypeRm               MsgType = 13
	TypeSetPerms         MsgType = 14
	TypeWatchEvent       MsgType = 15
	TypeError            MsgType = 16
	TypeIsDomainIntro    MsgType = 17
	TypeResume           MsgType = 18
	TypeSetTarget        MsgType = 19
	TypeResetWatches     MsgType = 21
	TypeDirectoryPart    MsgType = 22
)

var typeNames = map[MsgType]string{
	TypeControl: "CONTROL", TypeDirectory: "DIRECTORY", TypeRead: "READ", TypeGetPerms: "GET_PERMS",
	TypeWatch: "WATCH", TypeUnwatch: "UNWATCH", TypeTransactionStart: "TRANSACTION_START",
	TypeTransactionEnd: "TRANSACTION_END", TypeIntroduce: "INTRODUCE", TypeRelease: "RELEASE",
	TypeGetDomainPath: "GET_DOMAIN_PATH", TypeWrite: "WRITE", TypeMkdir: "MKDIR", TypeRm: "RM",
	TypeSetPerms: "SET_PERMS", TypeWatchEvent: "WATCH_EVENT", TypeError: "ERROR",
	TypeIsDomainIntro: "IS_DOMAIN_INTRODUCED", TypeResume: "RESUME", TypeSetTarget: "SET_TARGET",
	TypeResetWatches: "RESET_WATCHES", TypeDirectoryPart: "DIRECTORY_PART",
}

func (t MsgType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("TYPE_%d", uint32(t))
}

// Protocol limits (xs_wire.h).
const (
	HeaderSize     = 16
	PayloadMax     = 4096 // XENSTORE_PAYLOAD_MAX
	AbsPathMax     = 3072 // XENSTORE_ABS_PATH_MAX
	RelPathMax     = 2048 // XENSTORE_REL_PATH_MAX
	DefaultSocket  = "/var/run/xenstored/socket"
	XenbusDevice   = "/dev/xen/xenbus"
	SocketEnvVar   = "XENSTORED_PATH"
	domainPathRoot = "/local/domain/"
)

// Header is struct xsd_sockmsg.
type Header struct {
	Type  MsgType
	ReqID uint32
	TxID  uint32
	Len   uint32
}

// Msg is one framed message.
type Msg struct {
	Header
	Payload []byte
}

// Errno is a xenstore error name as carried in an XS_ERROR payload.
type Errno string

// The error names xenstored sends, in xsd_errors order.
const (
	EINVAL    Errno = "EINVAL"
	EACCES    Errno = "EACCES"
	EEXIST    Errno = "EEXIST"
	EISDIR    Errno = "EISDIR"
	ENOENT    Errno = "ENOENT"
	ENOMEM    Errno = "ENOMEM"
	ENOSPC    Errno = "ENOSPC"
	EIO       Errno = "EIO"
	ENOTEMPTY Errno = "ENOTEMPTY"
	ENOSYS    Errno = "ENOSYS"
	EROFS     Errno = "EROFS"
	EBUSY     Errno = "EBUSY"
	EAGAIN    Errno = "EAGAIN"
	EISCONN   Errno = "EISCONN"
	E2BIG     Errno = "E2BIG"
	EPERM     Errno = "EPERM"
)

// KnownErrnos lists every name in xsd_errors.
var KnownErrnos = []Errno{EINVAL, EACCES, EEXIST, EISDIR, ENOENT, ENOMEM, ENOSPC, EIO,
	ENOTEMPTY, ENOSYS, EROFS, EBUSY, EAGAIN, EISCONN, E2BIG, EPERM}

func (e Errno) Error() string { return string(e) }

// Error is a failed request: the operation, the path it named and the errno.
type Error struct {
	Op    MsgType
	Path  string
	Errno Errno
}

func (e *Error) Error() string {
	if e.Path != "" {
		return fmt.Sprintf("xenstore: %s %s: %s", e.Op, e.Path, e.Errno)
	}
	return fmt.Sprintf("xenstore: %s: %s", e.Op, e.Errno)
}

// Unwrap lets errors.Is(err, xenstore.ENOENT) work.
func (e *Error) Unwrap() error { return e.Errno }

// ErrnoOf returns the xenstore errno carried by err, or "" when it has none.
func ErrnoOf(err error) Errno {
	var e Errno
	if errors.As(err, &e) {
		return e
	}
	return ""
}

// ErrClosed is returned for requests on a connection that has gone away.
var ErrClosed = errors.New("xenstore: connection closed")

// ReadMsg reads one message. A header announcing more than PayloadMax bytes is a
// protocol error: the caller must drop the connection, as xenstored does.
func ReadMsg(r io.Reader) (Msg, error) {
	if br, ok := r.(*bufio.Reader); ok {
		return readBuffered(br)
	}
	var hb [HeaderSize]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		return Msg{}, err
	}
	return readPayload(r, hb[:])
}

// readBuffered is ReadMsg from a buffered reader (the client's and the
// server's): the header is read in place, so a message costs one
// allocation, its payload.
func readBuffered(br *bufio.Reader) (Msg, error) {
	hb, err := br.Peek(HeaderSize)
	if err != nil {
		if len(hb) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF // as io.ReadFull says of a partial header
		}
		return Msg{}, err
	}
	var h [HeaderSize]byte
	copy(h[:], hb)
	br.Discard(HeaderSize)
	return readPayload(br, h[:])
}

func readPayload(r io.Reader, hb []byte) (Msg, error) {
	h := Header{
		Type:  MsgType(binary.LittleEndian.Uint32(hb[0:])),
		ReqID: binary.LittleEndian.Uint32(hb[4:]),
		TxID:  binary.LittleEndian.Uint32(hb[8:]),
		Len:   binary.LittleEndian.Uint32(hb[12:]),
	}
	if h.Len > PayloadMax {
		return Msg{Header: h}, fmt.Errorf("xenstore: %s payload of %d bytes exceeds %d", h.Type, h.Len, PayloadMax)
	}
	p := make([]byte, h.Len)
	if _, err := io.ReadFull(r, p); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Msg{Header: h}, err
	}
	return Msg{Header: h, Payload: p}, nil
}

// AppendMsg appends the framed message to b.
func AppendMsg(b []byte, t MsgType, reqID, txID uint32, payload []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(t))
	b = binary.LittleEndian.AppendUint32(b, reqID)
	b = binary.LittleEndian.AppendUint32(b, txID)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// SplitStrings splits a payload of NUL-terminated strings. A trailing part with no
// NUL is returned as well (some replies, like READ, are not NUL-terminated).
func SplitStrings(p []byte) []string {
	if len(p) == 0 {
		return nil
	}
	s := string(p)
	s = strings.TrimSuffix(s, "\x00")
	return strings.Split(s, "\x00")
}

// JoinStrings builds a payload of NUL-terminated strings.
func JoinStrings(parts ...string) []byte {
	n := 0
	for _, p := range parts {
		n += len(p) + 1
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
		b = append(b, 0)
	}
	return b
}

// Perm is one entry of a node's permission list.
type Perm struct {
	Domid uint32
	Mode  PermMode
}

// PermMode is the access a Perm grants.
type PermMode byte

// Permission letters as on the wire.
const (
	PermNone  PermMode = 'n'
	PermRead  PermMode = 'r'
	PermWrite PermMode = 'w'
	PermBoth  PermMode = 'b'
)

func (p Perm) String() string { return fmt.Sprintf("%c%d", p.Mode, p.Domid) }

// ParsePerm parses "r5", "b0" and the like.
func ParsePerm(s string) (Perm, error) {
	if len(s) < 2 {
		return Perm{}, fmt.Errorf("xenstore: bad permission %q", s)
	}
	m := PermMode(s[0])
	switch m {
	case PermNone, PermRead, PermWrite, PermBoth:
	default:
		return Perm{}, fmt.Errorf("xenstore: bad permission %q", s)
	}
	var id uint32
	for _, c := range s[1:] {
		if c < '0' || c > '9' || id > 1<<24 {
			return Perm{}, fmt.Errorf("xenstore: bad permission %q", s)
		}
		id = id*10 + uint32(c-'0')
	}
	return Perm{Domid: id, Mode: m}, nil
}

// Allows reports whether the mode grants read (want 'r') or write (want 'w').
func (m PermMode) Allows(want PermMode) bool {
	return m == PermBoth || m == want
}
