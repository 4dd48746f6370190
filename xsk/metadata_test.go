package xsk_test

import (
	"encoding/binary"
	"testing"

	"github.com/fastpathnet/fastpath/xsk"
)

// TestRequestChecksum: the bytes are struct xsk_tx_metadata's, in host
// order: flags (XDP_TXMD_FLAGS_CHECKSUM), csum_start, csum_offset, and a
// zero launch time; ClearMetadata leaves no request.
func TestRequestChecksum(t *testing.T) {
	meta := make([]byte, xsk.TXMetadataLen)
	for i := range meta {
		meta[i] = 0xaa
	}
	xsk.RequestChecksum(meta, 34, 16)
	if f := binary.NativeEndian.Uint64(meta[0:]); f != 2 {
		t.Errorf("flags %#x, want XDP_TXMD_FLAGS_CHECKSUM (2)", f)
	}
	if s, o := binary.NativeEndian.Uint16(meta[8:]), binary.NativeEndian.Uint16(meta[10:]); s != 34 || o != 16 {
		t.Errorf("csum_start %d, csum_offset %d; want 34, 16", s, o)
	}
	if lt := binary.NativeEndian.Uint64(meta[16:]); lt != 0 {
		t.Errorf("launch_time %#x, want 0", lt)
	}
	xsk.ClearMetadata(meta)
	if f := binary.NativeEndian.Uint64(meta[0:]); f != 0 {
		t.Errorf("flags after ClearMetadata %#x", f)
	}
}
