// Package xdpsys holds the system calls that umem and xsk both make on an
// AF_XDP socket: socket options with a pointer argument, the ring layout
// (XDP_MMAP_OFFSETS), mapping a ring, and the errno wrapping that turns a
// missing capability or a kernel without AF_XDP into a sentinel error that
// says what to do. Nothing outside those two packages needs it.
package xdpsys

import (
	"fmt"
	"unsafe"

	"github.com/fastpathnet/fastpath/rings"

	"golang.org/x/sys/unix"
)

// Setsockopt and getsockopt with a pointer argument, which x/sys has no
// typed helpers for in the XDP case.
func Setsockopt(fd, level, opt int, p unsafe.Pointer, size uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p), size, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, level, opt int, p unsafe.Pointer, size *uint32) error {
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(size)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// Getsockopt reads a socket option into *p, returning the length the kernel
// wrote.
func Getsockopt[T any](fd, level, opt int, p *T) (int, error) {
	size := uint32(unsafe.Sizeof(*p))
	err := getsockopt(fd, level, opt, unsafe.Pointer(p), &size)
	return int(size), err
}

// MmapOffsets returns the layout of the socket's rings (XDP_MMAP_OFFSETS).
func MmapOffsets(fd int) (unix.XDPMmapOffsets, error) {
	var off unix.XDPMmapOffsets
	n, err := Getsockopt(fd, unix.SOL_XDP, unix.XDP_MMAP_OFFSETS, &off)
	if err != nil {
		return off, Errno("get XDP_MMAP_OFFSETS", err)
	}
	if n != int(unsafe.Sizeof(off)) {
		// Kernels before 5.4 answer without the flags offsets.
		return off, fmt.Errorf("get XDP_MMAP_OFFSETS: %d bytes, want %d: %w (need_wakeup needs Linux 5.4)", n, unsafe.Sizeof(off), ErrNotSupported)
	}
	return off, nil
}

// Offsets converts the kernel's ring offsets.
func Offsets(o unix.XDPRingOffset) rings.Offsets {
	return rings.Offsets{Producer: o.Producer, Consumer: o.Consumer, Desc: o.Desc, Flags: o.Flags}
}

// MapRing maps the ring at page offset pgoff of socket fd, with size entries
// of entrySize bytes laid out as off says.
func MapRing(fd int, pgoff int64, off unix.XDPRingOffset, size uint32, entrySize int) ([]byte, error) {
	n := int(off.Desc) + int(size)*entrySize
	mem, err := unix.Mmap(fd, pgoff, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, Errno("mmap", err)
	}
	return mem, nil
}
