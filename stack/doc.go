// Package stack joins fastpath's I/O to its protocol code: one Engine per
// device queue, each a poll loop on its own core with its own ARP, routes,
// ICMP, UDP and TCP, and the XDP steering program that hands the engines
// their frames and the kernel everything else.
//
// Two address modes. Dedicated: the engines own addresses the kernel does
// not hold (Config.Addrs), and answer ARP and ping for them. Shared
// (Config.Shared): the engines use the kernel's addresses, take only their
// bound ports, and leave ARP and ICMP to the kernel, whose routes and
// neighbours they use.
//
// # Three units
//
// A Stack (stack.go, stack_tcp.go, config.go) opens the device through the
// port package, builds the units below and wires them together before
// Start; after that they meet only through the messages of messages.go,
// each on a queue whose one consumer is its receiver.
//
//	             kernel: netlink routes, neighbours
//	                    ▲              │
//	  NTF_USE: resolve  │              │ RTM_NEWROUTE/DELROUTE, RTM_NEWNEIGH
//	┌───────────────────┴──────────────▼───────────────┐
//	│ control plane (control*.go)                      │  one goroutine per stack,
//	│   controlPlane: subscriptions, resolve, Resolve  │  off the hot path
//	└──┬─────────────────────────────────────────▲─────┘
//	   │ control (ctlIn ring)                    │ resolveOut ring + wake token
//	┌──▼─────────────────────────────────────────┴─────┐
//	│ engines (engine*.go), one per queue, pinned      │◄─► other engines: control
//	│   poll: RX ─► demux ─► ARP / ICMP / UDP / TCP    │    (neighbours) and handed
//	│   ─► TX; timers; handover; the UDP and TCP hosts │    frames on SPSC rings
//	└──▲───────────────────┬─────────────▲─────────────┘
//	   │ outbound (outbox) │ tokens,     │ tcpCmd (tcpCmds): Do, a TCPConn's kick
//	   │                   │ copies      │
//	┌──┴───────────────────▼─────────────┴─────────────┐
//	│ blocking adapters (adapter_udp.go, _tcp.go)      │  any goroutine
//	│   UDPConn (net.PacketConn), TCPConn (net.Conn),  │
//	│   TCPListener (net.Listener)                     │
//	└──────────────────────────────────────────────────┘
//
// The engine is the hot path: it owns its socket, frames, tables and
// counters, takes no lock and allocates nothing per packet. The control
// plane holds no engine, only each engine's end of the rings between them
// (engineLink); the engines never wait for it. The adapters copy each
// datagram or byte once each way and block their caller, never an engine:
// they are for code that wants the standard interfaces, handlers
// (BindUDP, ListenTCPFunc) are the fast path.
//
// # A packet's path
//
// A UDP datagram to a bound port: the steering program's rule sends it to
// the queue's socket; Engine.poll takes it off the RX ring (engine.go);
// demux checks the Ethernet, IPv4 and UDP headers (engine_input.go, with
// ether and ipv4) and calls the port's UDPHandler with a Datagram, a view
// into the frame (engine_udp.go). A handler that echoes turns the frame
// around in place onto the TX ring. With a UDPConn the handler is the
// adapter's: it copies the payload to a reader's buffer; a writer's
// WriteTo goes back to an engine's outbox, which the engine drains into a
// new frame, routes (ARP, or the kernel's neighbours through the control
// plane in shared mode) and sends.
//
// A TCP segment goes from demux to the engine's tcp.Host (engine_tcp.go),
// or to the engine that owns its port (handover, engine_handover.go); the
// host's handler reads the data in place in the connection's receive
// buffer. A TCPConn is such a handler: it wakes its reader with a token,
// and its writes reach the engine as a tcpCmd.
//
// Replies: ARP and ICMP handlers (arp.Reply, ipv4.EchoReply) write what to
// send into a frame the engine gives them and return its length. TCP is the
// one protocol that calls back down, through tcp.Link.Send (tcpLink in
// engine_tcp.go): a host emits segments from input, from its timers and
// from the application's writes, and Send's result (false: no frame free
// now) is its back-pressure, which a returned list of segments would lose.
package stack
