package lab

import (
	"fmt"
	"unsafe"

	"github.com/fastpathnet/fastpath/internal/ethtool"
)

// ETHTOOL_STXCSUM (include/uapi/linux/ethtool.h).
const ethtoolSTXCSUM = 0x17

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
	val := struct{ cmd, data uint32 }{cmd: ethtoolSTXCSUM}
	if on {
		val.data = 1
	}
	if err := ethtool.Do(name, unsafe.Pointer(&val)); err != nil {
		return fmt.Errorf("ethtool -K %s tx %v: %w", name, on, err)
	}
	return nil
}

// txChecksum reports whether transmit checksum offload is on.
func txChecksum(name string) (bool, error) {
	on, err := ethtool.TXChecksum(name)
	if err != nil {
		return false, fmt.Errorf("ethtool -k %s: %w", name, err)
	}
	return on, nil
}
