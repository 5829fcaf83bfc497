//go:build linux

package hypercall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Privcmd is the Hypervisor of a real Xen host, driven through
// /dev/xen/privcmd's IOCTL_PRIVCMD_HYPERCALL. Hypercall arguments live in
// buffers Xen may read and write at any time during the call, so they are
// never Go heap memory: they come from /dev/xen/hypercall (as libxencall does)
// or, on older kernels, from locked anonymous pages kept out of fork children.
type Privcmd struct {
	f       *os.File
	version Version

	mu    sync.Mutex // guards free, maps and made; never held across a hypercall or an mmap
	freed sync.Cond  // a buffer was put back (or a reserved one failed to map)
	free  [][]byte
	maps  [][]byte
	made  int // buffers mapped or being mapped

	liveMu sync.Mutex // guards live; never held across a hypercall
	live   map[uint32]*liveSave
}

const (
	pageSize = 4096
	bufPages = 32 // one buffer: enough for getdomaininfolist of 1000 domains
	// buffers are mapped as calls need them, up to bufMax in flight at once;
	// a call beyond that waits for one to come back (hundreds of creates at
	// once in one supervisor did fail with EBUSY when the pool was a fixed 8)
	bufMax       = 32
	hypercallDev = "/dev/xen/hypercall"
)

// OpenPrivcmd opens the hypervisor interface and checks that it speaks Xen
// 4.17's domctl/sysctl interface.
func OpenPrivcmd() (*Privcmd, error) {
	f, err := os.OpenFile(PrivcmdPath, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("hypercall: open %s: %w", PrivcmdPath, err)
	}
	p := &Privcmd{f: f}
	p.freed.L = &p.mu
	v, err := p.xenVersion()
	if err != nil {
		p.Close()
		return nil, err
	}
	p.version = v
	if err := CheckVersion(v); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// allocBuffer maps hypercall-safe memory.
func allocBuffer(n int) ([]byte, error) {
	if fd, err := unix.Open(hypercallDev, unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		b, err := unix.Mmap(fd, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		unix.Close(fd)
		if err == nil {
			return b, nil
		}
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("hypercall: mmap buffer: %w", err)
	}
	if err := unix.Mlock(b); err != nil {
		unix.Munmap(b)
		return nil, fmt.Errorf("hypercall: mlock buffer: %w", err)
	}
	if err := unix.Madvise(b, unix.MADV_DONTFORK); err != nil {
		unix.Munmap(b)
		return nil, fmt.Errorf("hypercall: madvise buffer: %w", err)
	}
	return b, nil
}

// Close releases the device and the buffers.
func (p *Privcmd) Close() error {
	p.mu.Lock()
	maps := p.maps
	p.maps, p.free = nil, nil
	p.mu.Unlock()
	for _, b := range maps {
		unix.Munmap(b)
	}
	return p.f.Close()
}

// get returns a free buffer, maps a new one while fewer than bufMax exist,
// or waits for one to be put back.
func (p *Privcmd) get() ([]byte, error) {
	p.mu.Lock()
	for len(p.free) == 0 && p.made >= bufMax {
		p.freed.Wait()
	}
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return b, nil
	}
	p.made++ // reserved: mapped outside the lock
	p.mu.Unlock()
	b, err := allocBuffer(bufPages * pageSize)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.made--
		p.freed.Signal() // the slot is free for a waiter to try
		return nil, err
	}
	p.maps = append(p.maps, b)
	return b, nil
}

func (p *Privcmd) put(b []byte) {
	clear(b[:pageSize])
	p.mu.Lock()
	p.free = append(p.free, b)
	p.mu.Unlock()
	p.freed.Signal()
}

// withBuffer runs fn with a hypercall buffer, waiting for one when bufMax
// calls are in flight.
func (p *Privcmd) withBuffer(op string, fn func(b []byte) error) error {
	b, err := p.get()
	if err != nil {
		return fmt.Errorf("hypercall: %s: %w", op, err)
	}
	defer p.put(b)
	return fn(b)
}

func addr(b []byte) uint64 { return uint64(uintptr(unsafe.Pointer(&b[0]))) }

// hypercall issues one hypercall and returns Xen's (non-negative) result.
func (p *Privcmd) hypercall(op uint64, args ...uint64) (uint64, syscall.Errno) {
	hc := privcmdHypercall{Op: op}
	copy(hc.Arg[:], args)
	r, _, e := unix.Syscall(unix.SYS_IOCTL, p.f.Fd(), ioctlPrivcmdHypercall, uintptr(unsafe.Pointer(&hc)))
	return uint64(r), e
}

func (p *Privcmd) xenVersion() (Version, error) {
	var v Version
	r, e := p.hypercall(hcXenVersion, xenverVersion, 0)
	if e != 0 {
		return v, &Error{Op: "xen_version", Errno: e}
	}
	v.Major, v.Minor = int(r>>16), int(r&0xffff)
	err := p.withBuffer("xen_version", func(b []byte) error {
		if _, e := p.hypercall(hcXenVersion, xenverExtraversion, addr(b)); e != 0 {
			return &Error{Op: "xen_version extraversion", Errno: e}
		}
		v.Extra = strings.TrimRight(string(b[:16]), "\x00")
		return nil
	})
	return v, err
}

// domctl runs one XEN_DOMCTL_* on domain dom; in fills the union before the
// call, out reads it after.
func (p *Privcmd) domctl(name string, cmd uint32, dom uint32, in func(u unsafe.Pointer), out func(d *domctl)) error {
	var inb func(unsafe.Pointer, []byte)
	var outb func(*domctl, []byte)
	if in != nil {
		inb = func(u unsafe.Pointer, _ []byte) { in(u) }
	}
	if out != nil {
		outb = func(d *domctl, _ []byte) { out(d) }
	}
	return p.domctlBuf(name, cmd, dom, inb, outb)
}

// domctlBuf is domctl whose in and out also get the whole hypercall buffer:
// the pages after the first are free for what the union's handles point to.
func (p *Privcmd) domctlBuf(name string, cmd uint32, dom uint32, in func(u unsafe.Pointer, b []byte), out func(d *domctl, b []byte)) error {
	return p.withBuffer(name, func(b []byte) error {
		d := (*domctl)(unsafe.Pointer(&b[0]))
		*d = domctl{Cmd: cmd, InterfaceVersion: DomctlInterfaceVersion, Domain: uint16(dom)}
		if in != nil {
			in(unsafe.Pointer(&d.U[0]), b)
		}
		for {
			_, e := p.hypercall(hcDomctl, addr(b))
			if e == syscall.EAGAIN && cmd == domctlDestroyDomain {
				continue // destroydomain is preemptible: Xen asks to be called again
			}
			if e != 0 {
				return &Error{Op: name, Domid: dom, Errno: e}
			}
			break
		}
		if out != nil {
			out(d, b)
		}
		return nil
	})
}

func (p *Privcmd) sysctl(name string, cmd uint32, in func(u unsafe.Pointer, b []byte), out func(u unsafe.Pointer, b []byte)) error {
	return p.withBuffer(name, func(b []byte) error {
		s := (*sysctl)(unsafe.Pointer(&b[0]))
		*s = sysctl{Cmd: cmd, InterfaceVersion: SysctlInterfaceVersion}
		if in != nil {
			in(unsafe.Pointer(&s.U[0]), b)
		}
		if _, e := p.hypercall(hcSysctl, addr(b)); e != 0 {
			return &Error{Op: name, Errno: e}
		}
		if out != nil {
			out(unsafe.Pointer(&s.U[0]), b)
		}
		return nil
	})
}

// CreateDomain is XEN_DOMCTL_createdomain; Xen picks the domid.
func (p *Privcmd) CreateDomain(_ context.Context, cfg CreateConfig) (uint32, error) {
	var id uint32
	err := p.domctl("createdomain", domctlCreateDomain, 0, func(u unsafe.Pointer) {
		c := (*domctlCreate)(u)
		c.Handle = cfg.UUID
		if cfg.HVM {
			c.Flags |= cdfHVM
			c.Arch.EmulationFlags = x86EmuLAPIC // a PVH container: only the local APIC is emulated
			if cfg.DeviceModel {
				c.Arch.EmulationFlags = x86EmuHVM
			}
		}
		if cfg.HAP {
			c.Flags |= cdfHAP
		}
		if cfg.MSRRelaxed {
			c.Arch.MiscFlags |= x86MSRRelaxed
		}
		c.MaxVcpus = cfg.MaxVcpus
		c.MaxEvtchnPort = 1023 // libxl's default event_channels
		if cfg.MaxEvtchnPort > 0 {
			c.MaxEvtchnPort = uint32(cfg.MaxEvtchnPort)
		}
		c.MaxGrantFrames = cfg.MaxGrantFrames
		c.MaxMaptrackFrames = cfg.MaxMaptrackFrames
		c.GrantOpts = 1 // grant table version 1 at most
	}, func(d *domctl) { id = uint32(d.Domain) })
	return id, err
}

// DestroyDomain is XEN_DOMCTL_destroydomain.
func (p *Privcmd) DestroyDomain(_ context.Context, id uint32) error {
	return p.domctl("destroydomain", domctlDestroyDomain, id, nil, nil)
}

// PauseDomain is XEN_DOMCTL_pausedomain.
func (p *Privcmd) PauseDomain(_ context.Context, id uint32) error {
	return p.domctl("pausedomain", domctlPauseDomain, id, nil, nil)
}

// UnpauseDomain is XEN_DOMCTL_unpausedomain.
func (p *Privcmd) UnpauseDomain(_ context.Context, id uint32) error {
	return p.domctl("unpausedomain", domctlUnpauseDomain, id, nil, nil)
}

// DomainInfo is XEN_DOMCTL_getdomaininfo. Xen answers with the next domain at
// or above the one asked for, so a different answer means "no such domain".
func (p *Privcmd) DomainInfo(_ context.Context, id uint32) (DomainInfo, error) {
	var di DomainInfo
	err := p.domctl("getdomaininfo", domctlGetDomainInfo, id, nil, func(d *domctl) {
		di = (*domctlInfo)(unsafe.Pointer(&d.U[0])).info()
	})
	if err == nil && di.Domid != id {
		return DomainInfo{}, &Error{Op: "getdomaininfo", Domid: id, Errno: syscall.ESRCH}
	}
	return di, err
}

// ListDomains is XEN_SYSCTL_getdomaininfolist, in domid order.
func (p *Privcmd) ListDomains(context.Context) ([]DomainInfo, error) {
	const infoSize = int(unsafe.Sizeof(domctlInfo{}))
	max := (bufPages*pageSize - pageSize) / infoSize
	var out []DomainInfo
	first := uint32(0)
	for {
		var n int
		err := p.sysctl("getdomaininfolist", sysctlGetDomainInfoList, func(u unsafe.Pointer, b []byte) {
			l := (*sysctlDomInfoList)(u)
			l.FirstDomain = uint16(first)
			l.MaxDomains = uint32(max)
			l.Buffer = addr(b[pageSize:])
		}, func(u unsafe.Pointer, b []byte) {
			n = int((*sysctlDomInfoList)(u).NumDomains)
			for i := 0; i < n; i++ {
				out = append(out, (*domctlInfo)(unsafe.Pointer(&b[pageSize+i*infoSize])).info())
			}
		})
		if err != nil {
			return nil, err
		}
		if n < max {
			return out, nil
		}
		first = out[len(out)-1].Domid + 1
	}
}

// SetMaxMem is XEN_DOMCTL_max_mem.
func (p *Privcmd) SetMaxMem(_ context.Context, id uint32, kb uint64) error {
	return p.domctl("max_mem", domctlMaxMem, id, func(u unsafe.Pointer) {
		(*domctlMaxMemArg)(u).MaxMemKB = kb
	}, nil)
}

// SetMaxVcpus is XEN_DOMCTL_max_vcpus.
func (p *Privcmd) SetMaxVcpus(_ context.Context, id uint32, n uint32) error {
	return p.domctl("max_vcpus", domctlMaxVcpus, id, func(u unsafe.Pointer) {
		(*domctlMaxVcpusArg)(u).Max = n
	}, nil)
}

// affinityBytes is the size of each CPU bitmap handed to Xen: 1024 CPUs.
const affinityBytes = 128

// SetVcpuAffinity is XEN_DOMCTL_setvcpuaffinity. Xen refuses (EINVAL) a
// hard affinity with no online CPU of the domain's pool in it.
func (p *Privcmd) SetVcpuAffinity(_ context.Context, id uint32, a VcpuAffinity) error {
	for _, l := range [][]uint32{a.Hard, a.Soft} {
		for _, c := range l {
			if c >= affinityBytes*8 {
				return &Error{Op: "setvcpuaffinity", Domid: id, Errno: syscall.EINVAL, Msg: fmt.Sprintf("CPU %d", c)}
			}
		}
	}
	return p.domctlBuf("setvcpuaffinity", domctlSetVcpuAffinity, id, func(u unsafe.Pointer, b []byte) {
		// a buffer comes back with only its first page cleared (put)
		clear(b[pageSize : pageSize+2*affinityBytes])
		v := (*domctlVcpuAffinity)(u)
		v.Vcpu = a.Vcpu
		hard, soft := b[pageSize:pageSize+affinityBytes], b[pageSize+affinityBytes:pageSize+2*affinityBytes]
		if a.Hard != nil {
			v.Flags |= vcpuAffinityHard
			v.Hard = xenctlBitmap{Bitmap: addr(hard), NrBits: affinityBytes * 8}
			for _, c := range a.Hard {
				hard[c/8] |= 1 << (c % 8)
			}
		}
		if a.Soft != nil {
			v.Flags |= vcpuAffinitySoft
			v.Soft = xenctlBitmap{Bitmap: addr(soft), NrBits: affinityBytes * 8}
			for _, c := range a.Soft {
				soft[c/8] |= 1 << (c % 8)
			}
		}
	}, nil)
}

// VcpuAffinity is XEN_DOMCTL_getvcpuaffinity.
func (p *Privcmd) VcpuAffinity(_ context.Context, id uint32, vcpu uint32) (VcpuAffinity, error) {
	a := VcpuAffinity{Vcpu: vcpu}
	err := p.domctlBuf("getvcpuaffinity", domctlGetVcpuAffinity, id, func(u unsafe.Pointer, b []byte) {
		clear(b[pageSize : pageSize+2*affinityBytes])
		v := (*domctlVcpuAffinity)(u)
		v.Vcpu, v.Flags = vcpu, vcpuAffinityHard|vcpuAffinitySoft
		v.Hard = xenctlBitmap{Bitmap: addr(b[pageSize:]), NrBits: affinityBytes * 8}
		v.Soft = xenctlBitmap{Bitmap: addr(b[pageSize+affinityBytes:]), NrBits: affinityBytes * 8}
	}, func(_ *domctl, b []byte) {
		a.Hard = cpuList(b[pageSize : pageSize+affinityBytes])
		a.Soft = cpuList(b[pageSize+affinityBytes : pageSize+2*affinityBytes])
	})
	return a, err
}

// VcpuInfo is XEN_DOMCTL_getvcpuinfo.
func (p *Privcmd) VcpuInfo(_ context.Context, id uint32, vcpu uint32) (VcpuInfo, error) {
	vi := VcpuInfo{Vcpu: vcpu}
	err := p.domctl("getvcpuinfo", domctlGetVcpuInfo, id, func(u unsafe.Pointer) {
		(*domctlVcpuInfo)(u).Vcpu = vcpu
	}, func(d *domctl) {
		x := (*domctlVcpuInfo)(unsafe.Pointer(&d.U[0]))
		vi.Online, vi.Blocked, vi.Running = x.Online != 0, x.Blocked != 0, x.Running != 0
		vi.CPUTime, vi.CPU = x.CPUTime, x.CPU
	})
	return vi, err
}

// ReadConsole is XEN_SYSCTL_readconsole, read as libxl does: incrementally
// from index 0, a buffer at a time, until Xen has no more.
func (p *Privcmd) ReadConsole(_ context.Context, clear bool) (string, error) {
	var out strings.Builder
	index := uint32(0)
	for {
		n := 0
		err := p.sysctl("readconsole", sysctlReadConsole, func(u unsafe.Pointer, b []byte) {
			r := (*sysctlReadConsoleArg)(u)
			r.Incremental, r.Index = 1, index
			if clear {
				r.Clear = 1
			}
			r.Buffer, r.Count = addr(b[pageSize:]), uint32(len(b)-pageSize)
		}, func(u unsafe.Pointer, b []byte) {
			r := (*sysctlReadConsoleArg)(u)
			n, index = int(r.Count), r.Index
			out.Write(b[pageSize : pageSize+n])
		})
		if err != nil {
			return "", err
		}
		if n == 0 {
			return out.String(), nil
		}
	}
}

var schedNames = map[uint32]string{schedulerCredit: "credit", schedulerCredit2: "credit2", schedulerRTDS: "rtds", schedulerNull: "null"}

// schedID is XEN_SYSCTL_sched_id: the scheduler of the host's default pool.
func (p *Privcmd) schedID() (uint32, error) {
	var id uint32
	err := p.sysctl("sched_id", sysctlSchedID, nil, func(u unsafe.Pointer, _ []byte) { id = *(*uint32)(u) })
	return id, err
}

// SchedParams is XEN_DOMCTL_scheduler_op getinfo.
func (p *Privcmd) SchedParams(_ context.Context, id uint32) (SchedParams, error) {
	sid, err := p.schedID()
	if err != nil {
		return SchedParams{}, err
	}
	sp := SchedParams{Scheduler: schedNames[sid]}
	if sid != schedulerCredit && sid != schedulerCredit2 {
		return sp, &Error{Op: "scheduler_op", Domid: id, Errno: syscall.EOPNOTSUPP, Msg: "the host's scheduler (" + sp.Scheduler + ") has no weight or cap"}
	}
	err = p.domctl("scheduler_op", domctlSchedulerOp, id, func(u unsafe.Pointer) {
		s := (*domctlSchedOp)(u)
		s.SchedID, s.Cmd = sid, schedopGetInfo
	}, func(d *domctl) {
		s := (*domctlSchedOp)(unsafe.Pointer(&d.U[0]))
		sp.Weight, sp.Cap = s.Weight, s.Cap
	})
	return sp, err
}

// SetSchedParams is XEN_DOMCTL_scheduler_op putinfo.
func (p *Privcmd) SetSchedParams(_ context.Context, id uint32, sp SchedParams) error {
	sid, err := p.schedID()
	if err != nil {
		return err
	}
	if schedNames[sid] != sp.Scheduler {
		return &Error{Op: "scheduler_op", Domid: id, Errno: syscall.EINVAL, Msg: "the host's scheduler is " + schedNames[sid] + ", not " + sp.Scheduler}
	}
	return p.domctl("scheduler_op", domctlSchedulerOp, id, func(u unsafe.Pointer) {
		s := (*domctlSchedOp)(u)
		s.SchedID, s.Cmd, s.Weight, s.Cap = sid, schedopPutInfo, sp.Weight, sp.Cap
	}, nil)
}

// cpuList is the CPU numbers whose bits are set in a xenctl_bitmap.
func cpuList(m []byte) []uint32 {
	l := []uint32{}
	for i, x := range m {
		for bit := 0; bit < 8; bit++ {
			if x&(1<<bit) != 0 {
				l = append(l, uint32(i*8+bit))
			}
		}
	}
	return l
}

// EvtchnStatus is EVTCHNOP_status.
func (p *Privcmd) EvtchnStatus(_ context.Context, id uint32, port uint32) (PortStatus, error) {
	var st PortStatus
	err := p.withBuffer("evtchn status", func(b []byte) error {
		a := (*evtchnStatus)(unsafe.Pointer(&b[0]))
		*a = evtchnStatus{Dom: uint16(id), Port: port}
		if _, e := p.hypercall(hcEventChannelOp, evtchnopStatus, addr(b)); e != 0 {
			return &Error{Op: "evtchn status", Domid: id, Errno: e, Msg: fmt.Sprintf("port %d", port)}
		}
		st = PortStatus{State: PortState(a.Status)}
		switch st.State {
		case PortUnbound:
			st.RemoteDom = uint32(a.RemoteDom)
		case PortInterdomain:
			st.RemoteDom, st.RemotePort = uint32(a.RemoteDom), a.RemotePort
		}
		return nil
	})
	return st, err
}

// HVMParam is HVMOP_get_param.
func (p *Privcmd) HVMParam(_ context.Context, id uint32, index uint32) (uint64, error) {
	var v uint64
	err := p.withBuffer("hvm get_param", func(b []byte) error {
		a := (*hvmParam)(unsafe.Pointer(&b[0]))
		*a = hvmParam{Domid: uint16(id), Index: index}
		if _, e := p.hypercall(hcHVMOp, hvmopGetParam, addr(b)); e != 0 {
			return &Error{Op: fmt.Sprintf("hvm get_param %d", index), Domid: id, Errno: e}
		}
		v = a.Value
		return nil
	})
	return v, err
}

// SendTrigger is XEN_DOMCTL_sendtrigger to vCPU 0.
func (p *Privcmd) SendTrigger(_ context.Context, id uint32, t Trigger) error {
	return p.domctl("sendtrigger "+t.String(), domctlSendTrigger, id, func(u unsafe.Pointer) {
		*(*domctlSendTriggerArgs)(u) = domctlSendTriggerArgs{Trigger: uint32(t)}
	}, nil)
}

// Shutdown is SCHEDOP_remote_shutdown.
func (p *Privcmd) Shutdown(_ context.Context, id uint32, reason ShutdownReason) error {
	return p.withBuffer("remote_shutdown", func(b []byte) error {
		*(*schedRemoteShutdown)(unsafe.Pointer(&b[0])) = schedRemoteShutdown{DomainID: uint16(id), Reason: uint32(reason)}
		if _, e := p.hypercall(hcSchedOp, schedopRemoteShutdown, addr(b)); e != 0 {
			return &Error{Op: "remote_shutdown", Domid: id, Errno: e}
		}
		return nil
	})
}

// PhysInfo is XEN_SYSCTL_physinfo.
func (p *Privcmd) PhysInfo(context.Context) (PhysInfo, error) {
	var pi PhysInfo
	err := p.sysctl("physinfo", sysctlPhysinfo, nil, func(u unsafe.Pointer, _ []byte) {
		x := (*sysctlPhysinfoArg)(u)
		pi = PhysInfo{NrCPUs: x.NrCPUs, MaxCPUID: x.MaxCPUID, NrNodes: x.NrNodes, CoresPerSocket: x.CoresPerSocket,
			ThreadsPerCore: x.ThreadsPerCore, CPUKHz: x.CPUKHz, Capabilities: x.Capabilities, HWCap: x.HWCap,
			TotalPages: x.TotalPages, FreePages: x.FreePages, ScrubPages: x.ScrubPages, OutstandingPages: x.OutstandingPages}
	})
	return pi, err
}

// cString is the bytes of b up to its first NUL.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// xenver is one xen_version sub-command whose answer Xen writes to the
// buffer; read gets the buffer (its first page is cleared: every answer
// read here fits in it) and Xen's return value.
func (p *Privcmd) xenver(what string, cmd uint64, in func(b []byte), read func(b []byte, r uint64)) error {
	return p.withBuffer("xen_version "+what, func(b []byte) error {
		if in != nil {
			in(b)
		}
		r, e := p.hypercall(hcXenVersion, cmd, addr(b))
		if e != 0 {
			return &Error{Op: "xen_version " + what, Errno: e}
		}
		read(b, r)
		return nil
	})
}

// HostInfo is xen_version's capabilities, changeset, command line, compile
// information, platform parameters, page size and build id; the default
// pool's scheduler; the memory-sharing counts; and the CPUs in no cpupool.
func (p *Privcmd) HostInfo(ctx context.Context) (HostInfo, error) {
	var hi HostInfo
	text := func(what string, cmd uint64, n int, dst *string) error {
		return p.xenver(what, cmd, nil, func(b []byte, _ uint64) { *dst = cString(b[:n]) })
	}
	steps := []func() error{
		func() error { return text("capabilities", xenverCapabilities, 1024, &hi.Capabilities) },
		func() error { return text("changeset", xenverChangeset, 64, &hi.Changeset) },
		func() error { return text("commandline", xenverCommandline, 1024, &hi.Commandline) },
		func() error {
			return p.xenver("compile_info", xenverCompileInfo, nil, func(b []byte, _ uint64) {
				ci := (*xenCompileInfo)(unsafe.Pointer(&b[0]))
				hi.Compiler, hi.CompileBy = cString(ci.Compiler[:]), cString(ci.CompileBy[:])
				hi.CompileDomain, hi.CompileDate = cString(ci.CompileDomain[:]), cString(ci.CompileDate[:])
			})
		},
		func() error {
			return p.xenver("platform_parameters", xenverPlatformParameters, nil, func(b []byte, _ uint64) {
				hi.VirtStart = *(*uint64)(unsafe.Pointer(&b[0]))
			})
		},
		func() error {
			// no buffer: Xen answers EINVAL to a non-null argument
			r, e := p.hypercall(hcXenVersion, xenverPagesize, 0)
			if e != 0 {
				return &Error{Op: "xen_version pagesize", Errno: e}
			}
			hi.PageSize = uint32(r)
			return nil
		},
		func() error {
			// struct xen_build_id: len in (the room), Xen's return value the
			// bytes written; a Xen built without one says ENODATA
			err := p.xenver("build_id", xenverBuildID, func(b []byte) {
				*(*uint32)(unsafe.Pointer(&b[0])) = pageSize - 4
			}, func(b []byte, r uint64) {
				if r > 0 && r <= pageSize-4 {
					hi.BuildID = fmt.Sprintf("%x", b[4:4+r])
				}
			})
			var he *Error
			if errors.As(err, &he) && (he.Errno == syscall.ENODATA || he.Errno == syscall.EOPNOTSUPP) {
				return nil
			}
			return err
		},
		func() error {
			id, err := p.schedID()
			hi.Scheduler = schedNames[id]
			if hi.Scheduler == "" {
				hi.Scheduler = fmt.Sprintf("scheduler %d", id)
			}
			return err
		},
		func() error {
			for _, m := range []struct {
				cmd uint64
				dst *uint64
			}{{xenmemSharingFreed, &hi.SharingFreedPages}, {xenmemSharingShared, &hi.SharingSharedPages}} {
				r, e := p.hypercall(hcMemoryOp, m.cmd, 0)
				if e != 0 {
					return &Error{Op: "memory_op sharing pages", Errno: e}
				}
				*m.dst = r
			}
			return nil
		},
		func() error {
			return p.sysctl("cpupool_op freeinfo", sysctlCpupoolOp, func(u unsafe.Pointer, b []byte) {
				clear(b[pageSize : pageSize+affinityBytes])
				c := (*sysctlCpupool)(u)
				c.Op = cpupoolOpFreeinfo
				c.Cpumap = xenctlBitmap{Bitmap: addr(b[pageSize:]), NrBits: affinityBytes * 8}
			}, func(_ unsafe.Pointer, b []byte) {
				for _, x := range b[pageSize : pageSize+affinityBytes] {
					hi.FreeCPUs += uint32(bits.OnesCount8(x))
				}
			})
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return hi, err
		}
	}
	return hi, nil
}

// Version is the running hypervisor's version.
func (p *Privcmd) Version(context.Context) (Version, error) { return p.version, nil }

// ErrPVOnly says which guest types the builder loads.
var ErrPVOnly = errors.New("only PVH and HVM guests can be built on real Xen by this luxen (type = \"pvh\" or \"hvm\"); type = \"pv\" is not implemented")

// Build loads a PVH guest (a kernel, an optional ramdisk and command line)
// into the domain. Without a kernel it makes an empty domain: memory exists,
// no vcpu ever runs, and there is no xenstore ring to introduce (StorePort 0).
func (p *Privcmd) Build(_ context.Context, id uint32, spec BuildSpec) (BuildResult, error) {
	if spec.Kernel != "" || spec.Type == "hvm" {
		var res BuildResult
		var err error
		switch spec.Type {
		case "", "pvh":
			res, err = p.buildPVH(id, spec)
		case "hvm":
			res, err = p.buildHVM(id, spec)
		default:
			return BuildResult{}, &Error{Op: "build", Domid: id, Errno: syscall.ENOSYS, Msg: ErrPVOnly.Error()}
		}
		if err != nil {
			var he *Error
			if errors.As(err, &he) {
				return res, &Error{Op: "build", Domid: id, Errno: he.Errno, Msg: err.Error()}
			}
			return res, &Error{Op: "build", Domid: id, Errno: syscall.EINVAL, Msg: err.Error()}
		}
		return res, nil
	}
	if spec.Ramdisk != "" {
		return BuildResult{}, &Error{Op: "build", Domid: id, Errno: syscall.EINVAL, Msg: "a ramdisk without a kernel"}
	}
	if spec.MemoryKB == 0 {
		return BuildResult{}, &Error{Op: "build", Domid: id, Errno: syscall.EINVAL, Msg: "memory is 0"}
	}
	return BuildResult{}, p.populateAt(id, 0, spec.MemoryKB/4, true)
}

var _ Hypervisor = (*Privcmd)(nil)
