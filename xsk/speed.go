package xsk

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolGSET is ETHTOOL_GSET, which reads struct ethtool_cmd.
const ethtoolGSET = 0x1

// ethtoolCmd is the head of struct ethtool_cmd (include/uapi/linux/ethtool.h).
type ethtoolCmd struct {
	cmd, supported, advertising uint32
	speed                       uint16
	duplex, port, phyAddress    uint8
	transceiver, autoneg        uint8
	mdioSupport                 uint8
	maxTXPkt, maxRXPkt          uint32
	speedHi                     uint16
	ethTPMDIX, ethTPMDIXCtrl    uint8
	lpAdvertising               uint32
	reserved                    [2]uint32
}

// LinkSpeed returns dev's link speed in Mbit/s as the driver reports it
// (`ethtool dev`), in the calling thread's network namespace; 0 when the
// driver does not know (a link that is down, some virtual devices).
func LinkSpeed(dev string) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	cmd := ethtoolCmd{cmd: ethtoolGSET}
	ifr := struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}{data: unsafe.Pointer(&cmd)}
	copy(ifr.name[:unix.IFNAMSIZ-1], dev)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); e != 0 {
		return 0, fmt.Errorf("xsk: link speed of %s: %w", dev, e)
	}
	speed := uint32(cmd.speedHi)<<16 | uint32(cmd.speed)
	if speed == 0 || speed == 0xffffffff {
		return 0, nil // SPEED_UNKNOWN
	}
	return int(speed), nil
}
