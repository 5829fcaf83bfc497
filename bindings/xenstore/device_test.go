package xenstore

import (
	"bytes"
	"errors"
	"syscall"
	"testing"
)

// kernelDevice models Linux's xenbus_file_write: it buffers one message,
// acts on it once whole, then empties its buffer (dropping whatever else the
// write held), and refuses a write longer than its buffer with EINVAL.
type kernelDevice struct {
	buf  []byte
	got  []Msg
	max  int
	fail bool
}

func (k *kernelDevice) Write(b []byte) (int, error) {
	if len(b)+len(k.buf) > HeaderSize+PayloadMax {
		k.buf = nil
		return 0, syscall.EINVAL
	}
	k.buf = append(k.buf, b...)
	k.max = max(k.max, len(b))
	if len(k.buf) < HeaderSize {
		return len(b), nil
	}
	m, err := ReadMsg(bytes.NewReader(k.buf))
	if err != nil {
		return len(b), nil // incomplete payload: wait for more
	}
	k.got = append(k.got, m)
	k.buf = nil // the rest of this write is gone, as in the kernel
	return len(b), nil
}
func (k *kernelDevice) Read([]byte) (int, error) { return 0, errors.New("not read here") }
func (k *kernelDevice) Close() error             { return nil }

func TestDeviceConnWritesOneMessageAWrite(t *testing.T) {
	var batch []byte
	want := []string{"/a", "/b", string(bytes.Repeat([]byte("x"), 3000)), "/c"}
	for i, p := range want {
		batch = AppendMsg(batch, TypeRead, uint32(i+1), 0, append([]byte(p), 0))
	}
	// what the client did before: the whole batch in one write loses all
	// but the first message (or, past one buffer, all of them)
	k := &kernelDevice{}
	k.Write(batch)
	if len(k.got) == len(want) {
		t.Fatalf("the model of the device took %d messages from one write: it is not the kernel's", len(k.got))
	}

	k = &kernelDevice{}
	n, err := deviceConn{k}.Write(batch)
	if err != nil || n != len(batch) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(batch))
	}
	if len(k.got) != len(want) {
		t.Fatalf("the device got %d messages, want %d", len(k.got), len(want))
	}
	for i, m := range k.got {
		if m.ReqID != uint32(i+1) || string(bytes.TrimRight(m.Payload, "\x00")) != want[i] {
			t.Errorf("message %d: req %d payload %.10q", i, m.ReqID, m.Payload)
		}
	}
	if k.max > HeaderSize+PayloadMax {
		t.Errorf("a write of %d bytes", k.max)
	}
}
