package xenstore

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestFramingRoundTrip(t *testing.T) {
	b := AppendMsg(nil, TypeWrite, 7, 3, JoinStrings("/a", "v"))
	m, err := ReadMsg(bytes.NewReader(b))
	if err != nil || m.Type != TypeWrite || m.ReqID != 7 || m.TxID != 3 || string(m.Payload) != "/a\x00v\x00" {
		t.Fatalf("%+v %v", m, err)
	}
	// a header announcing more than 4096 bytes is refused before reading it
	big := AppendMsg(nil, TypeWrite, 1, 0, nil)
	big[12], big[13] = 0x01, 0x10 // len = 4097
	if _, err := ReadMsg(bytes.NewReader(big)); err == nil {
		t.Fatal("oversized payload accepted")
	}
	// truncated payload
	if _, err := ReadMsg(bytes.NewReader(b[:len(b)-2])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestPerms(t *testing.T) {
	for _, s := range []string{"r5", "w0", "b12", "n7"} {
		p, err := ParsePerm(s)
		if err != nil || p.String() != s {
			t.Errorf("%s -> %v %v", s, p, err)
		}
	}
	for _, s := range []string{"", "x1", "r", "r-1", "r99999999999"} {
		if _, err := ParsePerm(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func FuzzReadMsg(f *testing.F) {
	f.Add(AppendMsg(nil, TypeRead, 1, 0, JoinStrings("/local/domain/0/name")))
	f.Add(AppendMsg(nil, TypeWatchEvent, 0, 0, JoinStrings("/a", "tok")))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		for {
			m, err := ReadMsg(r)
			if err != nil {
				return
			}
			if int(m.Len) != len(m.Payload) || len(m.Payload) > PayloadMax {
				t.Fatalf("header len %d, payload %d", m.Len, len(m.Payload))
			}
			SplitStrings(m.Payload)
		}
	})
}
