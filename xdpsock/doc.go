// Package xdpsock runs the Linux kernel sample xdpsock's three benchmark
// loops on a device's queues, one pinned loop per queue, opened through
// package port:
//
//   - txonly sends fixed-size UDP frames as fast as the TX ring takes them
//     (gen's Sender, one flow, no stamps), counted as they complete;
//   - rxdrop receives every frame of the queue (the redirect program, or
//     the steering program with Engine as its default) and puts it straight
//     back on the fill ring;
//   - l2fwd receives every frame, swaps its MACs and sends it back out of
//     the same queue, in place, counting what it received and what the
//     kernel completed separately.
//
// Figures are counted by the loops themselves; Result carries the
// XDP_STATISTICS deltas of the run beside them, and the modes obtained.
package xdpsock
