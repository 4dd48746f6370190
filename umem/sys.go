package umem

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// setsockopt and getsockopt with a pointer argument, which x/sys has no
// typed helpers for in the XDP case.
func setsockopt(fd, level, opt int, p unsafe.Pointer, size uintptr) error {
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
// wrote. It is exported for the xsk package.
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
