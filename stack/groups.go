package stack

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/fastpathnet/fastpath/ipv6"
	"golang.org/x/sys/unix"
)

// The multicast groups the engines listen to over IPv6: all nodes and the
// solicited-node group of each of their addresses, where neighbours send
// their solicitations and DAD its probes. In dedicated mode the kernel
// holds none of these addresses, so nothing else tells the device to take
// those frames: a NIC's multicast filter, or a switch that snoops MLD,
// would drop them before the XDP program sees them. A veth filters
// nothing.

// groups holds the memberships, one socket per group, until Close.
type groups struct{ fds []int }

// joinGroups joins the groups on the device ifindex: through the kernel's
// IPv6 (IPV6_JOIN_GROUP), which programs the device's filter and sends
// the MLD reports switches listen for; where the device has no IPv6 (it
// is disabled there), through a packet socket's membership of the
// group's MAC (PACKET_ADD_MEMBERSHIP), which programs the filter alone.
func joinGroups(ifindex int, addrs []netip.Addr) (*groups, error) {
	g := &groups{}
	seen := map[netip.Addr]bool{}
	for _, a := range append([]netip.Addr{ipv6.AllNodes}, addrs...) {
		grp := a
		if a != ipv6.AllNodes {
			grp = ipv6.SolicitedNode(a)
		}
		if seen[grp] {
			continue
		}
		seen[grp] = true
		fd, err := join(ifindex, grp)
		if err != nil {
			g.close()
			return nil, fmt.Errorf("stack: join the IPv6 group %v on the device (its frames would not reach the engines past a NIC's multicast filter): %w", grp, err)
		}
		g.fds = append(g.fds, fd)
	}
	return g, nil
}

func join(ifindex int, grp netip.Addr) (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err == nil {
		mreq := &unix.IPv6Mreq{Multiaddr: grp.As16(), Interface: uint32(ifindex)}
		if err = unix.SetsockoptIPv6Mreq(fd, unix.IPPROTO_IPV6, unix.IPV6_JOIN_GROUP, mreq); err == nil {
			return fd, nil
		}
		unix.Close(fd)
	}
	fd, perr := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if perr != nil {
		return -1, errors.Join(err, perr)
	}
	mac := ipv6.MulticastMAC(grp)
	mreq := &unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], mac[:])
	if perr = unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, mreq); perr != nil {
		unix.Close(fd)
		return -1, errors.Join(err, perr)
	}
	return fd, nil
}

// close leaves the groups.
func (g *groups) close() {
	if g == nil {
		return
	}
	for _, fd := range g.fds {
		unix.Close(fd)
	}
	g.fds = nil
}
