// Package ethtool issues the SIOCETHTOOL ioctl: the doctor's device
// facts, the lab's offload switches and the RSS tables go through it.
package ethtool

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Do runs the ethtool command whose buffer (starting with the command
// number, as struct ethtool_* do) is at data, on the device dev of the
// calling thread's network namespace.
func Do(dev string, data unsafe.Pointer) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var ifr [40]byte // struct ifreq: the name, then a pointer
	copy(ifr[:unix.IFNAMSIZ-1], dev)
	*(*uintptr)(unsafe.Pointer(&ifr[unix.IFNAMSIZ])) = uintptr(data)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return e
	}
	return nil
}
