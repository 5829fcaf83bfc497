// Package pvh prepares what a PVH guest boots from, without touching Xen: it
// reads a Linux kernel (bzImage with an xz or gzip payload, or a plain ELF
// vmlinux) and its Xen ELF notes, and lays out the guest's boot-time data —
// hvm_start_info, the memory map, the minimal ACPI tables, the boot vCPU's
// register state — as byte images a builder copies into guest memory.
// Facts: docs/misc/pvh.pandoc, xen/include/public/arch-x86/hvm/start_info.h,
// xen/include/public/elfnote.h, Linux's Documentation/arch/x86/boot.rst.
package pvh

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/ulikunitz/xz/lzma"
	"golang.org/x/sys/unix"
)

// Segment is bytes to place at a guest-physical address; Mem bytes in all,
// the part past len(Data) zeroed.
type Segment struct {
	Addr uint64
	Data []byte
	Mem  uint64
}

// Kernel is a loaded PVH-capable kernel.
type Kernel struct {
	Segments  []Segment
	Entry     uint64 // XEN_ELFNOTE_PHYS32_ENTRY: where the boot vCPU starts, in 32-bit protected mode
	Features  uint32 // XEN_ELFNOTE_SUPPORTED_FEATURES
	GuestOS   string
	ModStart  bool   // XEN_ELFNOTE_MOD_START_PFN
	Low, High uint64 // the guest-physical range the segments cover
	elfEntry  uint64 // e_entry, where firmware without notes starts

	// mapped is the cached ELF file the segments point into (see
	// LoadKernelCached); Close unmaps it.
	mapped []byte
}

// Close releases the kernel's file mapping, if it has one. The segments
// must not be used after it.
func (k *Kernel) Close() error {
	if k == nil || k.mapped == nil {
		return nil
	}
	m := k.mapped
	k.mapped, k.Segments = nil, nil
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("kernel: unmap: %w", err)
	}
	return nil
}

// mapFile maps a whole file read-only. The cache files it is used on are
// only ever replaced by rename, never rewritten in place, so the mapping
// cannot be truncated under the reader.
func mapFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 || st.Size() > maxKernel*2 {
		return nil, fmt.Errorf("%s: %d bytes is not a kernel image", path, st.Size())
	}
	return unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
}

// Xen ELF note types (xen/include/public/elfnote.h).
const (
	noteGuestOS           = 6
	noteFeatures          = 10
	noteModStartPFN       = 16
	noteSupportedFeatures = 17
	notePhys32Entry       = 18
)

// LoadKernel reads a kernel file. Errors say what is wrong with it.
func LoadKernel(path string) (*Kernel, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	k, err := ParseKernel(b)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	return k, nil
}

// LoadKernelCached is LoadKernel with the decompressed ELF image kept in
// dir, keyed by the file's path, size and modification time: decompressing
// Debian's xz kernel is most of a build's time, and kernels rarely change.
func LoadKernelCached(path, dir string) (*Kernel, error) {
	if dir == "" {
		return LoadKernel(path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	abs, _ := filepath.Abs(path)
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%d\x00%d", abs, st.Size(), st.ModTime().UnixNano())))
	cached := filepath.Join(dir, "kernel-"+hex.EncodeToString(sum[:8])+".elf")
	if k := loadMapped(cached); k != nil {
		return k, nil
	}
	// Cold: one decompression at a time per cache entry, across processes
	// and goroutines (flock locks belong to each open file), so ten creates
	// of a new kernel make one 60 MiB image, not ten; the others wait and
	// then map what it wrote.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return LoadKernel(path) // no cache to be had: still boot
	}
	lock, err := os.OpenFile(cached+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return LoadKernel(path)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("kernel cache %s: lock: %w", cached, err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	if k := loadMapped(cached); k != nil {
		return k, nil // made by whoever held the lock before us
	}
	if k := xzIntoCache(path, cached); k != nil {
		return k, nil
	}
	k, img, err := loadImage(path)
	if err != nil {
		return nil, err
	}
	tmp := fmt.Sprintf("%s.%d.tmp", cached, os.Getpid())
	if os.WriteFile(tmp, img, 0o644) == nil && os.Rename(tmp, cached) == nil {
		// from now on the page cache holds the bytes: map them, and give
		// the decompression's ~200 MiB of heap back to the system now
		// rather than when the scavenger gets round to it (a supervisor
		// lives long, and a 1 GiB dom0 has no room for it)
		if mk := loadMapped(cached); mk != nil {
			k, img = nil, nil
			debug.FreeOSMemory()
			return mk, nil
		}
	}
	os.Remove(tmp)
	return k, nil
}

// xzLimit is the most xz(1) may write before it is stopped: maxKernel (a
// test lowers it).
var xzLimit int64 = maxKernel

// xzIntoCache fills the cache entry for an xz-compressed bzImage by having
// xz(1) write the decompressed image straight into the entry's file, then
// maps it. Decoding through a pipe into this process's heap and writing that
// out again made a cold create's decode 7.3-7.9 s in the lab against xz(1)'s
// 4.3-5.4 s alone (`xz -dc | cat` takes 14.9 s there: a pipe's every 64 KiB
// is a context switch, dear under emulation in a PV dom0). nil means the
// usual path is to be taken: no xz(1), not such a kernel, or anything failed
// (the usual path then gives the error its decoder finds).
func xzIntoCache(path, cached string) *Kernel {
	if xzUsable() != nil {
		return nil
	}
	// xz(1) reads the payload from the kernel file itself, its offset set
	// there: an in-memory stdin would be copied through a pipe, which costs
	// as much again under emulation
	in, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return nil
	}
	hdr := make([]byte, 0x250)
	magic := make([]byte, len(xzMagic))
	if _, err := io.ReadFull(in, hdr); err != nil {
		return nil
	}
	off, _, err := bzPayloadAt(hdr, int(st.Size()))
	if err != nil {
		return nil
	}
	if _, err := in.ReadAt(magic, int64(off)); err != nil || !bytes.Equal(magic, xzMagic) {
		return nil
	}
	if _, err := in.Seek(int64(off), io.SeekStart); err != nil {
		return nil
	}
	imagesLoaded.Add(1)
	tmp := fmt.Sprintf("%s.%d.tmp", cached, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil
	}
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	cmd := xzCommand()
	cmd.Stdin, cmd.Stdout = in, f
	err = cmd.Start()
	if err == nil {
		// a hostile image that decompresses without end is stopped once
		// the file passes xzLimit
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if st, err := f.Stat(); err == nil && st.Size() > xzLimit {
						cmd.Process.Kill()
						return
					}
				}
			}
		}()
		err = cmd.Wait()
		close(done)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil
	}
	k := loadMapped(tmp)
	if k == nil {
		return nil
	}
	if int64(len(k.mapped)) > xzLimit || os.Rename(tmp, cached) != nil {
		k.Close()
		return nil
	}
	ok = true
	return k
}

// loadMapped maps and parses a cached image; nil if there is none (or it
// is not a usable kernel, when it will be made again).
func loadMapped(cached string) *Kernel {
	m, err := mapFile(cached)
	if err != nil {
		return nil
	}
	k, err := parseELF(m)
	if err != nil {
		unix.Munmap(m)
		return nil
	}
	k.mapped = m
	return k
}

// imagesLoaded counts loadImage calls: the tests' way to see that a cold
// cache is filled once, however many ask at the same time.
var imagesLoaded atomic.Int64

// loadImage reads and decompresses a kernel file into its ELF image.
func loadImage(path string) (*Kernel, []byte, error) {
	imagesLoaded.Add(1)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel: %w", err)
	}
	img, err := elfImage(b)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	k, err := parseELF(img)
	if err != nil {
		return nil, nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	return k, img, nil
}

// ParseKernel parses a bzImage or an ELF image.
func ParseKernel(b []byte) (*Kernel, error) {
	img, err := elfImage(b)
	if err != nil {
		return nil, err
	}
	return parseELF(img)
}

// elfImage is the ELF image inside b: b itself, or a bzImage's payload
// decompressed.
func elfImage(b []byte) ([]byte, error) {
	if bytes.HasPrefix(b, []byte(elf.ELFMAG)) {
		return b, nil
	}
	payload, err := bzPayload(b)
	if err != nil {
		return nil, err
	}
	return decompress(payload)
}

// bzPayload finds the compressed kernel inside a bzImage (boot protocol ≥ 2.08).
func bzPayload(b []byte) ([]byte, error) {
	off, n, err := bzPayloadAt(b, len(b))
	if err != nil {
		return nil, err
	}
	return b[off : off+n], nil
}

// bzPayloadAt is where the payload of a bzImage of size bytes lies, from
// the file's first bytes (its setup header, 0x250 of them at least).
func bzPayloadAt(b []byte, size int) (off, n int, err error) {
	if len(b) < 0x250 || string(b[0x202:0x206]) != "HdrS" {
		return 0, 0, errors.New("neither an ELF image nor a Linux bzImage (no HdrS signature)")
	}
	version := binary.LittleEndian.Uint16(b[0x206:])
	if version < 0x208 {
		return 0, 0, fmt.Errorf("bzImage boot protocol %d.%02d is older than 2.08: it has no payload fields", version>>8, version&0xff)
	}
	setup := int(b[0x1f1])
	if setup == 0 {
		setup = 4
	}
	off = (setup+1)*512 + int(binary.LittleEndian.Uint32(b[0x248:]))
	n = int(binary.LittleEndian.Uint32(b[0x24c:]))
	if off < 0 || n <= 0 || off+n > size {
		return 0, 0, fmt.Errorf("bzImage payload (offset %d, %d bytes) lies outside the %d-byte file", off, n, size)
	}
	return off, n, nil
}

// maxKernel bounds a decompressed kernel, against a hostile image.
const maxKernel = 512 << 20

// XzTool is xz-utils' xz(1), which decodes with liblzma, the decoder xl's
// libxenguest links: 0.6 s on the lab's Debian kernel on this machine
// against the Go decoder's 1.1-1.5 s, and 4.3-5.4 s against ~15 s under the
// lab's emulation, where a cold create is nearly all decode. A cold cache
// has it write the cache file itself (xzIntoCache); otherwise its output
// comes through a pipe (xzTool). A host
// without it, or where it fails, gets the Go decoder (unxz), which the fuzz
// target and the byte-identical check against xz(1) keep honest. Only this
// path: busybox's xz, which a minimal dom0 may have in /bin, lacks the x86
// BCJ filter Linux's kernels use. "" turns it off.
var XzTool = "/usr/bin/xz"

func decompress(p []byte) ([]byte, error) {
	switch {
	case bytes.HasPrefix(p, xzMagic):
		if out, err := xzTool(p); err == nil {
			return out, nil
		}
		return unxz(p)
	case bytes.HasPrefix(p, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(p))
		if err != nil {
			return nil, fmt.Errorf("gzip payload: %w", err)
		}
		zr.Multistream(false)
		return readLimited(zr, "gzip payload")
	case bytes.HasPrefix(p, []byte(elf.ELFMAG)):
		return p, nil
	}
	return nil, fmt.Errorf("bzImage payload compressed with an unsupported method (magic % x); luxen reads xz and gzip", p[:min(6, len(p))])
}

func readLimited(r io.Reader, what string) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, maxKernel+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if len(out) > maxKernel {
		return nil, fmt.Errorf("%s: decompresses to more than %d MiB", what, maxKernel>>20)
	}
	return out, nil
}

// xzMagic opens an xz stream.
var xzMagic = []byte{0xfd, '7', 'z', 'X', 'Z', 0}

// xzUsable says why XzTool cannot be run, or nil.
func xzUsable() error {
	if XzTool == "" {
		return errors.New("no xz tool")
	}
	_, err := os.Stat(XzTool)
	return err
}

// xzCommand decodes one xz stream from its stdin to its stdout.
// --single-stream: what follows the stream in a bzImage is Linux's size
// trailer.
func xzCommand() *exec.Cmd { return exec.Command(XzTool, "-dc", "--single-stream") }

// xzTool decodes p with XzTool; an error means the Go decoder is to be used.
func xzTool(p []byte) ([]byte, error) {
	if err := xzUsable(); err != nil {
		return nil, err
	}
	cmd := xzCommand()
	cmd.Stdin = bytes.NewReader(p)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// the trailer is the decompressed size: one allocation, not a doubling
	size := 64 << 20
	if len(p) >= 4 {
		if n := int(binary.LittleEndian.Uint32(p[len(p)-4:])); n > 0 && n <= maxKernel {
			size = n
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	_, rerr := buf.ReadFrom(io.LimitReader(out, xzLimit+1))
	if rerr != nil || int64(buf.Len()) > xzLimit {
		// stopped, not waited for: a decoder with more to write blocks on
		// its output, and the goroutine feeding its input on it
		cmd.Process.Kill()
	}
	werr := cmd.Wait()
	switch {
	case rerr != nil:
		return nil, rerr
	case int64(buf.Len()) > xzLimit:
		return nil, fmt.Errorf("xz payload: decompresses to more than %d MiB", xzLimit>>20)
	case werr != nil:
		return nil, fmt.Errorf("%s: %w: %s", XzTool, werr, bytes.TrimSpace(stderr.Bytes()))
	}
	return buf.Bytes(), nil
}

// unxz decodes the single-block xz stream Linux's scripts/xz_wrap.sh makes:
// an x86 BCJ filter in front of LZMA2. The LZMA2 data is decoded by
// ulikunitz/xz's lzma package (which has no BCJ filter); BCJ is undone here.
func unxz(p []byte) ([]byte, error) {
	if len(p) < 12+12 {
		return nil, errors.New("xz payload truncated")
	}
	flags := p[6:8]
	if flags[0] != 0 || flags[1] > 0x0f {
		return nil, fmt.Errorf("xz stream flags % x not understood", flags)
	}
	blk := p[12:]
	hsize := (int(blk[0]) + 1) * 4
	if blk[0] == 0 || hsize > len(blk) {
		return nil, errors.New("xz: no block (or a truncated block header)")
	}
	hdr := blk[:hsize]
	bflags := hdr[1]
	nfilters := int(bflags&3) + 1
	pos := 2
	uvarint := func() (uint64, error) {
		v, n := binary.Uvarint(hdr[pos:])
		if n <= 0 {
			return 0, errors.New("xz: bad block header")
		}
		pos += n
		return v, nil
	}
	if bflags&0x40 != 0 { // compressed size present
		if _, err := uvarint(); err != nil {
			return nil, err
		}
	}
	if bflags&0x80 != 0 { // uncompressed size present
		if _, err := uvarint(); err != nil {
			return nil, err
		}
	}
	var bcj bool
	var bcjStart uint32
	dictCap := -1
	for i := 0; i < nfilters; i++ {
		id, err := uvarint()
		if err != nil {
			return nil, err
		}
		psize, err := uvarint()
		if err != nil {
			return nil, err
		}
		if pos+int(psize) > len(hdr) {
			return nil, errors.New("xz: bad filter properties")
		}
		props := hdr[pos : pos+int(psize)]
		pos += int(psize)
		switch id {
		case 0x04: // x86 BCJ
			bcj = true
			if len(props) == 4 {
				bcjStart = binary.LittleEndian.Uint32(props)
			}
		case 0x21: // LZMA2, last
			if len(props) != 1 || props[0] > 40 {
				return nil, errors.New("xz: bad LZMA2 properties")
			}
			d := uint64(2|(props[0]&1)) << (props[0]/2 + 11)
			if props[0] == 40 || d > 1<<30 {
				return nil, errors.New("xz: LZMA2 dictionary larger than 1 GiB")
			}
			dictCap = int(d)
		default:
			return nil, fmt.Errorf("xz filter 0x%x not supported (luxen reads x86 BCJ + LZMA2)", id)
		}
	}
	if dictCap < 0 {
		return nil, errors.New("xz: block has no LZMA2 filter")
	}
	if dictCap < lzma.MinDictCap {
		dictCap = lzma.MinDictCap
	}
	r, err := lzma.Reader2Config{DictCap: dictCap}.NewReader2(bytes.NewReader(blk[hsize:]))
	if err != nil {
		return nil, fmt.Errorf("xz: %w", err)
	}
	out, err := readLimited(r, "xz payload")
	if err != nil {
		return nil, err
	}
	if bcj {
		unBCJ(out, bcjStart)
	}
	return out, nil
}

// unBCJ reverses the x86 branch/call/jump filter in place. The encoder
// replaced the 32-bit relative operand of E8 (CALL) and E9 (JMP) opcodes with
// an absolute one when its top byte was 0x00 or 0xFF; a small history of
// recent E8/E9 bytes (mask) decides which operands were touched, as the
// filter's definition in the xz file format specification prescribes.
func unBCJ(b []byte, start uint32) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNumber := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msByte := func(x byte) bool { return x == 0 || x == 0xff }
	var mask uint32
	prev := start - 5 // position of the previous E8/E9, far enough back to mean "none"
	for i := 0; i+5 <= len(b); {
		if b[i] != 0xe8 && b[i] != 0xe9 {
			i++
			continue
		}
		pos := start + uint32(i)
		if off := pos - prev; off > 5 {
			mask = 0
		} else {
			for k := uint32(0); k < off; k++ {
				mask = (mask & 0x77) << 1
			}
		}
		prev = pos
		top := b[i+4]
		if msByte(top) && allowed[(mask>>1)&7] && mask>>1 < 0x10 {
			src := binary.LittleEndian.Uint32(b[i+1:])
			var dest uint32
			for {
				dest = src - (pos + 5)
				if mask == 0 {
					break
				}
				sh := bitNumber[mask>>1] * 8
				if !msByte(byte(dest >> (24 - sh))) {
					break
				}
				src = dest ^ (1<<(32-sh) - 1)
			}
			// the top byte is bit 24 sign-extended: 0x00 or 0xFF
			dest = dest&0x00ffffff | uint32(^(byte(dest>>24)&1-1))<<24
			binary.LittleEndian.PutUint32(b[i+1:], dest)
			i += 5
			mask = 0
			continue
		}
		i++
		mask |= 1
		if msByte(top) {
			mask |= 0x10
		}
	}
}

func parseELF(b []byte) (*Kernel, error) {
	k, err := elfSegments(b)
	if err != nil {
		return nil, err
	}
	if k.Entry == 0 {
		return nil, errors.New("not a PVH-capable Xen guest kernel: it has no XEN_ELFNOTE_PHYS32_ENTRY note (Linux needs CONFIG_PVH)")
	}
	return k, nil
}

// elfSegments reads an x86 ELF image's loadable segments and Xen notes.
// Both classes are accepted, as libxenguest accepts them: the PVH entry is
// 32-bit protected mode whatever the class, so an ELF32 EM_386 image with a
// PHYS32_ENTRY note (Xen's own test kernels, xen-shim) boots like a 64-bit
// one; hvmloader is ELF32 too. Segments load at their physical addresses.
func elfSegments(b []byte) (*Kernel, error) {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("not a valid ELF image: %w", err)
	}
	if !(f.Class == elf.ELFCLASS64 && f.Machine == elf.EM_X86_64) && !(f.Class == elf.ELFCLASS32 && f.Machine == elf.EM_386) {
		return nil, fmt.Errorf("ELF image is %v %v; an x86 guest needs ELF64 x86-64 or ELF32 i386", f.Class, f.Machine)
	}
	k := &Kernel{Low: ^uint64(0), elfEntry: f.Entry}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			if p.Filesz > p.Memsz || p.Memsz > maxKernel {
				return nil, fmt.Errorf("ELF segment at 0x%x: file size %d, memory size %d", p.Paddr, p.Filesz, p.Memsz)
			}
			// the segment's bytes are a slice of the image, not a copy
			if p.Off > uint64(len(b)) || p.Filesz > uint64(len(b))-p.Off {
				return nil, fmt.Errorf("ELF segment at 0x%x: file bytes %d+%d lie past the image's end (%d)",
					p.Paddr, p.Off, p.Filesz, len(b))
			}
			data := b[p.Off : p.Off+p.Filesz : p.Off+p.Filesz]
			k.Segments = append(k.Segments, Segment{Addr: p.Paddr, Data: data, Mem: p.Memsz})
			k.Low = min(k.Low, p.Paddr)
			k.High = max(k.High, p.Paddr+p.Memsz)
		case elf.PT_NOTE:
			data := make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				return nil, fmt.Errorf("ELF notes: %w", err)
			}
			k.readNotes(data)
		}
	}
	if len(k.Segments) == 0 {
		return nil, errors.New("ELF image has nothing to load")
	}
	return k, nil
}

func (k *Kernel) readNotes(d []byte) {
	for len(d) >= 12 {
		nsz := binary.LittleEndian.Uint32(d[0:])
		dsz := binary.LittleEndian.Uint32(d[4:])
		typ := binary.LittleEndian.Uint32(d[8:])
		align := func(n uint32) int { return int((n + 3) &^ 3) }
		if 12+align(nsz)+align(dsz) > len(d) {
			return
		}
		name := string(bytes.TrimRight(d[12:12+nsz], "\x00"))
		desc := d[12+align(nsz) : 12+align(nsz)+int(dsz)]
		d = d[12+align(nsz)+align(dsz):]
		if name != "Xen" {
			continue
		}
		num := func() uint64 {
			switch len(desc) {
			case 4:
				return uint64(binary.LittleEndian.Uint32(desc))
			case 8:
				return binary.LittleEndian.Uint64(desc)
			}
			return 0
		}
		switch typ {
		case notePhys32Entry:
			k.Entry = num()
		case noteSupportedFeatures:
			k.Features = uint32(num())
		case noteModStartPFN:
			k.ModStart = num() != 0
		case noteGuestOS:
			k.GuestOS = string(bytes.TrimRight(desc, "\x00"))
		}
	}
}
