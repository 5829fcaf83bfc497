//go:build linux

package evtchn

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl numbers of include/uapi/xen/evtchn.h (checked by device_test.go).
const (
	ioctlBindVirq        = 0x44500
	ioctlBindInterdomain = 0x84501
	ioctlBindUnboundPort = 0x44502
	ioctlUnbind          = 0x44503
	ioctlNotify          = 0x44504
	ioctlReset           = 0x4505
	DevicePath           = "/dev/xen/evtchn"
	portsPerRead         = 64
)

type bindInterdomainArg struct {
	RemoteDomain uint32
	RemotePort   uint32
}

// Device is an open /dev/xen/evtchn. Its fd is non-blocking and read through
// Go's netpoller, so waiting for events costs no thread.
type Device struct {
	f     *os.File
	demux *Demux

	mu   sync.Mutex
	mine map[uint32]bool
}

var _ Handle = (*Device)(nil)

// Open opens the event channel device and starts reading fired ports.
func Open() (*Device, error) {
	fd, err := unix.Open(DevicePath, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("evtchn: open %s: %w", DevicePath, err)
	}
	d := &Device{f: os.NewFile(uintptr(fd), DevicePath), demux: NewDemux(), mine: map[uint32]bool{}}
	go d.readLoop()
	return d, nil
}

// readLoop records fired ports and unmasks them (a fired port stays masked
// until written back); the Demux remembers it until someone waits.
func (d *Device) readLoop() {
	buf := make([]byte, 4*portsPerRead)
	for {
		n, err := d.f.Read(buf)
		if err != nil {
			d.demux.Fail(fmt.Errorf("evtchn: read: %w", err))
			return
		}
		for i := 0; i+4 <= n; i += 4 {
			d.demux.Fire(binary.LittleEndian.Uint32(buf[i:]))
		}
		if _, err := d.f.Write(buf[:n]); err != nil {
			d.demux.Fail(fmt.Errorf("evtchn: unmask: %w", err))
			return
		}
	}
}

func (d *Device) ioctl(op string, req uintptr, arg unsafe.Pointer) (uint32, error) {
	rc, err := d.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var r uintptr
	var e syscall.Errno
	if cerr := rc.Control(func(fd uintptr) {
		r, _, e = unix.Syscall(unix.SYS_IOCTL, fd, req, uintptr(arg))
	}); cerr != nil {
		return 0, cerr
	}
	if e != 0 {
		return 0, os.NewSyscallError("evtchn "+op, e)
	}
	return uint32(r), nil
}

func (d *Device) bound(p uint32, err error) (uint32, error) {
	if err == nil {
		d.mu.Lock()
		d.mine[p] = true
		d.mu.Unlock()
	}
	return p, err
}

// BindUnbound is IOCTL_EVTCHN_BIND_UNBOUND_PORT.
func (d *Device) BindUnbound(_ context.Context, remote uint32) (uint32, error) {
	a := remote
	return d.bound(d.ioctl("bind_unbound_port", ioctlBindUnboundPort, unsafe.Pointer(&a)))
}

// BindInterdomain is IOCTL_EVTCHN_BIND_INTERDOMAIN.
func (d *Device) BindInterdomain(_ context.Context, remote, rport uint32) (uint32, error) {
	a := bindInterdomainArg{RemoteDomain: remote, RemotePort: rport}
	return d.bound(d.ioctl("bind_interdomain", ioctlBindInterdomain, unsafe.Pointer(&a)))
}

// BindVirq is IOCTL_EVTCHN_BIND_VIRQ.
func (d *Device) BindVirq(_ context.Context, virq uint32) (uint32, error) {
	a := virq
	return d.bound(d.ioctl("bind_virq", ioctlBindVirq, unsafe.Pointer(&a)))
}

// Unbind is IOCTL_EVTCHN_UNBIND.
func (d *Device) Unbind(_ context.Context, p uint32) error {
	a := p
	_, err := d.ioctl("unbind", ioctlUnbind, unsafe.Pointer(&a))
	if err == nil {
		d.mu.Lock()
		delete(d.mine, p)
		d.mu.Unlock()
	}
	return err
}

// Notify is IOCTL_EVTCHN_NOTIFY.
func (d *Device) Notify(_ context.Context, p uint32) error {
	a := p
	_, err := d.ioctl("notify", ioctlNotify, unsafe.Pointer(&a))
	return err
}

// Wait blocks until port p fires.
func (d *Device) Wait(ctx context.Context, p uint32) error {
	d.mu.Lock()
	ok := d.mine[p]
	d.mu.Unlock()
	if !ok {
		return fmt.Errorf("evtchn: wait: port %d is not bound by this handle", p)
	}
	return d.demux.Wait(ctx, p)
}

// Close closes the device; the kernel unbinds its ports.
func (d *Device) Close() error {
	d.demux.Fail(os.ErrClosed)
	return d.f.Close()
}
