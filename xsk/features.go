package xsk

import (
	"encoding/binary"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// DeviceFeatures is what the kernel's netdev netlink family says a device
// can do for XDP and AF_XDP.
type DeviceFeatures struct {
	// XDP is the NETDEV_XDP_ACT_* bit set: basic, redirect, ndo-xmit,
	// xsk-zerocopy, hw-offload, rx-sg, ndo-xmit-sg.
	XDP uint64
	// ZeroCopyMaxSegments is the most buffers a zero-copy frame may span.
	ZeroCopyMaxSegments uint32
	// XSK is the NETDEV_XSK_FLAGS_* bit set of TX metadata the driver
	// honours in zero-copy mode: tx-timestamp, tx-checksum,
	// tx-launch-time-fifo. Copy mode goes through the kernel's skb path,
	// which completes a requested checksum on any device.
	XSK uint64
}

// NETDEV_XSK_FLAGS_* bits of DeviceFeatures.XSK.
const (
	XSKTXTimestamp = 1 << 0
	XSKTXChecksum  = 1 << 1
	XSKTXLaunch    = 1 << 2
)

// TXChecksum reports whether the driver completes checksums requested
// through TX metadata in zero-copy mode.
func (f DeviceFeatures) TXChecksum() bool { return f.XSK&XSKTXChecksum != 0 }

// netdev family: command and attributes (include/uapi/linux/netdev.h).
const (
	netdevCmdDevGet       = 1
	netdevAIfindex        = 1
	netdevAXDPFeatures    = 3
	netdevAXDPZCMaxSegs   = 4
	netdevAXSKFeatures    = 6
	netdevFamilyName      = "netdev"
	netdevFamilyVersion   = 1
	genlHeaderLen         = 4
	netdevFeaturesMissing = "the netdev netlink family (Linux 6.3 or newer)"
)

// Features asks the netdev netlink family, in the calling thread's network
// namespace, what the device with index ifindex supports.
func Features(ifindex int) (DeviceFeatures, error) {
	var f DeviceFeatures
	fam, err := netlink.GenlFamilyGet(netdevFamilyName)
	if err != nil {
		return f, fmt.Errorf("xsk: %s: %w", netdevFeaturesMissing, err)
	}
	req := nl.NewNetlinkRequest(int(fam.ID), unix.NLM_F_REQUEST)
	// The genl header by hand: nl.Genlmsg serialises 4 bytes from a
	// 2-byte struct, and strict families (netdev is one) refuse a non-zero
	// reserved field with EINVAL.
	req.AddData(genlHeader{cmd: netdevCmdDevGet, version: netdevFamilyVersion})
	req.AddData(nl.NewRtAttr(netdevAIfindex, nl.Uint32Attr(uint32(ifindex))))
	msgs, err := req.Execute(unix.NETLINK_GENERIC, 0)
	if err != nil {
		return f, fmt.Errorf("xsk: features of ifindex %d: %w", ifindex, err)
	}
	for _, m := range msgs {
		if len(m) < genlHeaderLen {
			continue
		}
		attrs, err := nl.ParseRouteAttr(m[genlHeaderLen:])
		if err != nil {
			return f, fmt.Errorf("xsk: features of ifindex %d: %w", ifindex, err)
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case netdevAXDPFeatures:
				if len(a.Value) >= 8 {
					f.XDP = binary.NativeEndian.Uint64(a.Value)
				}
			case netdevAXDPZCMaxSegs:
				if len(a.Value) >= 4 {
					f.ZeroCopyMaxSegments = binary.NativeEndian.Uint32(a.Value)
				}
			case netdevAXSKFeatures:
				if len(a.Value) >= 8 {
					f.XSK = binary.NativeEndian.Uint64(a.Value)
				}
			}
		}
		return f, nil
	}
	return f, fmt.Errorf("xsk: features of ifindex %d: no answer from the netdev family", ifindex)
}

// genlHeader is struct genlmsghdr: cmd, version, reserved (zero).
type genlHeader struct{ cmd, version uint8 }

func (h genlHeader) Len() int          { return genlHeaderLen }
func (h genlHeader) Serialize() []byte { return []byte{h.cmd, h.version, 0, 0} }
