package hypercall

import (
	"fmt"

	"luxen/bindings/savestream"
)

// RestoreSink is what a restore does with a stream's records, in the order
// libxc's restore does it (xg_sr_restore.c): the CPU policy once the static
// data has ended, each batch of pages as it comes, and the TSC, HVM context
// and params at the end (the context last: it starts the vCPUs where they
// stopped). The stream is read and checked apart from it, so that the order
// and the checks are tested without a hypervisor.
// (The simulated host restores its guests through it too.)
type RestoreSink interface {
	CPUPolicy(leaves, msrs []byte) error
	Pages(p savestream.PageData) error
	TSC(t savestream.TSCInfo) error
	Params(ps []savestream.HVMParam) error
	HVMContext(ctx []byte) error
}

// RestoreSummary is what a stream held, for the caller's checks and log.
type RestoreSummary struct {
	Config []byte
	Pages  uint64
	PFNs   uint64
	Params []savestream.HVMParam
}

// RestoreStream reads an xl save file (or migration stream) from r and
// hands its records to sink. With headerRead, r starts after xl's header (a
// migration's receiver has read it to learn the config). Only a PVH/HVM-container stream is taken; a
// stream with a device model's records is refused (luxen saves none yet).
func RestoreStream(r *savestream.Reader, sink RestoreSink, headerRead bool) (RestoreSummary, error) {
	var s RestoreSummary
	if !headerRead {
		h, err := r.XLHeader()
		if err != nil {
			return s, err
		}
		s.Config = append([]byte(nil), h.Config...)
		if h.MandatoryFlags&savestream.XLFlagStreamV2 == 0 {
			return s, fmt.Errorf("restore: a bare libxc stream (xl before 4.6): luxen restores libxl streams")
		}
	}
	if err := r.LibxlHeader(); err != nil {
		return s, err
	}
	lr, err := r.LibxlRecord()
	if err != nil {
		return s, err
	}
	if lr.Type != savestream.LibxlLibxcContext {
		return s, fmt.Errorf("restore: offset %d: libxl record %v before the guest's (LIBXC_CONTEXT)", lr.Offset, lr.Type)
	}
	d, err := r.LibxcHeaders()
	if err != nil {
		return s, err
	}
	if d.Type != savestream.DomainX86HVM {
		return s, fmt.Errorf("restore: a %v guest: luxen restores HVM containers (PVH) only", d.Type)
	}
	var leaves, msrs []byte
	var hctx []byte
	var tsc *savestream.TSCInfo
	staticDone := false
	for {
		rec, err := r.Record()
		if err != nil {
			return s, err
		}
		switch rec.Type {
		case savestream.RecX86CPUIDPolicy:
			leaves = append([]byte(nil), rec.Body...)
		case savestream.RecX86MSRPolicy:
			msrs = append([]byte(nil), rec.Body...)
		case savestream.RecStaticDataEnd:
			staticDone = true
			if leaves != nil || msrs != nil {
				if err := sink.CPUPolicy(leaves, msrs); err != nil {
					return s, err
				}
			}
		case savestream.RecPageData:
			if !staticDone {
				return s, fmt.Errorf("restore: offset %d: PAGE_DATA before STATIC_DATA_END", rec.Offset)
			}
			p, _ := rec.PageData() // checked by Record
			if err := sink.Pages(p); err != nil {
				return s, err
			}
			s.PFNs += uint64(len(p.PFNs))
			s.Pages += uint64(len(p.Data) / savestream.PageSize)
		case savestream.RecX86TSCInfo:
			t, _ := rec.TSCInfo()
			tsc = &t
		case savestream.RecHVMContext:
			hctx = append([]byte(nil), rec.Body...)
		case savestream.RecHVMParams:
			s.Params, _ = rec.HVMParams()
		case savestream.RecEnd:
		default:
			return s, fmt.Errorf("restore: offset %d: a %v record, which an HVM container's stream does not have", rec.Offset, rec.Type)
		}
		if rec.Type == savestream.RecEnd {
			break
		}
	}
	if hctx == nil {
		return s, fmt.Errorf("restore: the stream has no HVM_CONTEXT: it is not a whole save")
	}
	if tsc != nil {
		if err := sink.TSC(*tsc); err != nil {
			return s, err
		}
	}
	if err := sink.Params(s.Params); err != nil {
		return s, err
	}
	if err := sink.HVMContext(hctx); err != nil {
		return s, err
	}
	for {
		lr, err := r.LibxlRecord()
		if err != nil {
			return s, err
		}
		switch lr.Type {
		case savestream.LibxlEnd:
			return s, nil
		case savestream.LibxlEmulatorXenstoreData, savestream.LibxlEmulatorContext:
			return s, fmt.Errorf("restore: offset %d: a device model's state (%v): luxen restores PVH guests only", lr.Offset, lr.Type)
		default:
			return s, fmt.Errorf("restore: offset %d: libxl record %v after the guest's: a checkpointed stream, which luxen does not restore", lr.Offset, lr.Type)
		}
	}
}
