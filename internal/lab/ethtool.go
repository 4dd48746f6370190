package lab

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtool commands from include/uapi/linux/ethtool.h.
const (
	ethtoolGTXCSUM = 0x16
	ethtoolSTXCSUM = 0x17
)

// setTxChecksum turns transmit checksum offload of the device name on or
// off (`ethtool -K name tx on|off`) in the calling thread's namespace;
// call it through Host.setTxChecksum, which runs it inside Host.Do.
//
// veth "offloads" checksums by never computing them: a datagram the
// kernel sends leaves with CHECKSUM_PARTIAL, and the peer's kernel trusts
// that mark. An XDP program or AF_XDP socket on the peer sees the raw bytes,
// with only the pseudo-header sum in the checksum field. A real wire always
// carries complete checksums, so the lab turns the offload off.
func setTxChecksum(name string, on bool) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd: ethtoolSTXCSUM}
	if on {
		val.data = 1
	}
	var ifr [40]byte
	copy(ifr[:unix.IFNAMSIZ-1], name)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&val))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return fmt.Errorf("ethtool -K %s tx %v: %w", name, on, e)
	}
	return nil
}

// txChecksum reports whether transmit checksum offload is on.
func txChecksum(name string) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(fd)
	val := struct{ cmd, data uint32 }{cmd: ethtoolGTXCSUM}
	var ifr [40]byte
	copy(ifr[:unix.IFNAMSIZ-1], name)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(unsafe.Pointer(&val))
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return false, fmt.Errorf("ethtool -k %s: %w", name, e)
	}
	return val.data != 0, nil
}
