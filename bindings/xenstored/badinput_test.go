package xenstored

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	xs "luxen/bindings/xenstore"
)

// rawConn speaks bytes to the server as dom0 and reads raw replies.
func rawConn(t *testing.T, sock string) net.Conn {
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(3 * time.Second))
	return c
}

func roundTrip(t *testing.T, c net.Conn, msg []byte) xs.Msg {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	m, err := xs.ReadMsg(c)
	if err != nil {
		t.Fatalf("no reply: %v", err)
	}
	return m
}

func errName(m xs.Msg) string {
	if m.Type != xs.TypeError {
		return "OK:" + string(m.Payload)
	}
	return strings.TrimRight(string(m.Payload), "\x00")
}

func TestBadInputGetsTheDocumentedAnswer(t *testing.T) {
	_, good, sock := serve(t)
	x := ctx(t)
	c := rawConn(t, sock)
	cases := []struct {
		name string
		msg  []byte
		want string
	}{
		{"unknown type 20", xs.AppendMsg(nil, 20, 1, 0, xs.JoinStrings("/")), "ENOSYS"},
		{"unknown type 99", xs.AppendMsg(nil, 99, 2, 0, nil), "ENOSYS"},
		{"path not NUL-terminated", xs.AppendMsg(nil, xs.TypeRead, 3, 0, []byte("/tool")), "EINVAL"},
		{"absolute path over 3072", xs.AppendMsg(nil, xs.TypeRead, 4, 0, xs.JoinStrings("/"+strings.Repeat("a", 3072))), "EINVAL"},
		{"relative path over 2048", xs.AppendMsg(nil, xs.TypeWrite, 5, 0, []byte(strings.Repeat("a", 2049)+"\x00v")), "EINVAL"},
		{"bad characters", xs.AppendMsg(nil, xs.TypeRead, 6, 0, xs.JoinStrings("/a b")), "EINVAL"},
		{"token too large for any event", xs.AppendMsg(nil, xs.TypeWatch, 7, 0, xs.JoinStrings("/w", strings.Repeat("t", 1100))), "E2BIG"},
		{"unknown transaction", xs.AppendMsg(nil, xs.TypeRead, 8, 77, xs.JoinStrings("/tool")), "ENOENT"},
		{"transaction inside a transaction", xs.AppendMsg(nil, xs.TypeTransactionStart, 9, 5, xs.JoinStrings("")), "EBUSY"},
		{"rm of the root", xs.AppendMsg(nil, xs.TypeRm, 10, 0, xs.JoinStrings("/")), "EINVAL"},
		{"introduce of dom0", xs.AppendMsg(nil, xs.TypeIntroduce, 11, 0, xs.JoinStrings("0", "1", "1")), "EINVAL"},
		{"release of an unknown domain", xs.AppendMsg(nil, xs.TypeRelease, 12, 0, xs.JoinStrings("55")), "ENOENT"},
		{"set_perms with a bad entry", xs.AppendMsg(nil, xs.TypeSetPerms, 13, 0, xs.JoinStrings("/tool", "z0")), "EINVAL"},
	}
	for _, tc := range cases {
		m := roundTrip(t, c, tc.msg)
		if got := errName(m); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
		}
	}
	// a header announcing more than 4096 bytes closes that connection...
	hdr := make([]byte, 16)
	binary.LittleEndian.PutUint32(hdr[0:], uint32(xs.TypeWrite))
	binary.LittleEndian.PutUint32(hdr[12:], 5000)
	bad := rawConn(t, sock)
	bad.Write(hdr)
	if _, err := xs.ReadMsg(bad); !errors.Is(err, io.EOF) {
		t.Errorf("oversized header: connection not closed (%v)", err)
	}
	// ... and so does a truncated packet followed by the client going away
	trunc := rawConn(t, sock)
	trunc.Write(xs.AppendMsg(nil, xs.TypeWrite, 1, 0, xs.JoinStrings("/x", "y"))[:20])
	trunc.Close()
	// while everyone else is served as before
	if err := good.Root().Write(x, "/still/served", "1"); err != nil {
		t.Fatal(err)
	}
	if m := roundTrip(t, c, xs.AppendMsg(nil, xs.TypeRead, 14, 0, xs.JoinStrings("/still/served"))); string(m.Payload) != "1" {
		t.Fatalf("after bad input: %+v", m)
	}
}
