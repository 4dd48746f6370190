// Package port opens a device's queues for one role and closes them again:
// the one way into a NIC for the engine (stack), the generator (gen), the
// sink and the xdpsock-style benchmark loops.
//
// DPDK calls this a port (rte_eth_dev_configure, queue setup, start) and
// gVisor a LinkEndpoint. Open does, in order:
//
//  1. resolve the device in its network namespace (Options.Netns, as ip
//     netns exec) and probe its facts (Facts: queues in use, driver, link
//     speed, what the driver advertises for XDP and AF_XDP);
//  2. attach the XDP program the role needs (Options.Program: none, the
//     steering program, or the minimal redirect program), native first and
//     generic if the driver refuses (steering's one fallback);
//  3. create the UMEMs (one per queue, or one shared; huge pages optional)
//     and one AF_XDP socket per queue (xsk.New is called here and nowhere
//     else in fastpath), dropping the TX metadata area where the kernel
//     refuses it and the caller allows that;
//  4. stock each fill ring, then register each socket with the program, so
//     the first frames find buffers.
//
// Go then runs one goroutine per queue, locked to its thread and pinned to
// the queue's core (Pin, the one pinning helper); Modes reports what was
// obtained (copy or zero-copy, native or generic); Close undoes everything
// once, the program first so no frame is steered to a closing socket.
//
// A Port is set up and closed by one goroutine; each Queue's socket then
// belongs to the goroutine Go started for it.
package port
