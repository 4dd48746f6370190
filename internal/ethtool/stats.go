package ethtool

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// String sets and sizes (include/uapi/linux/ethtool.h).
const (
	ethSSStats    = 1  // ETH_SS_STATS
	ethGStringLen = 32 // ETH_GSTRING_LEN
)

// Stats reads dev's driver statistics by name (ETHTOOL_GSTATS, as
// ethtool -S shows them), in the calling thread's network namespace.
func Stats(dev string) (map[string]uint64, error) {
	// struct ethtool_sset_info: cmd, reserved, sset_mask (u64), then one
	// u32 per set in the mask: the number of strings.
	var info [5]uint32
	info[0] = unix.ETHTOOL_GSSET_INFO
	*(*uint64)(unsafe.Pointer(&info[2])) = 1 << ethSSStats
	if err := Do(dev, unsafe.Pointer(&info[0])); err != nil {
		return nil, fmt.Errorf("ethtool: %s: statistics: %w", dev, err)
	}
	n := info[4]
	if *(*uint64)(unsafe.Pointer(&info[2])) == 0 || n == 0 {
		return map[string]uint64{}, nil
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("ethtool: %s: %d statistics", dev, n)
	}
	// struct ethtool_gstrings: cmd, string_set, len, then len names of
	// ETH_GSTRING_LEN bytes.
	names := make([]byte, 12+int(n)*ethGStringLen)
	binary.NativeEndian.PutUint32(names[0:], unix.ETHTOOL_GSTRINGS)
	binary.NativeEndian.PutUint32(names[4:], ethSSStats)
	binary.NativeEndian.PutUint32(names[8:], n)
	if err := Do(dev, unsafe.Pointer(&names[0])); err != nil {
		return nil, fmt.Errorf("ethtool: %s: statistics' names: %w", dev, err)
	}
	// struct ethtool_stats: cmd, n_stats, then n_stats u64s.
	vals := make([]byte, 8+8*int(n))
	binary.NativeEndian.PutUint32(vals[0:], unix.ETHTOOL_GSTATS)
	binary.NativeEndian.PutUint32(vals[4:], n)
	if err := Do(dev, unsafe.Pointer(&vals[0])); err != nil {
		return nil, fmt.Errorf("ethtool: %s: statistics: %w", dev, err)
	}
	// The driver may say it wrote fewer than it announced.
	got := min(n, binary.NativeEndian.Uint32(names[8:]), binary.NativeEndian.Uint32(vals[4:]))
	m := make(map[string]uint64, got)
	for i := range int(got) {
		name := names[12+i*ethGStringLen : 12+(i+1)*ethGStringLen]
		m[unix.ByteSliceToString(name)] = binary.NativeEndian.Uint64(vals[8+8*i:])
	}
	return m, nil
}
