// Package umem implements an AF_XDP UMEM: the packet buffer area that user
// space and the kernel share, registered on an AF_XDP socket, with its fill
// and completion rings and a per-core frame allocator.
//
// The area is divided into equal frames (chunks) of FrameSize bytes; frames
// are named by their byte offset in the area ("address"). Only aligned mode
// is supported: a frame's base address is a multiple of FrameSize.
package umem

import (
	"errors"
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/xdpsys"
	"github.com/fastpathnet/fastpath/rings"
	"golang.org/x/sys/unix"
)

// Options configure a UMEM. Start from DefaultOptions.
type Options struct {
	// FrameSize is the size of each frame in bytes: 2048 or 4096.
	// Default 4096 (libxdp's default). A frame holds the kernel's 256-byte
	// XDP headroom, Headroom and the packet.
	FrameSize uint32
	// FrameCount is the number of frames. Default 4096 (16 MiB of 4096-byte
	// frames): enough for a fill ring, a TX ring and frames in flight.
	FrameCount uint32
	// Headroom is extra space reserved in front of received packets, on top
	// of the kernel's XDP_PACKET_HEADROOM. Default 0.
	Headroom uint32
	// FillSize and CompletionSize are the ring sizes in entries, powers of
	// two. Default 2048 each (libxdp's default).
	FillSize       uint32
	CompletionSize uint32
	// HugePages backs the area with 2 MiB huge pages when the system has
	// them free (vm.nr_hugepages), falling back to normal pages. HugePages
	// reports what was obtained. Default false.
	HugePages bool
	// TXMetadataLen reserves this many bytes in front of every transmitted
	// packet for AF_XDP TX metadata (struct xsk_tx_metadata: checksum
	// offload, TX timestamps): a multiple of 8 below 256, 0 for none.
	// Descriptors that carry metadata set XDP_TX_METADATA and put their
	// packet at least TXMetadataLen bytes into the frame. Linux 6.8 or
	// newer. Default 0.
	TXMetadataLen uint32
	// TXSoftwareChecksum makes the kernel compute requested checksums
	// itself (XDP_UMEM_TX_SW_CSUM) instead of leaving them to the device:
	// for tests, and for devices whose offload misbehaves. Copy mode only;
	// Linux 6.8 or newer. Default false.
	TXSoftwareChecksum bool
}

// DefaultOptions returns the options documented on each field.
func DefaultOptions() Options {
	return Options{
		FrameSize:      4096,
		FrameCount:     4096,
		FillSize:       2048,
		CompletionSize: 2048,
	}
}

// XDPHeadroom is XDP_PACKET_HEADROOM: the space the kernel keeps in front
// of every received packet.
const XDPHeadroom = unix.XDP_PACKET_HEADROOM

// Check validates the options.
func (o *Options) Check() error {
	if o.FrameSize != 2048 && o.FrameSize != 4096 {
		return fmt.Errorf("umem: frame size %d: %w: use 2048 or 4096", o.FrameSize, ErrOptions)
	}
	if o.FrameCount == 0 {
		return fmt.Errorf("umem: frame count 0: %w: need at least one frame", ErrOptions)
	}
	if o.Headroom+XDPHeadroom+64 > o.FrameSize {
		return fmt.Errorf("umem: headroom %d leaves no room for packets in %d-byte frames: %w", o.Headroom, o.FrameSize, ErrOptions)
	}
	if o.TXMetadataLen%8 != 0 || o.TXMetadataLen >= 256 {
		return fmt.Errorf("umem: TX metadata length %d: %w: use a multiple of 8 below 256 (xsk.TXMetadataLen for struct xsk_tx_metadata)", o.TXMetadataLen, ErrOptions)
	}
	if o.TXSoftwareChecksum && o.TXMetadataLen == 0 {
		return fmt.Errorf("umem: %w: TXSoftwareChecksum computes checksums requested through TX metadata: set TXMetadataLen too", ErrOptions)
	}
	for _, r := range []struct {
		name string
		size uint32
	}{{"fill", o.FillSize}, {"completion", o.CompletionSize}} {
		if r.size == 0 || bits.OnesCount32(r.size) != 1 {
			return fmt.Errorf("umem: %s ring size %d: %w: use a power of two such as 2048", r.name, r.size, ErrOptions)
		}
	}
	return nil
}

// UMEM is a packet buffer area, registered with the kernel on the first
// socket that binds with it.
//
// Its registration belongs to that first socket: the fill and completion
// rings mapped by Register are the socket's (it unmaps them when it
// closes), and its descriptor names the UMEM to sockets that share it.
// While the first socket is open, sockets on other queues or devices can
// share the UMEM; once it has closed, the UMEM cannot be shared again until
// every socket that shared it has closed too.
type UMEM struct {
	fd        int
	mapping   []byte // the whole mmap, for Munmap
	area      []byte // the frames: mapping[:FrameSize*FrameCount]
	opts      Options
	hugePages bool
	rings     *Rings
	claimed   []span
	binding   Binding
	users     int
	orphaned  bool
	closed    bool
}

type span struct{ first, end uint32 }

// Binding is where the socket that registered the UMEM is bound, and the
// modes it obtained, which sockets sharing the UMEM inherit.
type Binding struct {
	Ifindex    int
	Queue      int
	ZeroCopy   bool
	NeedWakeup bool
}

// ErrInUse reports a UMEM that sockets still use, or one that cannot be
// shared any more.
var ErrInUse = errors.New("UMEM in use")

// New maps the area. The UMEM is registered with the kernel on the first
// socket that binds with it (see Register and the xsk package), so that it
// belongs to that socket's network namespace.
func New(opts Options) (*UMEM, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	u := &UMEM{fd: -1, opts: opts}
	size := int(opts.FrameSize) * int(opts.FrameCount)
	var err error
	if opts.HugePages {
		const huge = 2 << 20
		hsize := (size + huge - 1) &^ (huge - 1)
		u.mapping, err = unix.Mmap(-1, 0, hsize, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE|unix.MAP_HUGETLB|unix.MAP_HUGE_2MB)
		u.hugePages = err == nil
	}
	if !u.hugePages {
		u.mapping, err = unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
		if err != nil {
			return nil, fmt.Errorf("umem: map %d bytes: %w", size, err)
		}
	}
	u.area = u.mapping[:size:size]
	return u, nil
}

// Register registers the area on the AF_XDP socket fd (XDP_UMEM_REG) and
// sizes and maps its fill and completion rings, which it returns: they and
// the socket are the caller's, who must call Unregister when it closes the
// socket (or fails to bind it). Later sockets share the UMEM with
// XDP_SHARED_UMEM and FD.
func (u *UMEM) Register(fd int) (*Rings, error) {
	switch {
	case u.closed:
		return nil, fmt.Errorf("umem: register: UMEM closed")
	case u.fd >= 0:
		return nil, fmt.Errorf("umem: already registered on socket %d: share it with XDP_SHARED_UMEM", u.fd)
	case u.orphaned:
		return nil, fmt.Errorf("umem: %w: the socket that registered it closed while %d others still share it; close them, or use a new UMEM", ErrInUse, u.users)
	}
	reg := unix.XDPUmemReg{
		Addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(u.area)))),
		Len:      uint64(len(u.area)),
		Size:     u.opts.FrameSize,
		Headroom: u.opts.Headroom,
	}
	if u.opts.TXMetadataLen > 0 {
		reg.Flags |= unix.XDP_UMEM_TX_METADATA_LEN
		reg.Tx_metadata_len = u.opts.TXMetadataLen
	}
	if u.opts.TXSoftwareChecksum {
		reg.Flags |= umemTXSoftwareChecksum
	}
	err := xdpsys.Setsockopt(fd, unix.SOL_XDP, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
	if err != nil && errors.Is(err, unix.EINVAL) && reg.Flags&unix.XDP_UMEM_TX_METADATA_LEN != 0 {
		// Linux 6.8 to 6.10 took tx_metadata_len without the flag that
		// later kernels require, and refuse the flag. Older kernels
		// refuse the flag too, but without it would ignore the length
		// (it lies in what they read as padding) and then drop every
		// descriptor that carries metadata: only 6.8 and later retry.
		if !kernel.AtLeast(6, 8) {
			return nil, fmt.Errorf("umem: register with %d bytes of TX metadata: %w: %w: set TXMetadataLen to 0 (checksums computed in software)", u.opts.TXMetadataLen, err, ErrTXMetadata)
		}
		reg.Flags &^= unix.XDP_UMEM_TX_METADATA_LEN
		err = xdpsys.Setsockopt(fd, unix.SOL_XDP, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg))
		if errors.Is(err, unix.EINVAL) {
			return nil, fmt.Errorf("umem: register with %d bytes of TX metadata: %w: %w: set TXMetadataLen to 0 (checksums computed in software)", u.opts.TXMetadataLen, err, ErrTXMetadata)
		}
	}
	if err != nil {
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.ENOMEM) {
			return nil, fmt.Errorf("umem: register %d MiB: %w: %w", len(u.area)>>20, err, ErrMemlock)
		}
		return nil, xdpsys.Errno("umem: register (XDP_UMEM_REG)", err)
	}
	r, err := u.NewRings(fd)
	if err != nil {
		return nil, err
	}
	u.fd, u.rings = fd, r
	return r, nil
}

// Unregister forgets the registering socket, which is closing: no socket
// can share the UMEM through it any more.
func (u *UMEM) Unregister() {
	u.fd, u.rings, u.binding = -1, nil, Binding{}
	u.orphaned = u.users > 0
}

// Registered reports whether a socket holds the UMEM's registration.
func (u *UMEM) Registered() bool { return u.fd >= 0 }

// FD is the file descriptor of the socket the UMEM is registered on, -1
// when none is. Sockets that share the UMEM name it in their bind.
func (u *UMEM) FD() int { return u.fd }

// SetBinding records where the registering socket was bound.
func (u *UMEM) SetBinding(b Binding) { u.binding = b }

// Bound returns where the registering socket is bound, if it is.
func (u *UMEM) Bound() (Binding, bool) { return u.binding, u.fd >= 0 && u.binding.Ifindex != 0 }

// Acquire and Release count the sockets bound with the UMEM; Close refuses
// while any is. The xsk package calls them.
func (u *UMEM) Acquire() { u.users++ }

// Release is Acquire's pair.
func (u *UMEM) Release() {
	u.users--
	if u.users == 0 {
		u.orphaned = false
	}
}

// Area is the whole packet buffer area.
func (u *UMEM) Area() []byte { return u.area }

// FrameSize is the size of each frame in bytes.
func (u *UMEM) FrameSize() uint32 { return u.opts.FrameSize }

// FrameCount is the number of frames.
func (u *UMEM) FrameCount() uint32 { return u.opts.FrameCount }

// TXMetadataLen is the TX metadata space registered in front of each
// transmitted packet (Options.TXMetadataLen).
func (u *UMEM) TXMetadataLen() uint32 { return u.opts.TXMetadataLen }

// umemTXSoftwareChecksum is XDP_UMEM_TX_SW_CSUM, which x/sys lacks.
const umemTXSoftwareChecksum = 1 << 1

// Headroom is the extra receive headroom configured (not counting
// XDPHeadroom).
func (u *UMEM) Headroom() uint32 { return u.opts.Headroom }

// RXCapacity is the largest packet the kernel can receive into a frame.
func (u *UMEM) RXCapacity() uint32 { return u.opts.FrameSize - XDPHeadroom - u.opts.Headroom }

// HugePages reports whether the area is backed by huge pages.
func (u *UMEM) HugePages() bool { return u.hugePages }

// Rings returns the fill and completion rings of the socket the UMEM is
// registered on, nil when none is.
func (u *UMEM) Rings() *Rings { return u.rings }

// Frame returns the bytes from addr to the end of its frame. addr may point
// inside a frame, as RX descriptor addresses do. Slice the result to the
// descriptor's length. It panics if addr is outside the area.
func (u *UMEM) Frame(addr uint64) []byte {
	end := (addr | uint64(u.opts.FrameSize-1)) + 1
	return u.area[addr:end:end]
}

// Packet returns the len bytes at addr: the packet a descriptor names.
func (u *UMEM) Packet(addr uint64, n uint32) []byte {
	return u.area[addr : addr+uint64(n) : addr+uint64(n)]
}

// Allocator claims count frames starting at frame index first and returns an
// allocator over them, all free. Claims must not overlap: each engine (core)
// owns a disjoint part of a shared UMEM.
func (u *UMEM) Allocator(first, count uint32) (*Allocator, error) {
	end := uint64(first) + uint64(count)
	if count == 0 || end > uint64(u.opts.FrameCount) {
		return nil, fmt.Errorf("umem: frames %d..%d outside the %d frames: %w", first, end, u.opts.FrameCount, ErrOptions)
	}
	for _, s := range u.claimed {
		if first < s.end && uint32(end) > s.first {
			return nil, fmt.Errorf("umem: frames %d..%d overlap frames %d..%d already claimed: %w", first, end, s.first, s.end, ErrOptions)
		}
	}
	u.claimed = append(u.claimed, span{first, uint32(end)})
	return NewAllocator(uint64(first)*uint64(u.opts.FrameSize), count, u.opts.FrameSize), nil
}

// Close unmaps the area. It fails with ErrInUse while sockets use the
// UMEM: close them first. It is safe to call twice.
func (u *UMEM) Close() error {
	if u == nil || u.closed {
		return nil
	}
	if u.users > 0 {
		return fmt.Errorf("umem: close: %w by %d socket(s): close them first", ErrInUse, u.users)
	}
	u.closed = true
	u.fd = -1
	if u.mapping != nil {
		err := unix.Munmap(u.mapping)
		u.mapping, u.area = nil, nil
		return err
	}
	return nil
}

// Rings is a fill and completion ring pair mapped from one socket. A UMEM
// needs one pair for each (device, queue) it is bound to.
type Rings struct {
	Fill       *rings.Fill
	Completion *rings.Completion
	fillMem    []byte
	compMem    []byte
}

// NewRings sizes, maps and returns a fill and completion ring pair on the
// AF_XDP socket fd, for a socket that shares this UMEM on another device or
// queue. The sizes are the UMEM's FillSize and CompletionSize.
func (u *UMEM) NewRings(fd int) (*Rings, error) {
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_UMEM_FILL_RING, int(u.opts.FillSize)); err != nil {
		return nil, xdpsys.Errno("umem: size fill ring", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_UMEM_COMPLETION_RING, int(u.opts.CompletionSize)); err != nil {
		return nil, xdpsys.Errno("umem: size completion ring", err)
	}
	off, err := xdpsys.MmapOffsets(fd)
	if err != nil {
		return nil, err
	}
	r := &Rings{}
	r.fillMem, err = xdpsys.MapRing(fd, unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, u.opts.FillSize, rings.AddrSize)
	if err != nil {
		return nil, fmt.Errorf("umem: map fill ring: %w", err)
	}
	r.compMem, err = xdpsys.MapRing(fd, unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, u.opts.CompletionSize, rings.AddrSize)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("umem: map completion ring: %w", err)
	}
	if r.Fill, err = rings.NewFill(r.fillMem, xdpsys.Offsets(off.Fr), u.opts.FillSize); err != nil {
		r.Close()
		return nil, err
	}
	if r.Completion, err = rings.NewCompletion(r.compMem, xdpsys.Offsets(off.Cr), u.opts.CompletionSize); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// Close unmaps both rings. It is safe to call twice.
func (r *Rings) Close() error {
	var errs []error
	for _, m := range []*[]byte{&r.fillMem, &r.compMem} {
		if *m != nil {
			errs = append(errs, unix.Munmap(*m))
			*m = nil
		}
	}
	return errors.Join(errs...)
}
