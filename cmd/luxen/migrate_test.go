package main

import (
	"bytes"
	"io"
	"os"
	"syscall"
	"testing"

	"luxen/bindings/savestream"
)

// A stream arriving on a socket (as ssh may give it) reaches the restore
// through a pipe, up to libxl's END, and the pipe ends there; the protocol's
// next message (which the sender sends only once told the domain is ready)
// is the receiver's to read from the socket.
func TestStreamPathOfASocket(t *testing.T) {
	var stream bytes.Buffer
	w := savestream.NewWriter(&stream)
	w.XLHeader(savestream.XLHeader{MandatoryFlags: savestream.XLFlagJSON | savestream.XLFlagStreamV2, Config: []byte("{}\x00")})
	w.LibxlHeader()
	w.LibxlRecord(savestream.LibxlLibxcContext, nil)
	w.LibxcHeaders(savestream.DomainHeader{Type: savestream.DomainX86HVM, XenMajor: 4, XenMinor: 17})
	w.Record(savestream.RecStaticDataEnd, nil)
	w.PageData([]uint64{0, 1}, []savestream.PageType{savestream.PageNormal, savestream.PageXTab}, bytes.Repeat([]byte{7}, savestream.PageSize))
	w.Record(savestream.RecEnd, nil)
	w.LibxlRecord(savestream.LibxlEnd, nil)
	w.Flush()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	recv, send := os.NewFile(uintptr(fds[0]), "recv"), os.NewFile(uintptr(fds[1]), "send")
	defer recv.Close()
	defer send.Close()
	go send.Write(stream.Bytes())
	path, done, err := streamPath(recv)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(got, stream.Bytes()) {
		t.Fatalf("the restore's side read %d bytes (%v), the stream has %d", len(got), err, stream.Len())
	}
	if err := done(); err != nil {
		t.Fatal(err)
	}
	send.Write([]byte(migrateGo))
	if err := readFixed(recv, migrateGo, "permission to go"); err != nil {
		t.Fatalf("the message after the stream: %v", err)
	}
}
