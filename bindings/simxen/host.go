// Package simxen is the embedded simulated host: a hypervisor that keeps domains
// the way Xen does (domids from a rover, states, shutdown reasons, memory accounted
// against the host), an embedded xenstored, event channels, and simulated guests
// that talk to xenstore as their own domain and answer control/shutdown like a
// Linux guest. What it cannot do honestly (run a real kernel) it says so.
package simxen

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	hc "luxen/bindings/hypercall"
	"luxen/bindings/pvh"
	"luxen/bindings/xenstored"
)

// Options size the simulated machine.
type Options struct {
	TotalMemKB uint64        // host memory; default 8 GiB
	Dom0MemKB  uint64        // dom0's share; default 1 GiB
	CPUs       uint32        // default 4
	BootDelay  time.Duration // how long a simulated guest takes to boot
	Quota      xenstored.Quota
}

func (o *Options) defaults() {
	if o.TotalMemKB == 0 {
		o.TotalMemKB = 8 << 20
	}
	if o.Dom0MemKB == 0 {
		o.Dom0MemKB = 1 << 20
	}
	if o.CPUs == 0 {
		o.CPUs = 4
	}
	if o.Quota == (xenstored.Quota{}) {
		o.Quota = xenstored.DefaultQuota
	}
}

const pageKB = 4

// Host is one simulated Xen machine.
type Host struct {
	XS   *xenstored.Server
	opts Options

	mu      sync.Mutex
	doms    map[uint32]*domain
	rover   uint32
	ports   map[uint32]map[uint32]*port // domid -> port -> state
	virqs   map[*Evtchn][]uint32        // VIRQ_DOM_EXC bindings: handle -> local ports
	closed  bool
	started time.Time
	backend *backendDriver
	conring []byte                  // the simulated hypervisor's console ring (xl dmesg)
	live    map[uint32]*simLiveSave // live saves between their calls
}

// conringSize is Xen's default console ring (conring_size, 16 KiB).
const conringSize = 16 << 10

// logf writes a line to the console ring, in the simulator's own words
// (Xen's messages are Xen's; these say what the simulated host did).
// Callers hold h.mu.
func (h *Host) logf(format string, a ...any) {
	h.conring = append(h.conring, fmt.Sprintf("(XEN) sim: "+format+"\n", a...)...)
	if over := len(h.conring) - conringSize; over > 0 {
		h.conring = append(h.conring[:0], h.conring[over:]...)
	}
}

// The simulated host schedules as Xen 4.17's default, credit2: a weight
// (default 256) and a cap in percent of a CPU, at most 100 a vCPU
// (xen/common/sched/credit2.c, csched2_dom_cntl).
const simScheduler, defaultWeight = "credit2", 256

// SchedParams is XEN_DOMCTL_scheduler_op getinfo.
func (h *Host) SchedParams(_ context.Context, id uint32) (hc.SchedParams, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("scheduler_op", id)
	if err != nil {
		return hc.SchedParams{}, err
	}
	w := d.weight
	if w == 0 {
		w = defaultWeight
	}
	return hc.SchedParams{Scheduler: simScheduler, Weight: w, Cap: d.schedCap}, nil
}

// SetSchedParams is XEN_DOMCTL_scheduler_op putinfo: a weight of 0 leaves
// the weight as it is; a cap over 100 a vCPU is EINVAL.
func (h *Host) SetSchedParams(_ context.Context, id uint32, p hc.SchedParams) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("scheduler_op", id)
	if err != nil {
		return err
	}
	if p.Scheduler != simScheduler {
		return hc.Errorf("scheduler_op", id, syscall.EINVAL, "the host's scheduler is %s, not %s", simScheduler, p.Scheduler)
	}
	if uint32(p.Cap) > 100*d.maxVcpus {
		return hc.Errorf("scheduler_op", id, syscall.EINVAL, "cap %d over 100 for each of %d vcpus", p.Cap, d.maxVcpus)
	}
	if p.Weight != 0 {
		d.weight = p.Weight
	}
	d.schedCap = p.Cap
	return nil
}

// ReadConsole is XEN_SYSCTL_readconsole of the simulated host's ring.
func (h *Host) ReadConsole(_ context.Context, clear bool) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := string(h.conring)
	if clear {
		h.conring = h.conring[:0]
	}
	return s, nil
}

type domain struct {
	id        uint32
	uuid      [16]byte
	hvm       bool
	maxVcpus  uint32
	affinity  map[uint32]hc.VcpuAffinity // set ones; the rest may run anywhere
	weight    uint16                     // credit2's, 0 until set: the default 256
	schedCap  uint16
	maxPages  uint64
	totPages  uint64
	pauses    int // Xen's d->controller_pause_count: nested, running at 0 (PauseDomain)
	shutdown  bool
	reason    hc.ShutdownReason
	cpuTime   time.Duration
	runSince  time.Time // zero while not running
	guest     *guest
	built     bool
	destroyed bool
	params    map[uint32]uint64 // HVM params set (HVMOP_set_param); the rest read 0
}

// New boots a simulated host.
func New(opts Options) *Host {
	opts.defaults()
	h := &Host{XS: xenstored.New(opts.Quota), opts: opts, doms: map[uint32]*domain{},
		rover: 0, ports: map[uint32]map[uint32]*port{}, virqs: map[*Evtchn][]uint32{}, started: time.Now()}
	h.doms[0] = &domain{id: 0, maxVcpus: opts.CPUs, maxPages: opts.Dom0MemKB / pageKB,
		totPages: opts.Dom0MemKB / pageKB, built: true, runSince: time.Now()}
	// xenstored asks the hypervisor whether a domain exists, as cxenstored does
	// with getdomaininfo.
	h.XS.DomainExists = func(id uint32) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		d, ok := h.doms[id]
		return ok && !d.destroyed
	}
	h.startBackend()
	return h
}

// Close stops every guest and the xenstored.
func (h *Host) Close() error {
	h.mu.Lock()
	h.closed = true
	var gs []*guest
	for _, d := range h.doms {
		if d.guest != nil {
			gs = append(gs, d.guest)
		}
	}
	h.mu.Unlock()
	for _, g := range gs {
		g.stop()
	}
	h.XS.Close()
	return nil
}

func (h *Host) dom(op string, id uint32) (*domain, error) {
	d, ok := h.doms[id]
	if !ok || d.destroyed {
		return nil, &hc.Error{Op: op, Domid: id, Errno: syscall.ESRCH}
	}
	return d, nil
}

func (h *Host) freeKB() uint64 {
	used := uint64(0)
	for _, d := range h.doms {
		used += d.totPages * pageKB
	}
	if used > h.opts.TotalMemKB {
		return 0
	}
	return h.opts.TotalMemKB - used
}

// CreateDomain makes an empty, paused domain, as XEN_DOMCTL_createdomain does.
func (h *Host) CreateDomain(_ context.Context, cfg hc.CreateConfig) (uint32, error) {
	if cfg.MaxVcpus == 0 || cfg.MaxVcpus > 128 {
		return 0, hc.Errorf("createdomain", 0, syscall.EINVAL, "max_vcpus %d", cfg.MaxVcpus)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return 0, hc.Errorf("createdomain", 0, syscall.ENODEV, "host is shut down")
	}
	// Xen hands out domids from a rover, skipping ones in use.
	for i := 0; i < hc.DomidFirstReserved; i++ {
		h.rover++
		if h.rover >= hc.DomidFirstReserved {
			h.rover = 1
		}
		if _, used := h.doms[h.rover]; !used {
			id := h.rover
			uuid := cfg.UUID
			if uuid == ([16]byte{}) {
				rand.Read(uuid[:])
			}
			// Xen 4.17 domain_create() starts every domain with one
			// controller pause (xen/common/domain.c:687-688); the toolstack
			// drops it with one unpause when the guest is to run.
			h.doms[id] = &domain{id: id, uuid: uuid, hvm: cfg.HVM, maxVcpus: cfg.MaxVcpus, pauses: 1}
			h.logf("d%d created (%d vcpus%s)", id, cfg.MaxVcpus, map[bool]string{true: ", hvm container", false: ""}[cfg.HVM])
			return id, nil
		}
	}
	return 0, hc.Errorf("createdomain", 0, syscall.ENOSPC, "no free domid")
}

// DestroyDomain tears a domain down: memory returns to the host, its event
// channels close, and xenstored (which sees VIRQ_DOM_EXC) forgets it.
func (h *Host) DestroyDomain(_ context.Context, id uint32) error {
	if id == 0 {
		return hc.Errorf("destroydomain", 0, syscall.EINVAL, "dom0 cannot be destroyed")
	}
	h.mu.Lock()
	d, err := h.dom("destroydomain", id)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	d.destroyed = true
	g := d.guest
	delete(h.doms, id)
	h.logf("d%d destroyed", id)
	h.closePortsOf(id)
	h.mu.Unlock()
	if g != nil {
		g.stop()
	}
	h.XS.ForgetDomain(id)
	h.domainChanged()
	return nil
}

// Pauses nest as Xen's d->controller_pause_count does. Line numbers here are
// of Xen's RELEASE-4.17.5 tag (4.17.0 has the same code a few lines earlier).
//
// maxPauseCount is the limit Xen puts on the toolstack's nested pauses
// (xen/common/domain.c:1306-1311): past it pausedomain fails with EOVERFLOW
// instead of overflowing d->pause_count.
const maxPauseCount = 255

// PauseDomain is XEN_DOMCTL_pausedomain. As in Xen 4.17
// (_domain_pause_by_systemcontroller, xen/common/domain.c:1297-1319) every
// call takes one more controller pause: the domain stays paused until as many
// unpauses have been made. The caller is dom0, which Xen refuses to pause
// with EINVAL (d == current->domain, xen/common/domctl.c:393-397).
func (h *Host) PauseDomain(_ context.Context, id uint32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("pausedomain", id)
	if err != nil {
		return err
	}
	if id == 0 {
		return hc.Errorf("pausedomain", 0, syscall.EINVAL, "cannot pause dom0")
	}
	if d.pauses+1 > maxPauseCount {
		return &hc.Error{Op: "pausedomain", Domid: id, Errno: syscall.EOVERFLOW}
	}
	d.pauses++
	if d.pauses == 1 {
		h.accountCPU(d)
		if d.guest != nil {
			d.guest.setPaused(true)
		}
	}
	return nil
}

func (h *Host) accountCPU(d *domain) {
	if !d.runSince.IsZero() {
		// a simulated guest is idle most of the time; charge 1% of wall time
		d.cpuTime += time.Since(d.runSince) / 100
		d.runSince = time.Time{}
	}
}

// UnpauseDomain is XEN_DOMCTL_unpausedomain: it drops one controller pause
// and the domain runs when none is left; the first time that happens to a
// built domain its simulated guest boots. Xen 4.17
// (domain_unpause_by_systemcontroller, xen/common/domain.c:1331-1341) fails
// with EINVAL when there is no pause to drop: a running domain, or dom0, which
// Xen unpauses once at boot (xen/arch/x86/setup.c:629).
func (h *Host) UnpauseDomain(_ context.Context, id uint32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("unpausedomain", id)
	if err != nil {
		return err
	}
	if d.pauses == 0 {
		return &hc.Error{Op: "unpausedomain", Domid: id, Errno: syscall.EINVAL}
	}
	d.pauses--
	if d.pauses > 0 {
		return nil
	}
	if !d.shutdown {
		d.runSince = time.Now()
	}
	if d.guest != nil {
		d.guest.setPaused(false)
	}
	return nil
}

func (h *Host) info(d *domain) hc.DomainInfo {
	cpu := d.cpuTime
	if !d.runSince.IsZero() {
		cpu += time.Since(d.runSince) / 100
	}
	vcpus := d.maxVcpus
	if !d.built {
		vcpus = 0
	}
	maxID := uint32(0)
	if d.maxVcpus > 0 {
		maxID = d.maxVcpus - 1
	}
	// XEN_DOMINF_paused is controller_pause_count > 0 (xen/common/domctl.c:101)
	paused := d.pauses > 0
	running := !paused && !d.shutdown && d.built
	booting := running && d.guest != nil && !d.guest.booted()
	return hc.DomainInfo{
		Domid: d.id, UUID: d.uuid, HVM: d.hvm, Shutdown: d.shutdown, Paused: paused,
		Running: booting || (d.id == 0), Blocked: running && !booting && d.id != 0,
		ShutdownReason: d.reason, TotPages: d.totPages, MaxPages: d.maxPages,
		CPUTime: uint64(cpu), OnlineVcpus: vcpus, MaxVcpuID: maxID,
	}
}

// DomainInfo is getdomaininfo.
func (h *Host) DomainInfo(_ context.Context, id uint32) (hc.DomainInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("getdomaininfo", id)
	if err != nil {
		return hc.DomainInfo{}, err
	}
	return h.info(d), nil
}

// ListDomains is getdomaininfolist, in domid order.
func (h *Host) ListDomains(context.Context) ([]hc.DomainInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]hc.DomainInfo, 0, len(h.doms))
	for _, d := range h.doms {
		out = append(out, h.info(d))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Domid < out[j].Domid })
	return out, nil
}

// SetMaxMem is XEN_DOMCTL_max_mem.
func (h *Host) SetMaxMem(_ context.Context, id uint32, kb uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("max_mem", id)
	if err != nil {
		return err
	}
	d.maxPages = kb / pageKB
	return nil
}

// SetMaxVcpus is XEN_DOMCTL_max_vcpus.
func (h *Host) SetMaxVcpus(_ context.Context, id uint32, n uint32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("max_vcpus", id)
	if err != nil {
		return err
	}
	if n == 0 || n > d.maxVcpus {
		return hc.Errorf("max_vcpus", id, syscall.EINVAL, "%d vcpus, domain created with %d", n, d.maxVcpus)
	}
	return nil
}

// online is the simulated host's CPUs among l, as Xen masks an affinity
// with the domain's pool's online CPUs.
func (h *Host) online(l []uint32) []uint32 {
	out := []uint32{}
	for _, c := range l {
		if c < h.opts.CPUs && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// SetVcpuAffinity is XEN_DOMCTL_setvcpuaffinity. As Xen's
// vcpu_affinity_domctl: a vCPU the domain does not have is EINVAL, and so
// is a hard affinity with none of the host's CPUs in it.
func (h *Host) SetVcpuAffinity(_ context.Context, id uint32, a hc.VcpuAffinity) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("setvcpuaffinity", id)
	if err != nil {
		return err
	}
	if a.Vcpu >= d.maxVcpus {
		return hc.Errorf("setvcpuaffinity", id, syscall.EINVAL, "vcpu %d, domain has %d", a.Vcpu, d.maxVcpus)
	}
	if a.Hard == nil && a.Soft == nil {
		return hc.Errorf("setvcpuaffinity", id, syscall.EINVAL, "neither hard nor soft affinity")
	}
	cur := h.affinity(d, a.Vcpu)
	if a.Hard != nil {
		if cur.Hard = h.online(a.Hard); len(cur.Hard) == 0 {
			return hc.Errorf("setvcpuaffinity", id, syscall.EINVAL, "vcpu %d: no online CPU in %v (the host has %d)", a.Vcpu, a.Hard, h.opts.CPUs)
		}
	}
	if a.Soft != nil {
		cur.Soft = h.online(a.Soft)
	}
	if d.affinity == nil {
		d.affinity = map[uint32]hc.VcpuAffinity{}
	}
	d.affinity[a.Vcpu] = cur
	return nil
}

func (h *Host) affinity(d *domain, vcpu uint32) hc.VcpuAffinity {
	if a, ok := d.affinity[vcpu]; ok {
		return hc.VcpuAffinity{Vcpu: vcpu, Hard: slices.Clone(a.Hard), Soft: slices.Clone(a.Soft)}
	}
	all := make([]uint32, h.opts.CPUs)
	for i := range all {
		all[i] = uint32(i)
	}
	return hc.VcpuAffinity{Vcpu: vcpu, Hard: all, Soft: slices.Clone(all)}
}

// VcpuInfo is XEN_DOMCTL_getvcpuinfo. A simulated vCPU runs on the first
// CPU of its hard affinity, and the domain's time is shared out evenly.
func (h *Host) VcpuInfo(_ context.Context, id uint32, vcpu uint32) (hc.VcpuInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("getvcpuinfo", id)
	if err != nil {
		return hc.VcpuInfo{}, err
	}
	if vcpu >= d.maxVcpus {
		return hc.VcpuInfo{}, hc.Errorf("getvcpuinfo", id, syscall.EINVAL, "vcpu %d, domain has %d", vcpu, d.maxVcpus)
	}
	info := h.info(d)
	return hc.VcpuInfo{
		Vcpu: vcpu, Online: vcpu < info.OnlineVcpus, Blocked: info.Blocked, Running: info.Running,
		CPUTime: info.CPUTime / uint64(d.maxVcpus), CPU: h.affinity(d, vcpu).Hard[0],
	}, nil
}

// VcpuAffinity is XEN_DOMCTL_getvcpuaffinity: every CPU until set.
func (h *Host) VcpuAffinity(_ context.Context, id uint32, vcpu uint32) (hc.VcpuAffinity, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("getvcpuaffinity", id)
	if err != nil {
		return hc.VcpuAffinity{}, err
	}
	if vcpu >= d.maxVcpus {
		return hc.VcpuAffinity{}, hc.Errorf("getvcpuaffinity", id, syscall.EINVAL, "vcpu %d, domain has %d", vcpu, d.maxVcpus)
	}
	return h.affinity(d, vcpu), nil
}

// HVMParam is HVMOP_get_param: EINVAL for a PV domain or an index at or
// past HVM_NR_PARAMS, as Xen answers; what the builder and the guest set,
// else 0.
func (h *Host) HVMParam(_ context.Context, id uint32, index uint32) (uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("hvm get_param", id)
	if err != nil {
		return 0, err
	}
	if !d.hvm || index >= hc.HVMParamCount {
		return 0, hc.Errorf(fmt.Sprintf("hvm get_param %d", index), id, syscall.EINVAL, "")
	}
	return d.params[index], nil
}

// setParam is HVMOP_set_param, by the builder or the domain's own guest.
func (h *Host) setParam(d *domain, index uint32, v uint64) {
	if d.params == nil {
		d.params = map[uint32]uint64{}
	}
	d.params[index] = v
}

// SendTrigger is XEN_DOMCTL_sendtrigger, answered as Xen 4.17 on x86 does:
// an NMI is taken, the power and sleep buttons are for HVM containers
// (EINVAL otherwise), reset and init are ENOSYS. The simulated guest acts
// on the power button as a Linux with ACPI does (it powers off, even with
// no PV drivers); an NMI and the sleep button it ignores.
func (h *Host) SendTrigger(_ context.Context, id uint32, t hc.Trigger) error {
	op := "sendtrigger " + t.String()
	h.mu.Lock()
	d, err := h.dom(op, id)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	g, hvm := d.guest, d.hvm
	h.mu.Unlock()
	switch t {
	case hc.TriggerNMI:
		return nil
	case hc.TriggerPower, hc.TriggerSleep:
		if !hvm {
			return hc.Errorf(op, id, syscall.EINVAL, "not an HVM container")
		}
		if t == hc.TriggerPower && g != nil {
			g.powerButton()
		}
		return nil
	}
	return hc.Errorf(op, id, syscall.ENOSYS, "")
}

// Resume is XEN_DOMCTL_resumedomain after a suspend: the domain runs on and
// its guest, as Linux does when its suspend is cancelled, carries on with
// its drivers (it advertises its features and watches control/shutdown
// again).
func (h *Host) Resume(_ context.Context, id uint32) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("resumedomain", id)
	if err != nil {
		return err
	}
	if !d.shutdown || d.reason != hc.Suspend {
		return hc.Errorf("resumedomain", id, syscall.EINVAL, "the domain is not suspended")
	}
	d.shutdown = false
	d.runSince = time.Now()
	if d.guest != nil {
		paused := d.pauses > 0
		d.guest = newGuest(h, id, 0)
		d.guest.setPaused(paused)
		go d.guest.run()
	}
	h.logf("d%d resumed", id)
	return nil
}

// Shutdown is SCHEDOP_remote_shutdown (and, from a guest, SCHEDOP_shutdown).
func (h *Host) Shutdown(_ context.Context, id uint32, reason hc.ShutdownReason) error {
	if reason > hc.SoftReset {
		return hc.Errorf("remote_shutdown", id, syscall.EINVAL, "reason %d", reason)
	}
	h.mu.Lock()
	d, err := h.dom("remote_shutdown", id)
	if err != nil || id == 0 {
		h.mu.Unlock()
		if err == nil {
			err = hc.Errorf("remote_shutdown", 0, syscall.EINVAL, "dom0")
		}
		return err
	}
	if d.shutdown {
		h.mu.Unlock()
		return nil // Xen keeps the first reason
	}
	h.accountCPU(d)
	d.shutdown = true
	d.reason = reason
	h.logf("d%d shut down: %s", id, reason)
	g := d.guest
	h.mu.Unlock()
	if g != nil {
		g.stop()
	}
	h.domainChanged()
	return nil
}

// domainChanged raises VIRQ_DOM_EXC: xenstored fires @releaseDomain and dom0
// handles bound to the VIRQ see their port fire.
func (h *Host) domainChanged() {
	h.XS.DomainChanged()
	h.mu.Lock()
	type fire struct {
		e *Evtchn
		p uint32
	}
	var fs []fire
	for e, ps := range h.virqs {
		for _, p := range ps {
			fs = append(fs, fire{e, p})
		}
	}
	h.mu.Unlock()
	for _, f := range fs {
		f.e.demux.Fire(f.p)
	}
}

// PhysInfo reports the simulated machine.
func (h *Host) PhysInfo(context.Context) (hc.PhysInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return hc.PhysInfo{NrCPUs: h.opts.CPUs, MaxCPUID: h.opts.CPUs - 1, NrNodes: 1, CoresPerSocket: h.opts.CPUs, ThreadsPerCore: 1,
		CPUKHz: 2000000, Capabilities: hc.PhysCapHVM | hc.PhysCapPV | hc.PhysCapHAP | hc.PhysCapGnttabV1,
		TotalPages: h.opts.TotalMemKB / pageKB, FreePages: h.freeKB() / pageKB}, nil
}

// HostInfo says what the simulated hypervisor is: Xen 4.17's capabilities
// and x86-64 layout, credit2, no memory sharing, every CPU in the default
// pool; its "command line" is its own options and it was compiled by Go.
func (h *Host) HostInfo(context.Context) (hc.HostInfo, error) {
	return hc.HostInfo{
		Capabilities: "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
		Commandline:  fmt.Sprintf("luxen-sim cpus=%d mem=%dM", h.opts.CPUs, h.opts.TotalMemKB/1024),
		Compiler:     runtime.Version(), CompileBy: "luxen", CompileDomain: "sim",
		VirtStart: 0xffff800000000000, PageSize: pageKB * 1024, Scheduler: "credit2",
	}, nil
}

// Version reports the Xen version the simulation follows.
func (h *Host) Version(context.Context) (hc.Version, error) {
	return hc.Version{Major: 4, Minor: 17, Extra: "-sim"}, nil
}

// Build populates the domain's memory (ENOMEM when the host has too little, as
// populate_physmap fails on Xen), allocates its xenstore and console event
// channels and prepares its simulated guest. The simulated host does not execute
// kernels: a named kernel must exist, and a simulated guest runs in its place.
func (h *Host) Build(_ context.Context, id uint32, spec hc.BuildSpec) (hc.BuildResult, error) {
	if spec.Ramdisk != "" {
		if _, err := os.Stat(spec.Ramdisk); err != nil {
			return hc.BuildResult{}, hc.Errorf("build", id, syscall.ENOENT, "%v", err)
		}
	}
	for _, m := range spec.Modules {
		if _, err := os.Stat(m.Path); err != nil {
			return hc.BuildResult{}, hc.Errorf("build", id, syscall.ENOENT, "module: %v", err)
		}
	}
	if spec.Type == "hvm" {
		// hvmloader and the BIOS are read and checked as the real builder
		// reads them; running them is simulated
		if _, err := pvh.LoadFirmware(spec.Firmware); err != nil {
			return hc.BuildResult{}, hc.Errorf("build", id, syscall.EINVAL, "%v", err)
		}
		if _, err := os.Stat(spec.BIOS); err != nil {
			return hc.BuildResult{}, hc.Errorf("build", id, syscall.ENOENT, "bios: %v", err)
		}
	} else if spec.Kernel != "" {
		// the kernel is read and checked as the real builder would; only running it is simulated
		k, err := pvh.LoadKernelCached(spec.Kernel, spec.CacheDir)
		if err != nil {
			return hc.BuildResult{}, hc.Errorf("build", id, syscall.EINVAL, "%v", err)
		}
		k.Close()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("build", id)
	if err != nil {
		return hc.BuildResult{}, err
	}
	if d.built {
		return hc.BuildResult{}, hc.Errorf("build", id, syscall.EEXIST, "domain already built")
	}
	if spec.MemoryKB == 0 {
		return hc.BuildResult{}, hc.Errorf("build", id, syscall.EINVAL, "memory is 0")
	}
	if spec.MemoryKB > d.maxPages*pageKB {
		return hc.BuildResult{}, hc.Errorf("populate_physmap", id, syscall.ENOMEM,
			"%d KiB exceeds the domain's max_mem %d KiB", spec.MemoryKB, d.maxPages*pageKB)
	}
	if free := h.freeKB(); spec.MemoryKB > free {
		return hc.BuildResult{}, hc.Errorf("populate_physmap", id, syscall.ENOMEM,
			"%d KiB requested, %d KiB free on the host", spec.MemoryKB, free)
	}
	d.totPages = spec.MemoryKB / pageKB
	d.built = true
	store := h.allocUnbound(id, 0)
	cons := h.allocUnbound(id, 0)
	d.guest = newGuest(h, id, h.opts.BootDelay)
	if d.pauses == 0 {
		// unpaused before it was built: it runs as soon as it has a guest
		d.guest.setPaused(false)
	}
	go d.guest.run()
	// the rings' frames, as the builder tells Xen (alloc_magic_pages_hvm)
	h.setParam(d, hvmParamStorePFN, simStoreGFN)
	h.setParam(d, hvmParamConsolePFN, simConsoleGFN)
	return hc.BuildResult{StoreGFN: simStoreGFN, StorePort: store, ConsoleGFN: simConsoleGFN, ConsolePort: cons}, nil
}

// GuestAction makes a simulated guest act on its own, for specs: "poweroff",
// "reboot", "crash", "watchdog" (it shuts itself down with that reason), "hang"
// (it stops answering control/shutdown and the power button), "unhang", and
// "nopv": before it has booted, it boots as an HVM guest without PV drivers
// (Linux with xen_nopv): no xenstore, no control/ features, no event
// channel callback (HVM_PARAM_CALLBACK_IRQ stays 0); only the ACPI power
// button shuts it down.
func (h *Host) GuestAction(_ context.Context, id uint32, action string) error {
	h.mu.Lock()
	d, err := h.dom("guest_action", id)
	if err != nil {
		h.mu.Unlock()
		return err
	}
	g := d.guest
	h.mu.Unlock()
	if g == nil {
		return hc.Errorf("guest_action", id, syscall.EINVAL, "domain has no simulated guest")
	}
	switch action {
	case "hang":
		g.hung.Store(true)
		return nil
	case "unhang":
		g.hung.Store(false)
		return nil
	case "nopv":
		if g.booted() {
			return hc.Errorf("guest_action", id, syscall.EBUSY, "the guest has booted with its PV drivers")
		}
		g.nopv.Store(true)
		return nil
	}
	r, err := hc.ParseShutdownReason(action)
	if err != nil {
		return hc.Errorf("guest_action", id, syscall.EINVAL, "%v", err)
	}
	return h.Shutdown(context.Background(), id, r)
}

// GuestBooted reports whether a domain's simulated guest has finished booting
// (written its control/feature-* nodes and watched control/shutdown).
func (h *Host) GuestBooted(_ context.Context, id uint32) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	d, err := h.dom("guest_booted", id)
	if err != nil {
		return false, err
	}
	return d.guest != nil && d.guest.booted(), nil
}

func (h *Host) String() string { return fmt.Sprintf("simulated Xen host (%d domains)", len(h.doms)) }
