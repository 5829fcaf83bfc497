// The xenbus device (/dev/xen/xenbus) as a connection: the same wire format
// as xenstored's socket, carried by Linux's xenbus_dev_frontend driver onto
// the kernel's own connection to xenstored.

package xenstore

import (
	"encoding/binary"
	"io"
	"sync"
)

// deviceConn sends one request at a time over the xenbus device and waits
// for its reply before it sends the next, as libxenstore does (xs_talkv
// holds its request lock from request to reply). The client's batches and
// pipelines still work over it, one request after another; over a socket
// they go out together.
//
// Why: the device is no pipe to xenstored. Older kernels' xenbus_file_write
// act on the first whole message in a write and drop the rest (while
// reporting every byte taken) and refuse a write longer than one message
// with EINVAL; Debian 12's 6.1, given requests back to back on one file,
// answered a read inside a pipelined transaction with another request's
// value, failed a pipelined get_perms, and refused concurrent transactions
// with EINVAL (all seen in the real-Xen suite, xenstore_over_xenbus_spec).
type deviceConn struct {
	dev  io.ReadWriteCloser
	turn chan struct{} // holds a token while no request awaits its reply
	done chan struct{}
	once sync.Once

	// the reader's place in the stream of replies and watch events
	hdr   [HeaderSize]byte
	hn    int // header bytes read of the message being read
	left  int // payload bytes of it still to come
	event bool
}

func newDeviceConn(dev io.ReadWriteCloser) *deviceConn {
	d := &deviceConn{dev: dev, turn: make(chan struct{}, 1), done: make(chan struct{})}
	d.turn <- struct{}{}
	return d
}

// Write sends each message in b once the one before it has its reply.
func (d *deviceConn) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		m := len(b)
		if len(b) >= HeaderSize {
			m = min(HeaderSize+int(binary.LittleEndian.Uint32(b[12:16])), len(b))
		}
		select {
		case <-d.turn:
		case <-d.done:
			return n, io.ErrClosedPipe
		}
		w, err := d.dev.Write(b[:m])
		n += w
		if err != nil {
			d.turn <- struct{}{} // nothing is awaited
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

// Read passes the device's bytes on, and gives the next request its turn
// when a reply (not a watch event) has been read whole.
func (d *deviceConn) Read(p []byte) (int, error) {
	n, err := d.dev.Read(p)
	for q := p[:n]; len(q) > 0; {
		if d.hn < HeaderSize {
			c := copy(d.hdr[d.hn:], q)
			d.hn += c
			q = q[c:]
			if d.hn < HeaderSize {
				break
			}
			d.event = MsgType(binary.LittleEndian.Uint32(d.hdr[0:4])) == TypeWatchEvent
			d.left = int(binary.LittleEndian.Uint32(d.hdr[12:16]))
		}
		c := min(d.left, len(q))
		d.left -= c
		q = q[c:]
		if d.left == 0 {
			d.hn = 0
			if !d.event {
				select {
				case d.turn <- struct{}{}:
				default: // a reply nobody awaited: not ours to count
				}
			}
		}
	}
	return n, err
}

func (d *deviceConn) Close() error {
	d.once.Do(func() { close(d.done) })
	return d.dev.Close()
}
