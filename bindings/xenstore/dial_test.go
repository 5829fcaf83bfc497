package xenstore

import (
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDialWaitsForAFullBacklog: a xenstored listening with cxenstored's
// backlog of 1 that is slow to accept makes a non-blocking connect fail with
// EAGAIN; Dial waits, as libxenstore's blocking connect does.
func TestDialWaitsForAFullBacklog(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "xs.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	// fill the backlog: these connect, nobody accepts them yet
	var fillers []int
	for i := 0; i < 3; i++ {
		c, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
		if unix.Connect(c, &unix.SockaddrUnix{Name: sock}) != nil {
			unix.Close(c)
			break
		}
		fillers = append(fillers, c)
	}
	defer func() {
		for _, c := range fillers {
			unix.Close(c)
		}
	}()
	done := make(chan error, 1)
	go func() {
		c, err := dialSocket(sock)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("dial returned before the server accepted anything: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	// the server gets round to accepting
	go func() {
		for {
			nfd, _, err := unix.Accept(fd)
			if err != nil {
				return
			}
			defer unix.Close(nfd)
		}
	}()
	if err := <-done; err != nil {
		t.Fatalf("dial after the backlog drained: %v", err)
	}
}
