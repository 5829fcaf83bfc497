//go:build linux

package hypercall

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"luxen/bindings/savestream"
)

// A live save's rounds end when the guest dirtied fewer than
// liveDirtyThreshold pages in the last, or after liveMaxRounds rounds past
// the first: libxc's SPP_TARGET_DIRTY_COUNT and SPP_MAX_ITERATIONS
// (xg_sr_save.c's simple_precopy_policy, which libxl does not replace).
const (
	liveMaxRounds      = 5
	liveDirtyThreshold = 50
)

// liveSave is a live save between its "live" and "finish" calls: the
// stream, and a hypercall buffer with room for the domctl and the dirty
// bitmap (one bit a pfn: 128 KiB for a guest whose frames reach 4 GiB,
// more than a pooled buffer holds).
type liveSave struct {
	f      *os.File
	path   string
	w      *savestream.Writer
	maxPFN uint64
	buf    []byte
	res    SaveResult
}

func (p *Privcmd) takeLive(id uint32) *liveSave {
	p.liveMu.Lock()
	defer p.liveMu.Unlock()
	ls := p.live[id]
	delete(p.live, id)
	return ls
}

// saveLive starts a live save: the stream's first part, log-dirty mode on,
// every frame sent while the guest runs, then the frames it dirtied
// meanwhile, round after round until few are left or the rounds are spent
// (send_memory_live). The stream stays open for saveFinish.
func (p *Privcmd) saveLive(id uint32, spec SaveSpec) (res SaveResult, err error) {
	p.liveMu.Lock()
	busy := p.live[id] != nil
	p.liveMu.Unlock()
	if busy {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EBUSY, Msg: "a live save of the domain is under way"}
	}
	info, err := p.DomainInfo(context.Background(), id)
	if err != nil {
		return res, err
	}
	if !info.HVM {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EOPNOTSUPP, Msg: "a PV domain: luxen saves HVM containers (PVH) only"}
	}
	if info.Shutdown {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EINVAL, Msg: "a live save needs a running domain; it has shut down (" + info.ShutdownReason.String() + ")"}
	}
	ver, err := p.xenVersion()
	if err != nil {
		return res, err
	}
	maxPFN, err := p.maximumGPFN(id)
	if err != nil {
		return res, err
	}
	f, err := os.OpenFile(spec.Path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return res, fmt.Errorf("save: %w", err)
	}
	bitmapBytes := (maxPFN/64 + 1) * 8
	buf, err := allocBuffer(int(pageSize + (bitmapBytes+pageSize-1)/pageSize*pageSize))
	if err != nil {
		f.Close()
		return res, err
	}
	ls := &liveSave{f: f, path: spec.Path, w: savestream.NewWriter(f), maxPFN: maxPFN, buf: buf}
	defer func() {
		if err != nil {
			ls.close(p, id, true)
		}
	}()
	if err := p.saveStart(id, ls.w, ver, spec.Config); err != nil {
		return res, err
	}
	if err := p.logDirty(id, ls, shadowOpEnableLogDirty); err != nil {
		// as libxc: log-dirty may be on already (video RAM tracking); off, then on
		p.logDirty(id, ls, shadowOpOff)
		if err := p.logDirty(id, ls, shadowOpEnableLogDirty); err != nil {
			return res, err
		}
	}
	all := make([]uint64, 0, maxPFN+1)
	for pfn := uint64(0); pfn <= maxPFN; pfn++ {
		all = append(all, pfn)
	}
	send, dirty := all, maxPFN+1
	for {
		if err := p.sendPFNs(id, ls, send); err != nil {
			return res, err
		}
		if ls.res.Rounds >= liveMaxRounds || dirty < liveDirtyThreshold {
			break
		}
		if send, err = p.cleanDirty(id, ls, 0); err != nil {
			return res, err
		}
		dirty = uint64(len(send))
		ls.res.Rounds++
	}
	if err := ls.w.Flush(); err != nil {
		return res, fmt.Errorf("save: %s: %w", spec.Path, err)
	}
	ls.res.Dirty = dirty
	ls.res.Bytes = uint64(ls.w.Offset())
	p.liveMu.Lock()
	if p.live == nil {
		p.live = map[uint32]*liveSave{}
	}
	p.live[id] = ls
	p.liveMu.Unlock()
	return ls.res, nil
}

// saveFinish ends a live save of a domain that has suspended since: the
// frames dirtied after the last round, then its CPU state and params.
func (p *Privcmd) saveFinish(id uint32) (res SaveResult, err error) {
	ls := p.takeLive(id)
	if ls == nil {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EINVAL, Msg: "no live save of the domain is under way"}
	}
	defer func() { ls.close(p, id, err != nil) }()
	info, err := p.DomainInfo(context.Background(), id)
	if err != nil {
		return res, err
	}
	if !info.Shutdown || info.ShutdownReason != Suspend {
		return res, &Error{Op: "save", Domid: id, Errno: syscall.EBUSY, Msg: "the domain has not suspended itself"}
	}
	last, err := p.cleanDirty(id, ls, shadowLogDirtyFinal)
	if err != nil {
		return res, err
	}
	ls.res.Dirty = uint64(len(last))
	if err := p.sendPFNs(id, ls, last); err != nil {
		return res, err
	}
	if err := p.saveEnd(id, ls.w); err != nil {
		return res, err
	}
	if err := ls.w.Flush(); err != nil {
		return res, fmt.Errorf("save: %s: %w", ls.path, err)
	}
	ls.res.Bytes = uint64(ls.w.Offset())
	return ls.res, nil
}

// saveAbort ends a live save that will not finish.
func (p *Privcmd) saveAbort(id uint32) error {
	ls := p.takeLive(id)
	if ls == nil {
		return &Error{Op: "save", Domid: id, Errno: syscall.EINVAL, Msg: "no live save of the domain is under way"}
	}
	ls.close(p, id, true)
	return nil
}

// close turns log-dirty mode off and closes the stream; a failed save's
// regular file is removed (a pipe has nothing to remove).
func (ls *liveSave) close(p *Privcmd, id uint32, failed bool) {
	p.logDirty(id, ls, shadowOpOff)
	ls.f.Close()
	if failed {
		if st, err := os.Stat(ls.path); err == nil && st.Mode().IsRegular() {
			os.Remove(ls.path)
		}
	}
	unix.Munmap(ls.buf)
}

// sendPFNs writes PAGE_DATA records for pfns, a batch at a time.
func (p *Privcmd) sendPFNs(id uint32, ls *liveSave, pfns []uint64) error {
	for len(pfns) > 0 {
		n := min(len(pfns), savestream.MaxPagesPerRecord)
		if err := p.writePages(id, ls.w, pfns[:n], &ls.res); err != nil {
			return err
		}
		pfns = pfns[n:]
	}
	return nil
}

// logDirty is XEN_DOMCTL_shadow_op with op (log-dirty on or off).
func (p *Privcmd) logDirty(id uint32, ls *liveSave, op uint32) error {
	return p.shadowOp(id, ls, domctlShadowOp{Op: op})
}

// cleanDirty is XEN_DOMCTL_SHADOW_OP_CLEAN: the frames dirtied since the
// last call (or since log-dirty mode began), their bits cleared in Xen;
// mode XEN_DOMCTL_SHADOW_LOGDIRTY_FINAL for the last, once the guest has
// suspended (as libxc's suspend_and_send_dirty).
func (p *Privcmd) cleanDirty(id uint32, ls *liveSave, mode uint32) ([]uint64, error) {
	n := ls.maxPFN + 1
	bm := ls.buf[pageSize:]
	clear(bm)
	if err := p.shadowOp(id, ls, domctlShadowOp{Op: shadowOpClean, Mode: mode, DirtyBitmap: addr(bm), Pages: n}); err != nil {
		return nil, err
	}
	var out []uint64
	words := unsafe.Slice((*uint64)(unsafe.Pointer(&bm[0])), (n+63)/64)
	for i, wd := range words {
		for wd != 0 {
			b := uint64(bits.TrailingZeros64(wd))
			if pfn := uint64(i)*64 + b; pfn < n {
				out = append(out, pfn)
			}
			wd &= wd - 1
		}
	}
	return out, nil
}

func (p *Privcmd) shadowOp(id uint32, ls *liveSave, op domctlShadowOp) error {
	d := (*domctl)(unsafe.Pointer(&ls.buf[0]))
	*d = domctl{Cmd: domctlShadowOpCmd, InterfaceVersion: DomctlInterfaceVersion, Domain: uint16(id)}
	*(*domctlShadowOp)(unsafe.Pointer(&d.U[0])) = op
	if _, e := p.hypercall(hcDomctl, addr(ls.buf)); e != 0 {
		return &Error{Op: fmt.Sprintf("shadow_op %d", op.Op), Domid: id, Errno: e}
	}
	return nil
}
