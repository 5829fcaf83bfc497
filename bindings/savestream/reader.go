package savestream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// FormatError is a stream that is not what Xen writes: where it went wrong
// (the offset of the header or record at fault, and which it is) and how.
type FormatError struct {
	Offset int64
	Where  string // "xl header", "libxl record EMULATOR_CONTEXT", "libxc record PAGE_DATA", ...
	Msg    string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("savestream: offset %d: %s: %s", e.Offset, e.Where, e.Msg)
}

// XLHeader is xl's save file header and the config it carries.
type XLHeader struct {
	MandatoryFlags uint32
	OptionalFlags  uint32
	// Config is the domain's config as xl stores it: libxl_domain_config
	// JSON (with XLFlagJSON), NUL-terminated as xl writes it.
	Config []byte
}

// DomainHeader is libxc's domain header.
type DomainHeader struct {
	Type               DomainType
	XenMajor, XenMinor uint32 // 0.0 for a stream converted from the legacy format
}

// LibxlRecord is one record of libxl's stream.
type LibxlRecord struct {
	Type   LibxlType
	Offset int64
	Body   []byte // valid until the next read
}

// Record is one record of libxc's stream.
type Record struct {
	Type   RecordType
	Offset int64
	Body   []byte // valid until the next read
}

// Reader reads a stream's headers and records in order, checking each.
type Reader struct {
	r            *bufio.Reader
	off          int64
	imageVersion uint32
	buf          []byte
}

// NewReader reads a stream from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReaderSize(r, 64<<10)} }

// Offset is how far the stream has been read.
func (r *Reader) Offset() int64 { return r.off }

func (r *Reader) fail(at int64, where, format string, a ...any) error {
	return &FormatError{Offset: at, Where: where, Msg: fmt.Sprintf(format, a...)}
}

// full reads exactly len(p) bytes; a short stream is a FormatError naming
// what was being read.
func (r *Reader) full(p []byte, at int64, where string) error {
	n, err := io.ReadFull(r.r, p)
	r.off += int64(n)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return r.fail(at, where, "truncated: the stream ends %d bytes into %d", n, len(p))
	}
	return fmt.Errorf("savestream: offset %d: reading %s: %w", r.off, where, err)
}

// body reads n bytes (and the padding to 8 bytes, which must be zero) into
// the reader's buffer.
func (r *Reader) body(n uint32, at int64, where string) ([]byte, error) {
	padded := (int(n) + 7) &^ 7
	if cap(r.buf) < padded {
		r.buf = make([]byte, padded)
	}
	b := r.buf[:padded]
	if err := r.full(b, at, where); err != nil {
		return nil, err
	}
	for _, c := range b[n:] {
		if c != 0 {
			return nil, r.fail(at, where, "non-zero padding after its %d bytes", n)
		}
	}
	return b[:n], nil
}

// XLHeader reads xl's header: its magic, byte order and flags, and the
// config in its optional data. Unknown mandatory flags are refused, as xl
// refuses them; unknown optional data is skipped, as xl skips it.
func (r *Reader) XLHeader() (XLHeader, error) {
	const where = "xl header"
	var h XLHeader
	b := make([]byte, len(XLMagic)+16)
	if err := r.full(b, 0, where); err != nil {
		return h, err
	}
	if string(b[:len(XLMagic)]) != XLMagic {
		return h, r.fail(0, where, "not an xl save file (no %q magic)", "Xen saved domain, xl format")
	}
	le := binary.LittleEndian
	if bo := le.Uint32(b[32:]); bo != xlByteOrder {
		return h, r.fail(32, where, "byte order mark %#08x: written on a host of another byte order (luxen reads little-endian files)", bo)
	}
	h.MandatoryFlags, h.OptionalFlags = le.Uint32(b[36:]), le.Uint32(b[40:])
	if unknown := h.MandatoryFlags &^ (XLFlagJSON | XLFlagStreamV2); unknown != 0 {
		return h, r.fail(36, where, "mandatory flags %#x that xl 4.17 does not know", unknown)
	}
	optLen := le.Uint32(b[44:])
	if optLen > maxBody {
		return h, r.fail(44, where, "optional data of %d bytes (at most %d)", optLen, maxBody)
	}
	opt := make([]byte, optLen)
	if err := r.full(opt, r.off, where+" optional data"); err != nil {
		return h, err
	}
	if optLen >= 4 {
		n := le.Uint32(opt)
		if uint64(n) > uint64(optLen-4) {
			return h, r.fail(48, where, "a config of %d bytes in %d bytes of optional data", n, optLen-4)
		}
		h.Config = opt[4 : 4+n]
	}
	if h.MandatoryFlags&XLFlagJSON != 0 && (len(h.Config) == 0 || h.Config[len(h.Config)-1] != 0) {
		return h, r.fail(48, where, "the JSON config is not NUL-terminated as xl writes it")
	}
	return h, nil
}

// ReadXLHeader reads xl's header from r and not a byte more, so that what
// follows (a migration stream's libxl records) is still r's to read by
// another reader; it is checked as Reader.XLHeader checks it.
func ReadXLHeader(r io.Reader) (XLHeader, error) {
	b := make([]byte, len(XLMagic)+16)
	if _, err := io.ReadFull(r, b); err != nil {
		return NewReader(bytes.NewReader(b[:0])).XLHeader() // says where it ends
	}
	optLen := binary.LittleEndian.Uint32(b[44:])
	if optLen <= maxBody {
		opt := make([]byte, optLen)
		n, _ := io.ReadFull(r, opt)
		b = append(b, opt[:n]...)
	}
	h, err := NewReader(bytes.NewReader(b)).XLHeader()
	if err == nil {
		h.Config = bytes.Clone(h.Config)
	}
	return h, err
}

// LibxlHeader reads libxl's stream header.
func (r *Reader) LibxlHeader() error {
	at := r.off
	const where = "libxl header"
	b := make([]byte, 16)
	if err := r.full(b, at, where); err != nil {
		return err
	}
	be := binary.BigEndian
	if id := be.Uint64(b); id != libxlIdent {
		return r.fail(at, where, "ident %#x, not \"LibxlFmt\"", id)
	}
	if v := be.Uint32(b[8:]); v != libxlVersion {
		return r.fail(at, where, "version %d: luxen reads version %d", v, libxlVersion)
	}
	opts := be.Uint32(b[12:])
	if opts&libxlOptReserved != 0 {
		return r.fail(at, where, "reserved option bits %#x", opts&libxlOptReserved)
	}
	if opts&libxlOptBigEnd != 0 {
		return r.fail(at, where, "a big-endian stream (luxen reads little-endian ones)")
	}
	if opts&libxlOptLegacy != 0 {
		return r.fail(at, where, "converted from the legacy format, which luxen does not restore")
	}
	return nil
}

// LibxlRecord reads libxl's next record. A LIBXC_CONTEXT record has no body:
// libxc's stream follows it (LibxcHeaders, then Record up to END).
func (r *Reader) LibxlRecord() (LibxlRecord, error) {
	at := r.off
	var h [8]byte
	if err := r.full(h[:], at, "libxl record header"); err != nil {
		return LibxlRecord{}, err
	}
	t, n := LibxlType(binary.LittleEndian.Uint32(h[:])), binary.LittleEndian.Uint32(h[4:])
	where := "libxl record " + t.String()
	if _, known := libxlNames[t]; !known {
		return LibxlRecord{}, r.fail(at, "libxl record", "unknown type %#x", uint32(t))
	}
	if n > maxBody {
		return LibxlRecord{}, r.fail(at, where, "length %d (at most %d)", n, maxBody)
	}
	body, err := r.body(n, at, where)
	if err != nil {
		return LibxlRecord{}, err
	}
	switch t {
	case LibxlEnd, LibxlLibxcContext, LibxlCheckpointEnd:
		if n != 0 {
			return LibxlRecord{}, r.fail(at, where, "length %d, must be 0", n)
		}
	case LibxlEmulatorXenstoreData, LibxlEmulatorContext:
		if n < 8 {
			return LibxlRecord{}, r.fail(at, where, "length %d, less than its 8-byte emulator header", n)
		}
		if id := binary.LittleEndian.Uint32(body); id > 2 {
			return LibxlRecord{}, r.fail(at, where, "unknown emulator id %#x", id)
		}
	case LibxlCheckpointState:
		if n == 0 {
			return LibxlRecord{}, r.fail(at, where, "empty")
		}
	}
	return LibxlRecord{Type: t, Offset: at, Body: body}, nil
}

// LibxcHeaders reads libxc's image and domain headers.
func (r *Reader) LibxcHeaders() (DomainHeader, error) {
	at := r.off
	var d DomainHeader
	b := make([]byte, 24+16)
	if err := r.full(b[:24], at, "libxc image header"); err != nil {
		return d, err
	}
	be := binary.BigEndian
	if m := be.Uint64(b); m != imageMarker {
		return d, r.fail(at, "libxc image header", "marker %#x, not all ones", m)
	}
	if id := be.Uint32(b[8:]); id != imageIdent {
		return d, r.fail(at, "libxc image header", "ident %#x, not \"XENF\"", id)
	}
	v := be.Uint32(b[12:])
	if v < 2 || v > imageVersion {
		return d, r.fail(at, "libxc image header", "version %d: luxen reads versions 2 and 3", v)
	}
	r.imageVersion = v
	opts := be.Uint16(b[16:])
	if opts&imageOptReserved != 0 || be.Uint16(b[18:]) != 0 || be.Uint32(b[20:]) != 0 {
		return d, r.fail(at, "libxc image header", "reserved bits set")
	}
	if opts&imageOptBigEnd != 0 {
		return d, r.fail(at, "libxc image header", "a big-endian stream (luxen reads little-endian ones)")
	}
	at = r.off
	if err := r.full(b[24:], at, "libxc domain header"); err != nil {
		return d, err
	}
	le := binary.LittleEndian
	d = DomainHeader{Type: DomainType(le.Uint32(b[24:])), XenMajor: le.Uint32(b[32:]), XenMinor: le.Uint32(b[36:])}
	if d.Type != DomainX86PV && d.Type != DomainX86HVM {
		return d, r.fail(at, "libxc domain header", "unknown %v", d.Type)
	}
	if ps := le.Uint16(b[28:]); ps != pageShift {
		return d, r.fail(at, "libxc domain header", "page shift %d, not %d", ps, pageShift)
	}
	if le.Uint16(b[30:]) != 0 {
		return d, r.fail(at, "libxc domain header", "reserved bits set")
	}
	return d, nil
}

// Record reads libxc's next record and checks its body as verify-stream-v2
// does.
func (r *Reader) Record() (Record, error) {
	at := r.off
	var h [8]byte
	if err := r.full(h[:], at, "libxc record header"); err != nil {
		return Record{}, err
	}
	t, n := RecordType(binary.LittleEndian.Uint32(h[:])), binary.LittleEndian.Uint32(h[4:])
	if _, known := recordNames[t]; !known {
		return Record{}, r.fail(at, "libxc record", "unknown type %#x", uint32(t))
	}
	where := "libxc record " + t.String()
	limit := uint32(maxBody)
	if t == RecPageData {
		limit = maxPageData
	}
	if n > limit {
		return Record{}, r.fail(at, where, "length %d (at most %d)", n, limit)
	}
	body, err := r.body(n, at, where)
	if err != nil {
		return Record{}, err
	}
	rec := Record{Type: t, Offset: at, Body: body}
	if msg := r.check(rec); msg != "" {
		return Record{}, r.fail(at, where, "%s", msg)
	}
	return rec, nil
}

// check is a record body's own rules; "" when it keeps them.
func (r *Reader) check(rec Record) string {
	n := len(rec.Body)
	switch rec.Type {
	case RecEnd, RecVerify, RecCheckpoint:
		if n != 0 {
			return fmt.Sprintf("length %d, must be 0", n)
		}
	case RecStaticDataEnd:
		if n != 0 {
			return fmt.Sprintf("length %d, must be 0", n)
		}
		if r.imageVersion < 3 {
			return "in a version 2 stream"
		}
	case RecPageData:
		if _, err := rec.PageData(); err != nil {
			return err.Error()
		}
	case RecX86PVInfo:
		if n != 8 {
			return fmt.Sprintf("length %d, must be 8", n)
		}
	case RecX86PVP2MFrames:
		if n < 8 || n%8 != 0 {
			return fmt.Sprintf("length %d, not 8 or more in 8s", n)
		}
	case RecX86PVVcpuBasic, RecX86PVVcpuExtended, RecX86PVVcpuXsave, RecX86PVVcpuMSRs:
		if n < 8 {
			return fmt.Sprintf("length %d, less than its 8-byte header", n)
		}
	case RecSharedInfo:
		if n != PageSize {
			return fmt.Sprintf("length %d, must be %d", n, PageSize)
		}
	case RecX86TSCInfo:
		if _, err := rec.TSCInfo(); err != nil {
			return err.Error()
		}
	case RecHVMContext:
		if n == 0 {
			return "empty"
		}
	case RecHVMParams:
		if _, err := rec.HVMParams(); err != nil {
			return err.Error()
		}
	case RecToolstack:
		return "obsolete (Xen 4.5's toolstack record); re-save the guest with a newer xl"
	case RecCheckpointDirtyPFNList:
		return "a checkpointed (COLO) stream, which luxen does not restore"
	case RecX86CPUIDPolicy, RecX86MSRPolicy:
		size := CPUIDLeafSize
		if rec.Type == RecX86MSRPolicy {
			size = MSREntrySize
		}
		if r.imageVersion < 3 {
			return "in a version 2 stream"
		}
		if n < size || n%size != 0 {
			return fmt.Sprintf("length %d, not a multiple of its %d-byte entries", n, size)
		}
	}
	return ""
}

// PageData is a PAGE_DATA record's content.
type PageData struct {
	PFNs  []uint64
	Types []PageType
	// Data holds, in order, a page for each pfn whose type has data
	// (normal pages and page tables).
	Data []byte
}

// PageData decodes a PAGE_DATA record.
func (rec Record) PageData() (PageData, error) {
	var p PageData
	b := rec.Body
	if len(b) <= 8 {
		return p, fmt.Errorf("length %d: no pfns", len(b))
	}
	le := binary.LittleEndian
	count := le.Uint32(b)
	if le.Uint32(b[4:]) != 0 {
		return p, fmt.Errorf("reserved bits set")
	}
	if count == 0 || count > MaxPagesPerRecord {
		return p, fmt.Errorf("%d pfns (1 to %d)", count, MaxPagesPerRecord)
	}
	if uint64(len(b)-8) < uint64(count)*8 {
		return p, fmt.Errorf("%d pfns do not fit in %d bytes", count, len(b)-8)
	}
	p.PFNs, p.Types = make([]uint64, count), make([]PageType, count)
	pages := 0
	for i := range p.PFNs {
		e := le.Uint64(b[8+8*i:])
		if e&pfnReserved != 0 {
			return p, fmt.Errorf("pfn[%d] %#x has reserved bits set", i, e)
		}
		t := PageType(e >> pfnTypeShift)
		if !validPageType(t) {
			return p, fmt.Errorf("pfn[%d] %#x has type %#x, which is none", i, e, uint8(t))
		}
		p.PFNs[i], p.Types[i] = e&pfnMask, t
		if t.HasData() {
			pages++
		}
	}
	p.Data = b[8+8*int(count):]
	if len(p.Data) != pages*PageSize {
		return p, fmt.Errorf("%d pages of data need %d bytes after the pfns, the record has %d", pages, pages*PageSize, len(p.Data))
	}
	return p, nil
}

// TSCInfo is X86_TSC_INFO: the guest's TSC mode and frequency.
type TSCInfo struct {
	Mode        uint32
	KHz         uint32
	Nsec        uint64
	Incarnation uint32
}

// TSCInfo decodes an X86_TSC_INFO record.
func (rec Record) TSCInfo() (TSCInfo, error) {
	b := rec.Body
	if len(b) != 24 {
		return TSCInfo{}, fmt.Errorf("length %d, must be 24", len(b))
	}
	le := binary.LittleEndian
	if le.Uint32(b[20:]) != 0 {
		return TSCInfo{}, fmt.Errorf("reserved bits set")
	}
	return TSCInfo{Mode: le.Uint32(b), KHz: le.Uint32(b[4:]), Nsec: le.Uint64(b[8:]), Incarnation: le.Uint32(b[16:])}, nil
}

// HVMParam is one entry of HVM_PARAMS.
type HVMParam struct{ Index, Value uint64 }

// HVMParams decodes an HVM_PARAMS record.
func (rec Record) HVMParams() ([]HVMParam, error) {
	b := rec.Body
	if len(b) < 8 {
		return nil, fmt.Errorf("length %d, less than its 8-byte header", len(b))
	}
	le := binary.LittleEndian
	count := le.Uint32(b)
	if le.Uint32(b[4:]) != 0 {
		return nil, fmt.Errorf("reserved bits set")
	}
	if uint64(len(b)) != 8+uint64(count)*16 {
		return nil, fmt.Errorf("%d params need %d bytes, the record has %d", count, 8+uint64(count)*16, len(b))
	}
	ps := make([]HVMParam, count)
	for i := range ps {
		ps[i] = HVMParam{Index: le.Uint64(b[8+16*i:]), Value: le.Uint64(b[16+16*i:])}
	}
	return ps, nil
}

// Summary is what Scan found in a whole xl save file.
type Summary struct {
	XL           XLHeader
	ImageVersion uint32
	Domain       DomainHeader
	Libxl        []LibxlType        // libxl's records in order
	Records      map[RecordType]int // libxc's, by type
	PFNs         int                // pfns in PAGE_DATA records
	Pages        int                // of them, pages with data
	MaxPFN       uint64
	Params       []HVMParam
	TSC          *TSCInfo
	Bytes        int64
}

// Scan reads and checks a whole xl save file (or a migration stream, which
// is the same bytes) to its end; nothing may follow libxl's END.
func Scan(in io.Reader) (Summary, error) {
	r := NewReader(in)
	s, err := scan(r)
	if err != nil {
		return s, err
	}
	if n, _ := io.Copy(io.Discard, r.r); n > 0 {
		return s, r.fail(s.Bytes, "end of stream", "%d bytes follow libxl's END record", n)
	}
	return s, nil
}

// ScanStream reads and checks one stream up to libxl's END and returns
// there: what follows on a migration's connection is the migration
// protocol's. It reads no byte the sender has not sent before END.
func ScanStream(in io.Reader) (Summary, error) { return scan(NewReader(in)) }

func scan(r *Reader) (Summary, error) {
	s := Summary{Records: map[RecordType]int{}}
	var err error
	if s.XL, err = r.XLHeader(); err != nil {
		return s, err
	}
	s.XL.Config = bytes.Clone(s.XL.Config)
	if s.XL.MandatoryFlags&XLFlagStreamV2 == 0 {
		return s, r.fail(36, "xl header", "a bare libxc stream (no STREAMv2 flag), from xl before 4.6: luxen restores libxl streams")
	}
	if err := r.LibxlHeader(); err != nil {
		return s, err
	}
	for {
		lr, err := r.LibxlRecord()
		if err != nil {
			return s, err
		}
		s.Libxl = append(s.Libxl, lr.Type)
		if lr.Type == LibxlEnd {
			break
		}
		if lr.Type != LibxlLibxcContext {
			continue
		}
		if s.Domain, err = r.LibxcHeaders(); err != nil {
			return s, err
		}
		s.ImageVersion = r.imageVersion
		for {
			rec, err := r.Record()
			if err != nil {
				return s, err
			}
			s.Records[rec.Type]++
			switch rec.Type {
			case RecPageData:
				p, _ := rec.PageData() // checked by Record
				s.PFNs += len(p.PFNs)
				s.Pages += len(p.Data) / PageSize
				for _, pfn := range p.PFNs {
					s.MaxPFN = max(s.MaxPFN, pfn)
				}
			case RecHVMParams:
				s.Params, _ = rec.HVMParams()
			case RecX86TSCInfo:
				t, _ := rec.TSCInfo()
				s.TSC = &t
			}
			if rec.Type == RecEnd {
				break
			}
		}
	}
	s.Bytes = r.off
	return s, nil
}
