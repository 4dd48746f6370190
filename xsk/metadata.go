package xsk

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// TXMetadataLen is the size of struct xsk_tx_metadata, the TX metadata
// the kernel reads in front of a packet: the space to reserve with
// umem.Options.TXMetadataLen.
const TXMetadataLen = 24

// OptionTXMetadata is XDP_TX_METADATA, for a TX descriptor's Options: the
// TXMetadataLen bytes in front of its packet hold TX metadata.
const OptionTXMetadata = unix.XDP_TX_METADATA

// The layout of struct xsk_tx_metadata: a flags word, then the request
// (csum_start, csum_offset, launch_time) or, on completion, the timestamp.
const (
	metaFlags      = 0
	metaCsumStart  = 8
	metaCsumOffset = 10
	metaLaunchTime = 16
)

// RequestChecksum fills meta, the TXMetadataLen bytes in front of a
// packet, with a request to complete a checksum (XDP_TXMD_FLAGS_CHECKSUM):
// the device, or in copy mode the kernel, sums the packet from byte start
// to its end and stores the complement at start+offset, as for the
// kernel's CHECKSUM_PARTIAL. The 16 bits there must hold the folded sum
// of the pseudo-header beforehand (tcp.Header.SetPartialChecksum).
func RequestChecksum(meta []byte, start, offset uint16) {
	_ = meta[TXMetadataLen-1]
	binary.NativeEndian.PutUint64(meta[metaFlags:], unix.XDP_TXMD_FLAGS_CHECKSUM)
	binary.NativeEndian.PutUint16(meta[metaCsumStart:], start)
	binary.NativeEndian.PutUint16(meta[metaCsumOffset:], offset)
	binary.NativeEndian.PutUint64(meta[metaLaunchTime:], 0)
}

// ClearMetadata fills meta with metadata that requests nothing, for a
// descriptor that carries OptionTXMetadata without a request.
func ClearMetadata(meta []byte) {
	_ = meta[TXMetadataLen-1]
	binary.NativeEndian.PutUint64(meta[metaFlags:], 0)
}
