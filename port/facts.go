package port

import (
	"errors"
	"fmt"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/vishvananda/netlink"
)

// NETDEV_XDP_ACT_XSK_ZEROCOPY in DeviceFeatures.XDP: the driver can bind
// AF_XDP sockets in zero-copy mode.
const xdpActXSKZeroCopy = 1 << 3

// Facts are what Probe reads about a device before anything is opened.
type Facts struct {
	Device  string
	Netns   string // as given in Options; "" the caller's
	Ifindex int
	MAC     ether.Addr
	MTU     int
	// RXQueues and TXQueues are the queues in use (ethtool -l's combined
	// plus rx or tx), or every queue the device has when the driver does
	// not say. RSS spreads flows over the RX queues in use; binding a
	// queue beyond them fails.
	RXQueues, TXQueues int
	// DeviceQueues is every queue the device has (numrxqueues).
	DeviceQueues int
	// Driver is the driver's name (ethtool -i); "" when unknown.
	Driver string
	// LinkMbps is the link speed (ethtool); 0 when unknown.
	LinkMbps int
	// Features are what the driver advertises through the netdev netlink
	// family (Linux 6.3 or newer); FeaturesErr says why they are zero.
	Features    DeviceFeatures
	FeaturesErr error
	// Kernel is the running kernel's release.
	Kernel string
}

// ZeroCopy reports whether the driver advertises zero-copy AF_XDP; false
// also when the kernel cannot say (FeaturesErr).
func (f Facts) ZeroCopy() bool { return f.Features.XDP&xdpActXSKZeroCopy != 0 }

// Probe reads dev's facts in the calling thread's network namespace. Only a
// missing device is an error: what the driver does not report stays zero.
func Probe(dev string) (Facts, error) {
	lk, err := netlink.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return Facts{}, fmt.Errorf("port: device %q: %w", dev, xsk.ErrNoDevice)
		}
		return Facts{}, fmt.Errorf("port: look up %q: %w", dev, err)
	}
	a := lk.Attrs()
	f := Facts{Device: dev, Ifindex: a.Index, MTU: a.MTU, DeviceQueues: a.NumRxQueues, Kernel: kernel.Release()}
	copy(f.MAC[:], a.HardwareAddr)
	f.RXQueues, f.TXQueues = ethtool.QueuesInUse(dev, a.NumRxQueues, a.NumTxQueues)
	f.Driver, _ = ethtool.Driver(dev)
	f.LinkMbps, _ = ethtool.LinkSpeed(dev)
	f.Features, f.FeaturesErr = xsk.Features(a.Index)
	return f, nil
}
