package savestream

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// Writer writes a stream: xl's header, libxl's header and records, and
// libxc's inside a LIBXC_CONTEXT record. The first error sticks: every later
// call returns it, so a writer may check once, at Flush.
type Writer struct {
	w   *bufio.Writer
	off int64
	err error
}

// NewWriter writes a stream to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 1<<20)} }

// Offset is how many bytes have been written.
func (w *Writer) Offset() int64 { return w.off }

func (w *Writer) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	n, err := w.w.Write(p)
	w.off += int64(n)
	if err != nil {
		w.err = fmt.Errorf("savestream: writing at offset %d: %w", w.off, err)
	}
	return w.err
}

var zeros [8]byte

// XLHeader writes xl's header with the config as its optional data (xl
// writes the JSON with its NUL; so must the caller).
func (w *Writer) XLHeader(h XLHeader) error {
	b := make([]byte, 0, len(XLMagic)+20)
	b = append(b, XLMagic...)
	le := binary.LittleEndian
	b = le.AppendUint32(b, xlByteOrder)
	b = le.AppendUint32(b, h.MandatoryFlags)
	b = le.AppendUint32(b, h.OptionalFlags)
	b = le.AppendUint32(b, uint32(4+len(h.Config)))
	b = le.AppendUint32(b, uint32(len(h.Config)))
	if err := w.write(b); err != nil {
		return err
	}
	return w.write(h.Config)
}

// LibxlHeader writes libxl's stream header (little-endian, not legacy).
func (w *Writer) LibxlHeader() error {
	b := binary.BigEndian.AppendUint64(nil, libxlIdent)
	b = binary.BigEndian.AppendUint32(b, libxlVersion)
	b = binary.BigEndian.AppendUint32(b, 0)
	return w.write(b)
}

// record writes a record header, the body's parts and its padding.
func (w *Writer) record(t uint32, parts ...[]byte) error {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var h [8]byte
	binary.LittleEndian.PutUint32(h[:], t)
	binary.LittleEndian.PutUint32(h[4:], uint32(n))
	if err := w.write(h[:]); err != nil {
		return err
	}
	for _, p := range parts {
		if err := w.write(p); err != nil {
			return err
		}
	}
	return w.write(zeros[:(8-n%8)%8])
}

// LibxlRecord writes a libxl record. After LibxlLibxcContext (no body)
// comes libxc's stream: LibxcHeaders, records, and its END.
func (w *Writer) LibxlRecord(t LibxlType, body []byte) error { return w.record(uint32(t), body) }

// LibxcHeaders writes libxc's image header (version 3) and domain header.
func (w *Writer) LibxcHeaders(d DomainHeader) error {
	be, le := binary.BigEndian, binary.LittleEndian
	b := be.AppendUint64(nil, imageMarker)
	b = be.AppendUint32(b, imageIdent)
	b = be.AppendUint32(b, imageVersion)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // options (little-endian), reserved
	b = le.AppendUint32(b, uint32(d.Type))
	b = le.AppendUint16(b, pageShift)
	b = le.AppendUint16(b, 0)
	b = le.AppendUint32(b, d.XenMajor)
	b = le.AppendUint32(b, d.XenMinor)
	return w.write(b)
}

// Record writes a libxc record with its body as given.
func (w *Writer) Record(t RecordType, body []byte) error { return w.record(uint32(t), body) }

// PageData writes a PAGE_DATA record: pfns with their types, and data
// holding a page for each whose type has data, in order.
func (w *Writer) PageData(pfns []uint64, types []PageType, data []byte) error {
	if len(pfns) == 0 || len(pfns) > MaxPagesPerRecord || len(types) != len(pfns) {
		return fmt.Errorf("savestream: PAGE_DATA of %d pfns and %d types (1 to %d)", len(pfns), len(types), MaxPagesPerRecord)
	}
	le := binary.LittleEndian
	hdr := make([]byte, 8, 8+8*len(pfns))
	le.PutUint32(hdr, uint32(len(pfns)))
	pages := 0
	for i, pfn := range pfns {
		if pfn > pfnMask || !validPageType(types[i]) {
			return fmt.Errorf("savestream: PAGE_DATA pfn %#x of type %#x", pfn, uint8(types[i]))
		}
		hdr = le.AppendUint64(hdr, pfn|uint64(types[i])<<pfnTypeShift)
		if types[i].HasData() {
			pages++
		}
	}
	if len(data) != pages*PageSize {
		return fmt.Errorf("savestream: PAGE_DATA of %d pages with data, given %d bytes", pages, len(data))
	}
	return w.record(uint32(RecPageData), hdr, data)
}

// TSCInfo writes an X86_TSC_INFO record.
func (w *Writer) TSCInfo(t TSCInfo) error {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, t.Mode)
	b = le.AppendUint32(b, t.KHz)
	b = le.AppendUint64(b, t.Nsec)
	b = le.AppendUint32(b, t.Incarnation)
	b = le.AppendUint32(b, 0)
	return w.Record(RecX86TSCInfo, b)
}

// HVMParams writes an HVM_PARAMS record.
func (w *Writer) HVMParams(ps []HVMParam) error {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, uint32(len(ps)))
	b = le.AppendUint32(b, 0)
	for _, p := range ps {
		b = le.AppendUint64(b, p.Index)
		b = le.AppendUint64(b, p.Value)
	}
	return w.Record(RecHVMParams, b)
}

// Flush writes what is buffered; the first error of the stream, if any.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("savestream: flushing at offset %d: %w", w.off, err)
	}
	return w.err
}
