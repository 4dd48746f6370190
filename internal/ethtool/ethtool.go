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

// Driver returns dev's driver name (ETHTOOL_GDRVINFO, as ethtool -i).
func Driver(dev string) (string, error) {
	// struct ethtool_drvinfo: cmd, driver[32], version[32], ...
	var info [196]byte
	*(*uint32)(unsafe.Pointer(&info[0])) = unix.ETHTOOL_GDRVINFO
	if err := Do(dev, unsafe.Pointer(&info[0])); err != nil {
		return "", err
	}
	return unix.ByteSliceToString(info[4:36]), nil
}

// Channels is struct ethtool_channels (ethtool -l): the queues a device
// has (Max*) and those in use.
type Channels struct {
	MaxRX, MaxTX, MaxOther, MaxCombined uint32
	RX, TX, Other, Combined             uint32
}

// GetChannels reads dev's channels (ETHTOOL_GCHANNELS).
func GetChannels(dev string) (Channels, error) {
	var ch [9]uint32
	ch[0] = unix.ETHTOOL_GCHANNELS
	if err := Do(dev, unsafe.Pointer(&ch[0])); err != nil {
		return Channels{}, err
	}
	return Channels{ch[1], ch[2], ch[3], ch[4], ch[5], ch[6], ch[7], ch[8]}, nil
}

// QueuesInUse returns how many RX and TX queues dev uses now: combined
// channels plus the RX-only (or TX-only) ones, as `ethtool -l` shows
// under "Current hardware settings". A device may have more queues than
// it uses (virtio-net with more queue pairs than CPUs, igb with channels
// turned down), and binding an unused one fails with EINVAL. Where the
// driver has no get_channels, the counts netlink reports (numrxqueues,
// numtxqueues), given as rx and tx, are the answer.
func QueuesInUse(dev string, rx, tx int) (int, int) {
	ch, err := GetChannels(dev)
	if err != nil {
		return max(rx, 1), max(tx, 1)
	}
	r, t := int(ch.Combined+ch.RX), int(ch.Combined+ch.TX)
	if r == 0 {
		r = rx
	}
	if t == 0 {
		t = tx
	}
	return max(r, 1), max(t, 1)
}

// TXChecksum reports whether dev's transmit checksum offload is on
// (ETHTOOL_GTXCSUM: ethtool -k's tx-checksumming).
func TXChecksum(dev string) (bool, error) {
	v := [2]uint32{unix.ETHTOOL_GTXCSUM, 0} // struct ethtool_value
	if err := Do(dev, unsafe.Pointer(&v[0])); err != nil {
		return false, err
	}
	return v[1] != 0, nil
}
