// Package fastpath is a kernel-bypass packet engine for Linux: it drives
// NIC queues through AF_XDP, one poll-mode engine per queue and core, with
// its own ARP, IPv4 routing, ICMP, UDP and TCP, a traffic generator and a
// line-rate benchmark. This package holds no code; its documentation is the
// tour of the others, lowest first (an arrow is "imports"; deps_test.go
// fails the build on any other):
//
//	rings                 the four AF_XDP rings over any []byte
//	umem ──► rings        the packet area, fill and completion rings, frame allocator
//	xsk ──► umem, rings   the socket: bind, modes, need_wakeup, kicks, statistics
//	bpf                   the XDP programs (steer.c through bpf2go, redirect, pass)
//	steering ──► bpf      the program on a device through a bpf_link: rules, counters
//	port ──► xsk, steering
//	                      the one way into a device: facts, program, UMEMs and
//	                      sockets per queue, pinned goroutines, teardown
//	ether, arp, ipv4, ipv6, tcp
//	                      pure protocol code: views, encoders, state; time is an argument
//	stack ──► port, the protocols
//	                      the engine: one per queue, its control plane (netlink
//	                      route and neighbour sync) and its net.Conn adapters
//	gen ──► port          the generator: templates, flows, stamps, pacing, senders
//	sink ──► stack, gen   counts stamped datagrams: loss, reordering, latency
//	xdpsock ──► port, gen the txonly, rxdrop and l2fwd benchmark loops
//	tcpapp ──► stack, tcp echo, discard, HTTP, request/response and bulk-send applications
//	load ──► stack, tcp, gen
//	                      the stateful load generator: a client per engine opening
//	                      connections at a paced rate, every response checked
//	rfc2544 ──► gen, stack
//	                      RFC 2544 through a device under test: gen sends, a
//	                      receiver on the engine counts, a search finds the NDR/PDR
//	cmd/fastpath          the command line: flags, calls into the above, printing
//	bench                 fastpath against the C reference, asavie/xdp and the kernel
//
// A received frame's path: the NIC queue, the XDP program (bpf, attached by
// steering through port) picks it for the engine by its rules, the XSKMAP
// puts it on the queue's RX ring (rings, xsk), the engine (stack) parses it
// with ether, arp, ipv4 and tcp, whose handlers return what to send; the
// engine writes replies into frames of its UMEM, puts them on the TX ring,
// kicks the kernel, and takes the frames back from the completion ring.
package fastpath
