package ethtool

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolCmd is the head of struct ethtool_cmd (include/uapi/linux/ethtool.h),
// which ETHTOOL_GSET reads.
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
	cmd := ethtoolCmd{cmd: unix.ETHTOOL_GSET}
	if err := Do(dev, unsafe.Pointer(&cmd)); err != nil {
		return 0, fmt.Errorf("ethtool: link speed of %s: %w", dev, err)
	}
	speed := uint32(cmd.speedHi)<<16 | uint32(cmd.speed)
	if speed == 0 || speed == 0xffffffff {
		return 0, nil // SPEED_UNKNOWN
	}
	return int(speed), nil
}
