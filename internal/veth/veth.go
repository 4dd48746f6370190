// Package veth finds the other end of a veth: its name and the named
// network namespace it is in, as far as the caller's namespace can see
// them, and whether its transmit checksum offload is on. The stack names
// the peer in its advice about partial checksums; the doctor warns about
// the offload.
package veth

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/nsexec"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ErrNotVeth: the device is not a veth.
var ErrNotVeth = errors.New("not a veth")

// NetnsDir is where `ip netns` names namespaces.
const NetnsDir = "/run/netns"

// Peer is a veth's other end.
type Peer struct {
	// Device is the veth whose peer this is, in the caller's namespace.
	Device string
	// Index is the peer's ifindex in its own namespace; 0 when unknown.
	Index int
	// Local: the peer is in the caller's namespace.
	Local bool
	// Netns is the named namespace (under NetnsDir) the peer is in; ""
	// when it is local, or in a namespace without a name there.
	Netns string
	// Name is the peer's interface name; "" when its namespace was not
	// found.
	Name string
}

// Found reports whether the peer's name is known.
func (p Peer) Found() bool { return p.Name != "" }

// Where says where the peer is: "veth1", "veth0 in network namespace ns1",
// or, when it was not found, "ifindex 7 in another network namespace".
func (p Peer) Where() string {
	switch {
	case p.Local:
		return p.Name
	case p.Found():
		return fmt.Sprintf("%s in network namespace %s", p.Name, p.Netns)
	case p.Index > 0:
		return fmt.Sprintf("ifindex %d in another network namespace", p.Index)
	}
	return "in another network namespace"
}

// TXOffCommand is the command that turns the peer's transmit checksum
// offload off, run from the caller's namespace; with the peer not found,
// PEER stands for its name, to run in its namespace.
func (p Peer) TXOffCommand() string {
	switch {
	case p.Local:
		return "ethtool -K " + p.Name + " tx off"
	case p.Found():
		return "ip netns exec " + p.Netns + " ethtool -K " + p.Name + " tx off"
	}
	return "ethtool -K PEER tx off  (in the peer's network namespace: PEER is " + p.Device + "'s peer, " + p.Where() + ")"
}

// PeerOf finds the peer of dev, a veth in the calling thread's network
// namespace (lock the thread when that is not the process's). The peer's
// ifindex comes from dev's IFLA_LINK; its namespace, when not the caller's
// (IFLA_LINK_NETNSID), is looked for among those named under NetnsDir.
// ErrNotVeth when dev is another kind of device; a peer that cannot be
// found is no error (Found reports false).
func PeerOf(dev string) (Peer, error) {
	lk, err := netlink.LinkByName(dev)
	if err != nil {
		return Peer{}, fmt.Errorf("veth: %s: %w", dev, err)
	}
	v, ok := lk.(*netlink.Veth)
	if !ok {
		return Peer{}, fmt.Errorf("veth: %s: %w", dev, ErrNotVeth)
	}
	a := lk.Attrs()
	p := Peer{Device: dev, Index: a.ParentIndex}
	if p.Index == 0 {
		// Kernels that do not report IFLA_LINK: veth's ethtool statistics.
		if i, err := netlink.VethPeerIndex(v); err == nil {
			p.Index = i
		}
	}
	if p.Index == 0 {
		return p, nil
	}
	if a.NetNsID < 0 {
		// No IFLA_LINK_NETNSID: the peer is here.
		if pl, err := netlink.LinkByIndex(p.Index); err == nil {
			p.Local, p.Name = true, pl.Attrs().Name
		}
		return p, nil
	}
	p.Netns = namedNetns(a.NetNsID)
	if p.Netns == "" {
		return p, nil
	}
	ns, err := netns.GetFromPath(filepath.Join(NetnsDir, p.Netns))
	if err != nil {
		p.Netns = ""
		return p, nil
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		p.Netns = ""
		return p, nil
	}
	defer h.Close()
	if pl, err := h.LinkByIndex(p.Index); err == nil {
		p.Name = pl.Attrs().Name
	} else {
		p.Netns = ""
	}
	return p, nil
}

// namedNetns returns the name under NetnsDir of the namespace whose id in
// the caller's namespace is nsid; "" when none is.
func namedNetns(nsid int) string {
	entries, err := os.ReadDir(NetnsDir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		fd, err := unix.Open(filepath.Join(NetnsDir, e.Name()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		id, err := netlink.GetNetNsIdByFd(fd)
		unix.Close(fd)
		if err == nil && id == nsid {
			return e.Name()
		}
	}
	return ""
}

// TXChecksum reports whether the found peer's transmit checksum offload is
// on (ethtool -k's tx-checksumming), entering its namespace for the
// question when it is not the caller's.
func (p Peer) TXChecksum() (bool, error) {
	if !p.Found() {
		return false, fmt.Errorf("veth: %s's peer: not found", p.Device)
	}
	if p.Local {
		return ethtool.TXChecksum(p.Name)
	}
	var on bool
	err := nsexec.Run(p.Netns, func() (err error) {
		on, err = ethtool.TXChecksum(p.Name)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("veth: %s's peer %s: %w", p.Device, p.Where(), err)
	}
	return on, nil
}
