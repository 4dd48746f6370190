package stack

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/fastpathnet/fastpath/arp"
	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/xsk"
)

// Idle is what an engine does when a poll finds no work.
type Idle uint8

const (
	// IdleBusy spins: lowest latency, one core at 100%.
	IdleBusy Idle = iota
	// IdleAdaptive spins for a while, then sleeps in poll(2) until a frame
	// arrives (or 1 ms passes), relying on need_wakeup.
	IdleAdaptive
)

func (i Idle) String() string {
	if i == IdleAdaptive {
		return "adaptive"
	}
	return "busy"
}

// ParseIdle parses "busy" or "adaptive".
func ParseIdle(s string) (Idle, error) {
	switch s {
	case "busy":
		return IdleBusy, nil
	case "adaptive", "":
		return IdleAdaptive, nil
	}
	return 0, fmt.Errorf("stack: idle policy %q: %w: use busy or adaptive", s, ErrConfig)
}

// ErrConfig reports a Config field out of range.
var ErrConfig = errors.New("invalid configuration")

// Config configures a Stack. Start from DefaultConfig.
type Config struct {
	// Device is the interface, in the calling thread's network namespace.
	Device string
	// Queues lists the device queues to run engines on, one each.
	// Default [0]. Empty: every queue the device uses now (ethtool -l:
	// combined and RX channels), which is what RSS spreads flows over.
	Queues []int
	// Cores pins engine i to Cores[i % len(Cores)]; empty: no pinning.
	Cores []int
	// Shared selects shared mode: the engines use the kernel's own
	// addresses on the device, take only the UDP ports bound to them
	// (and TCP, with a TCP layer), and leave ARP and ICMP to the kernel;
	// they use the kernel's routes (imported, kept in sync) and its
	// neighbour table, asking the kernel to resolve the neighbours it has
	// not met. Otherwise the stack runs in dedicated mode (Addrs).
	Shared bool
	// Addrs are the addresses the engines own, IPv4 or IPv6. Dedicated
	// mode: the kernel must not hold them; the engines answer ARP or
	// neighbour solicitations and pings for them, and their prefixes are
	// on-link (for IPv6, fe80::/64 too). Shared mode: empty means every
	// address the kernel holds on the device (IPv6: but link-local ones);
	// otherwise each must be one of those. In shared mode the kernel
	// keeps ARP, neighbour discovery and ICMP.
	Addrs []netip.Prefix
	// Gateway is the IPv4 next hop for everything off-link; zero: none.
	Gateway netip.Addr
	// Gateway6 is the IPv6 next hop for everything off-link: an address
	// in one of the engines' IPv6 prefixes, or a link-local address;
	// zero: none, unless AcceptRA finds a router.
	Gateway6 netip.Addr
	// AcceptRA takes the default IPv6 route from router advertisements
	// (RFC 4861 6.3.4: the first router's link-local address, for the
	// lifetime it advertises) when Gateway6 is zero. Dedicated mode with
	// IPv6 addresses: the advertisements to all nodes come to the
	// engines instead of the kernel (XDP cannot hand a frame to both), so
	// the kernel's own IPv6 on the device loses the default route and
	// the addresses it learned from them once their lifetimes end: on a
	// device whose kernel IPv6 matters, set Gateway6 or turn this off.
	// Default true.
	AcceptRA bool
	// DADTransmits is the number of duplicate address detection probes
	// sent for each IPv6 address before the engines use it (RFC 4862
	// 5.4, Linux's dad_transmits), one a second: Start waits for them
	// and fails if another host holds an address. 0: none. Default 1.
	DADTransmits int
	// ImportRoutes copies the kernel's unicast routes (IPv4 and IPv6) through the
	// device (main table) into every engine's table at New, and keeps
	// them in sync through a netlink subscription while the stack runs.
	ImportRoutes bool
	// Idle is the idle policy. Default IdleAdaptive.
	Idle Idle
	// Batch is the number of descriptors per ring operation. Default 64.
	Batch int
	// TTL of the datagrams the engines send. Default 64.
	TTL uint8
	// UnreachRate and UnreachBurst limit ICMP port unreachables per
	// engine (RFC 1812 4.3.2.8). Default 100/s, burst 10.
	UnreachRate  float64
	UnreachBurst int
	// ARP configures each engine's neighbour cache.
	ARP arp.Config
	// TXChecksum chooses who computes the TCP checksums of the engine's
	// segments. Default ChecksumAuto.
	TXChecksum ChecksumMode
	// AcceptPartialChecksum takes, on a veth, the TCP and UDP frames
	// whose checksum holds only the pseudo-header sum, completing it in
	// place, where by default they are dropped. A veth passes such frames
	// on when its peer's TX checksum offload is on (veth's default; the
	// fix is ethtool -K PEER tx off): the sender's kernel left the
	// checksum for a device to complete, and a veth has none. Their
	// content is then not verified, as the kernel does not verify it
	// either. Either way they are counted (PartialChecksum). Other devices
	// ignore it: from a wire a frame carries its whole checksum.
	AcceptPartialChecksum bool
	// Notice, when set, receives advice for the user about what the
	// engines met (partial checksums from a veth's peer): at most once per
	// kind and stack, on a goroutine of the stack's, never an engine's.
	Notice func(Notice)
	// XSK configures the sockets. Default xsk.DefaultOptions() with a
	// TXBudget of 256: in copy mode a kick then sends what one round of
	// TCP output queued (a congestion window's worth of segments), where
	// the kernel's 32 left the rest waiting a round for the next kick. A
	// budget above TXSize is cut to TXSize (below 32: the kernel's).
	XSK xsk.Options
	// Steering configures the XDP program. Its Default is forced to
	// Pass: the kernel keeps everything the engines do not take.
	Steering steering.Options
	// Logf, if set, gets a line for each event of the control plane a
	// user may need to act on: a netlink subscription lost or failing
	// (with the retry), and its recovery. Stack.ControlStatus and the
	// counters tell the same; nil: no lines.
	Logf func(format string, args ...any)
}

// DefaultConfig returns the defaults documented on each field.
func DefaultConfig() Config {
	return Config{
		Queues:       []int{0},
		Idle:         IdleAdaptive,
		Batch:        64,
		TTL:          64,
		UnreachRate:  100,
		UnreachBurst: 10,
		ARP:          arp.DefaultConfig(),
		XSK:          defaultXSK(),
		AcceptRA:     true,
		DADTransmits: 1,
	}
}

func defaultXSK() xsk.Options {
	o := xsk.DefaultOptions()
	o.TXBudget = 256
	return o
}

func (c *Config) check() error {
	if c.Device == "" {
		return fmt.Errorf("stack: %w: no device", ErrConfig)
	}
	if len(c.Addrs) == 0 && !c.Shared {
		return fmt.Errorf("stack: %w: no addresses: dedicated mode needs at least one (Addrs), or use shared mode (Shared) and the kernel's", ErrConfig)
	}
	for _, a := range c.Addrs {
		switch {
		case !a.IsValid() || a.Addr().Is4In6() || a.Addr().Zone() != "":
			return fmt.Errorf("stack: address %v: %w: a prefix such as 198.18.0.10/24 or 2001:db8::10/64", a, ErrConfig)
		case a.Addr().Is6() && (a.Addr().IsMulticast() || a.Addr().IsUnspecified() || a.Addr().IsLoopback()):
			return fmt.Errorf("stack: address %v: %w: a unicast IPv6 address", a, ErrConfig)
		}
	}
	if c.Gateway6.IsValid() {
		onLink := c.Gateway6.Is6() && c.Gateway6.IsLinkLocalUnicast()
		for _, a := range c.Addrs {
			onLink = onLink || a.Addr().Is6() && a.Masked().Contains(c.Gateway6.WithZone(""))
		}
		if !onLink || c.Shared {
			return fmt.Errorf("stack: IPv6 gateway %v: %w: a link-local address or one inside the engine's IPv6 prefixes %v, in dedicated mode", c.Gateway6, ErrConfig, c.Addrs)
		}
	}
	if c.DADTransmits < 0 || c.DADTransmits > 10 {
		return fmt.Errorf("stack: %d DAD transmits: %w: 0 to 10", c.DADTransmits, ErrConfig)
	}
	if c.Gateway.IsValid() && !c.Shared {
		onLink := false
		for _, a := range c.Addrs {
			onLink = onLink || a.Addr().Is4() && a.Masked().Contains(c.Gateway)
		}
		if !c.Gateway.Is4() || !onLink {
			return fmt.Errorf("stack: gateway %v: %w: an IPv4 address inside one of the engine's prefixes %v", c.Gateway, ErrConfig, c.Addrs)
		}
	}
	if c.Gateway.IsValid() && !c.Gateway.Is4() {
		return fmt.Errorf("stack: gateway %v: %w: an IPv4 address", c.Gateway, ErrConfig)
	}
	if c.Batch < 1 || c.Batch > 1024 {
		return fmt.Errorf("stack: batch %d: %w: 1 to 1024", c.Batch, ErrConfig)
	}
	if c.TTL == 0 {
		return fmt.Errorf("stack: %w: TTL 0", ErrConfig)
	}
	return nil
}

// ChecksumMode chooses who computes the checksums of the TCP segments an
// engine sends: the engine, or the device (or the kernel) on request
// through AF_XDP TX metadata, which saves the engine a pass over every
// payload.
type ChecksumMode int

const (
	// ChecksumAuto requests checksums through TX metadata where that
	// works: in copy mode on Linux 6.8 or newer (the kernel's skb path:
	// the device completes them, or the kernel does for a device
	// without checksum offload), and in zero-copy mode where the driver
	// advertises tx-checksum (xsk.Features). Elsewhere the engine computes
	// them.
	ChecksumAuto ChecksumMode = iota
	// ChecksumEngine: the engine computes every checksum.
	ChecksumEngine
	// ChecksumOffload always requests them through TX metadata; New fails
	// where it cannot.
	ChecksumOffload
	// ChecksumKernel requests them through TX metadata with
	// XDP_UMEM_TX_SW_CSUM: the kernel computes them as it builds each
	// skb. Copy mode only; for tests, and for devices whose offload
	// misbehaves.
	ChecksumKernel
)

var checksumModes = [...]string{"auto", "engine", "offload", "kernel"}

func (m ChecksumMode) String() string {
	if m >= 0 && int(m) < len(checksumModes) {
		return checksumModes[m]
	}
	return fmt.Sprintf("ChecksumMode(%d)", int(m))
}

// ParseChecksumMode parses auto, engine, offload or kernel.
func ParseChecksumMode(s string) (ChecksumMode, error) {
	for i, n := range checksumModes {
		if s == n {
			return ChecksumMode(i), nil
		}
	}
	return 0, fmt.Errorf("stack: checksum mode %q: %w: use auto, engine, offload or kernel", s, ErrConfig)
}
