package stack

import "github.com/fastpathnet/fastpath/ipv4"

// Partial checksums from a veth's peer. A kernel that sends through a veth
// whose TX checksum offload is on (veth's default) leaves TCP and UDP
// checksums for a device to complete, and a veth has none: the frames
// reach the engine with only the pseudo-header sum in the checksum field
// (ipv4.PartialChecksum). They would fail as bad checksums; the engine
// tells them apart on a veth, counts them (PartialChecksum), drops them or,
// with Config.AcceptPartialChecksum, completes their checksums and takes
// them, and the first one is news for the user (Config.Notice).
//
// Only veth (port.Facts.Driver "veth"): from a wire a frame carries its
// whole checksum; virtio-net turns its guest checksum offload off while an
// XDP program is attached (virtnet_xdp_set), so that its host completes
// checksums. A tap written with virtio-net headers could carry partial
// checksums too; it is not recognised, and its frames stay bad checksums.

// partialChecksum handles a TCP or UDP packet whose checksum
// ipv4.PartialChecksum reported, on a veth: it reports whether the packet
// goes on, its checksum completed in place.
func (e *Engine) partialChecksum(h ipv4.Header) bool {
	e.counters[PartialChecksum]++
	if e.cfg.AcceptPartialChecksum {
		ipv4.CompletePartialChecksum(h)
		return true
	}
	if !e.partialNoted {
		// Once per engine, and without waiting: the stack reads it.
		e.partialNoted = true
		select {
		case e.partialSeen <- struct{}{}:
		default: // another engine's news is waiting
		}
	}
	return false
}

// tcpPartialChecksum checks a TCP segment for a partial checksum before
// the engine's TCP host verifies its checksum: false means it was dropped.
// It costs a comparison per segment on a veth (the field against the
// pseudo-header sum), nothing elsewhere.
func (e *Engine) tcpPartialChecksum(h ipv4.Header) bool {
	if !e.veth || !ipv4.PartialChecksum(h) {
		return true
	}
	return e.partialChecksum(h)
}
