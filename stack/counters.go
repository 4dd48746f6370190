package stack

import "sync/atomic"

// Counter names a count the engine keeps. Every place a frame can be
// dropped has one.
type Counter int

const (
	RXFrames Counter = iota
	RXBytes
	TXFrames
	TXBytes
	ARPRequestsIn
	ARPRepliesOut
	ARPRequestsOut
	ARPRepliesIn
	ARPGratuitousOut
	ICMPEchoIn
	ICMPEchoOut
	ICMPUnreachOut
	UDPIn
	UDPOut
	UDPDelivered
	ICMPv6EchoIn
	ICMPv6EchoOut
	ICMPv6UnreachOut
	NDSolicitsIn  // neighbour solicitations for our addresses
	NDAdvertsOut  // neighbour advertisements sent: answers and announcements
	NDSolicitsOut // neighbour solicitations sent: resolutions, probes, DAD
	NDAdvertsIn   // neighbour advertisements taken by the neighbour cache
	RouterAdverts // router advertisements read

	// Drops, one per reason.
	DropMalformedEther
	DropVLAN
	DropNotForUs  // unicast to another MAC
	DropEtherType // neither ARP nor IPv4
	DropMalformedARP
	DropARPNotForUs // ARP for an address we do not own
	DropMalformedIPv4
	DropIPv4Checksum
	DropIPv4NotForUs // destination is not one of our addresses
	DropFragment     // fragments are not reassembled
	DropMalformedICMP
	DropICMPChecksum
	DropICMPType // ICMP other than echo request
	DropMalformedUDP
	DropUDPChecksum
	DropNoPort       // UDP to a port nobody bound
	DropProtocol     // IPv4 protocol with no handler
	DropNoRoute      // no route to the destination
	DropARPQueueFull // frame waiting for ARP refused: queue full
	DropARPFailed    // frame waiting for ARP dropped: resolution failed
	DropNoFrame      // no free frame to send
	DropTXFull       // TX ring full and the pending queue too
	DropTooBig       // datagram does not fit a frame
	DropBadSend      // SendUDP with an address the engine cannot use
	DropHandoverFull // frame for another engine refused: its ring is full
	DropMalformedIPv6
	DropIPv6NotForUs // neither one of our addresses nor a multicast group we are in
	DropExtHeaders   // extension-header chain malformed, too long, or a jumbogram
	DropMalformedND  // neighbour discovery RFC 4861 says to drop
	DropMalformedICMP6
	DropICMP6Checksum
	DropICMP6Type // ICMPv6 other than echo requests and neighbour discovery

	// Not drops: responses not sent, and events.
	UnreachLimited     // port unreachable suppressed by the rate limit
	UnreachSuppressed  // port unreachable forbidden (broadcast, RFC 1122)
	RoutesAdded        // kernel routes imported
	RoutesRemoved      // kernel routes withdrawn
	RoutesRefused      // kernel routes that did not fit the table
	NeighboursShared   // neighbours learned from another engine
	NeighboursUnshared // neighbours not passed on: a peer's channel was full
	ARPConflicts       // another MAC claimed one of our addresses
	DADDuplicates      // IPv6 addresses found in use on the link by duplicate address detection
	NDConflicts        // advertisements of our IPv6 addresses from another MAC
	PartialChecksum    // TCP/UDP from a veth peer, checksum left partial: dropped unless Config.AcceptPartialChecksum
	HandoverOut        // frames handed to the engine that owns their flow
	HandoverIn         // frames another engine handed to this one
	ResolveRequests    // neighbours asked of the kernel (shared mode)
	ResolveUnsent      // requests not passed on: the ring was full
	ResolveErrors      // the kernel refused a request (stack-wide)
	SubscriptionsLost  // netlink subscriptions ended and renewed (stack-wide)
	UpdatesDropped     // route or neighbour updates for a stopped engine (stack-wide)
	SubscriptionErrors // netlink subscription errors, failed (re)subscriptions and listings (stack-wide)
	Resyncs            // snapshots of the kernel's tables applied, replacing the imported routes

	NumCounters
)

var counterNames = [NumCounters]string{
	"rx_frames", "rx_bytes", "tx_frames", "tx_bytes",
	"arp_requests_in", "arp_replies_out", "arp_requests_out", "arp_replies_in", "arp_gratuitous_out",
	"icmp_echo_in", "icmp_echo_out", "icmp_unreach_out",
	"udp_in", "udp_out", "udp_delivered",
	"icmp6_echo_in", "icmp6_echo_out", "icmp6_unreach_out",
	"nd_solicits_in", "nd_adverts_out", "nd_solicits_out", "nd_adverts_in", "router_adverts",
	"drop_malformed_ether", "drop_vlan", "drop_not_for_us", "drop_ethertype",
	"drop_malformed_arp", "drop_arp_not_for_us",
	"drop_malformed_ipv4", "drop_ipv4_checksum", "drop_ipv4_not_for_us", "drop_fragment",
	"drop_malformed_icmp", "drop_icmp_checksum", "drop_icmp_type",
	"drop_malformed_udp", "drop_udp_checksum", "drop_no_port",
	"drop_protocol", "drop_no_route", "drop_arp_queue_full", "drop_arp_failed",
	"drop_no_frame", "drop_tx_full", "drop_too_big", "drop_bad_send", "drop_handover_full",
	"drop_malformed_ipv6", "drop_ipv6_not_for_us", "drop_ext_headers", "drop_malformed_nd",
	"drop_malformed_icmp6", "drop_icmp6_checksum", "drop_icmp6_type",
	"unreach_limited", "unreach_suppressed", "routes_added", "routes_removed", "routes_refused", "neighbours_shared", "neighbours_unshared", "arp_conflicts",
	"dad_duplicates", "nd_conflicts",
	"partial_checksum",
	"handover_out", "handover_in", "resolve_requests", "resolve_unsent", "resolve_errors",
	"subscriptions_lost", "updates_dropped", "subscription_errors", "resyncs",
}

func (c Counter) String() string {
	if c >= 0 && c < NumCounters {
		return counterNames[c]
	}
	return "?"
}

// Counters is a snapshot of an engine's counters, indexed by Counter.
type Counters [NumCounters]uint64

// Map returns the counters by name, for printing and JSON.
func (c *Counters) Map() map[string]uint64 {
	m := make(map[string]uint64, NumCounters)
	for i, v := range c {
		m[counterNames[i]] = v
	}
	return m
}

// Drops sums every drop counter.
func (c *Counters) Drops() uint64 {
	var n uint64
	for i := DropMalformedEther; i < UnreachLimited; i++ {
		n += c[i]
	}
	return n
}

// DropReasons returns the drop counters that are not zero, by name: what
// a summary prints after its total.
func (c *Counters) DropReasons() map[string]uint64 {
	var m map[string]uint64
	for i := DropMalformedEther; i < UnreachLimited; i++ {
		if c[i] != 0 {
			if m == nil {
				m = make(map[string]uint64)
			}
			m[counterNames[i]] = c[i]
		}
	}
	return m
}

// published is what other goroutines read: the engine copies its plain
// counters here, a field at a time with atomic stores, every few
// milliseconds and when it stops. The hot path never does an atomic add.
type published [NumCounters]atomic.Uint64

func (p *published) store(c *Counters) {
	for i := range c {
		p[i].Store(c[i])
	}
}

func (p *published) load() Counters {
	var c Counters
	for i := range c {
		c[i] = p[i].Load()
	}
	return c
}

// StackWide reports whether c counts for the whole stack (its control
// plane), not per engine: Stack.Counters has it, Engine.Counters has 0.
func (c Counter) StackWide() bool {
	switch c {
	case ResolveErrors, SubscriptionsLost, UpdatesDropped, SubscriptionErrors:
		return true
	}
	return false
}
