package xsk

import (
	"unsafe"

	"github.com/fastpathnet/fastpath/internal/xdpsys"
	"github.com/fastpathnet/fastpath/rings"
	"golang.org/x/sys/unix"
)

// Counters are the socket's own event counts, kept by the methods below on
// the owning goroutine. Read them with Stats.
type Counters struct {
	// Kicks counts TX wakeups (sendto) made; KicksAgain those the kernel
	// answered with a transient EAGAIN, EBUSY, ENOBUFS or ENETDOWN (it
	// will take the frames on a later kick); KickErrors any other error,
	// the last of which is LastKickErrno.
	Kicks, KicksAgain, KickErrors uint64
	LastKickErrno                 unix.Errno
	// RXWakeups counts recvfrom calls made to wake the kernel for the fill
	// ring or to busy-poll.
	RXWakeups uint64
	// TXRingFull counts Transmit calls that found no room for every frame.
	TXRingFull uint64
	// FillShort counts Refill calls where the fill ring had room but the
	// allocator had no frame.
	FillShort uint64
	// Filled, Transmitted and Completed count frames put on the fill ring,
	// put on the TX ring and taken back from the completion ring.
	Filled, Transmitted, Completed uint64
	// ForeignCompletions counts completed frames that are not Frames':
	// frames of another socket's part of a shared UMEM, which went back to
	// no allocator. DoubleFrees counts frames freed while already free.
	// Both mean a bug in the caller.
	ForeignCompletions, DoubleFrees uint64
}

// Stats are the kernel's XDP_STATISTICS for the socket and its own
// Counters.
type Stats struct {
	// RXDropped: frames dropped because the frame was too small for the
	// packet, or other reasons. RXInvalidDescs, TXInvalidDescs: descriptors
	// the kernel rejected. RXRingFull: frames dropped because the RX ring
	// was full. RXFillRingEmpty: times the kernel found the fill ring
	// empty. TXRingEmpty: times the kernel found the TX ring empty.
	RXDropped, RXInvalidDescs, TXInvalidDescs uint64
	RXRingFull, RXFillRingEmpty, TXRingEmpty  uint64
	Counters
}

// Stats reads the kernel's statistics (one system call) and the socket's
// counters.
func (s *Socket) Stats() (Stats, error) {
	if s.closed {
		return Stats{}, ErrClosed
	}
	var ks unix.XDPStatistics
	if _, err := xdpsys.Getsockopt(s.fd, unix.SOL_XDP, unix.XDP_STATISTICS, &ks); err != nil {
		return Stats{}, xdpsys.Errno("xsk: read XDP_STATISTICS", err)
	}
	// Kernels before 5.9 return only the first three fields; the rest
	// stay zero.
	return Stats{
		RXDropped: ks.Rx_dropped, RXInvalidDescs: ks.Rx_invalid_descs, TXInvalidDescs: ks.Tx_invalid_descs,
		RXRingFull: ks.Rx_ring_full, RXFillRingEmpty: ks.Rx_fill_ring_empty_descs, TXRingEmpty: ks.Tx_ring_empty_descs,
		Counters: s.Counters(),
	}, nil
}

// Counters returns the socket's own counters without a system call.
func (s *Socket) Counters() Counters {
	c := s.counters
	c.ForeignCompletions, c.DoubleFrees = s.Frames.Foreign, s.Frames.DoubleFrees
	return c
}

// Outstanding is the number of frames transmitted and not yet completed.
func (s *Socket) Outstanding() uint32 { return s.outstanding }

// Refill keeps the fill ring stocked: it puts as many free frames on it as
// it has room for and returns how many it put.
func (s *Socket) Refill() int {
	f := s.Fill
	idx, n := f.Reserve(f.Size())
	var i uint32
	for ; i < n; i++ {
		addr, ok := s.Frames.Alloc()
		if !ok {
			s.counters.FillShort++
			break
		}
		f.Set(idx+i, addr)
	}
	f.Unreserve(n - i)
	if i > 0 {
		f.Submit(i)
		s.counters.Filled += uint64(i)
	}
	return int(i)
}

// Complete takes every completed frame off the completion ring, returns it
// to the allocator and returns how many it took.
func (s *Socket) Complete() int {
	c := s.Completion
	idx, n := c.Peek(c.Size())
	for i := uint32(0); i < n; i++ {
		s.Frames.Free(c.Addr(idx + i))
	}
	if n > 0 {
		c.Release(n)
		s.counters.Completed += uint64(n)
		// More completions than transmissions: frames of another
		// socket (counted in ForeignCompletions by the allocator).
		s.outstanding -= min(n, s.outstanding)
	}
	return int(n)
}

// Transmit puts as many of descs on the TX ring as fit and returns how
// many; the caller still owns the frames of the rest. Follow it with
// KickTX.
func (s *Socket) Transmit(descs []rings.Desc) int {
	n := s.TX.Put(descs)
	if n < len(descs) {
		s.counters.TXRingFull++
	}
	s.outstanding += uint32(n)
	s.counters.Transmitted += uint64(n)
	return n
}

// Account is for callers that drive the TX and completion rings
// themselves (a generator that recycles its own frames instead of going
// through Frames): it records transmitted descriptors put on the TX ring
// and completed ones taken off the completion ring, so that Outstanding,
// NeedsKick and the counters stay right.
func (s *Socket) Account(transmitted, completed uint32) {
	s.outstanding += transmitted
	s.outstanding -= min(completed, s.outstanding)
	s.counters.Transmitted += uint64(transmitted)
	s.counters.Completed += uint64(completed)
}

// CountTXRingFull counts a TX ring without room, for callers that drive
// the ring themselves (see Account).
func (s *Socket) CountTXRingFull() { s.counters.TXRingFull++ }

// NeedsKick reports whether the kernel needs a sendto to transmit what is
// on the TX ring: always in copy mode, where frames are sent from inside
// the system call (at most the TX budget per call, 32 by default); in
// zero-copy mode only when the kernel set the ring's need_wakeup flag, or
// when need_wakeup is off.
func (s *Socket) NeedsKick() bool {
	if s.outstanding == 0 {
		return false
	}
	// With busy polling the sendto is what drives the driver.
	return s.copyMode || !s.info.NeedWakeup || s.info.BusyPoll || s.TX.NeedWakeup()
}

// KickTX kicks the kernel if NeedsKick. Call it after Transmit and in
// every loop iteration while frames are outstanding: in copy mode a TX ring
// that is not kicked never completes.
func (s *Socket) KickTX() {
	if s.NeedsKick() {
		s.Kick()
	}
}

// Kick wakes the kernel's transmit path with a non-blocking sendto. It
// never allocates; errors are counted, not returned.
func (s *Socket) Kick() { s.kick(true) }

// kick is Kick, through the runtime's Syscall when raw is false (for
// BenchmarkKick, which measures the two).
func (s *Socket) kick(raw bool) {
	s.counters.Kicks++
	// A raw system call: it never blocks (MSG_DONTWAIT: the kernel
	// returns EAGAIN rather than wait for room), but in copy mode it
	// transmits the frames itself and takes tens of microseconds. The
	// runtime's Syscall would then let sysmon hand the P to another thread
	// and make the return wait for one. BenchmarkKick measures both on
	// veth: alike with one sender, while with a sender per queue on every
	// P the raw kick sent 1.14 times the frames (bench/results/
	// 2026-12-04-micro/kick.txt). The exception rests on this call never
	// blocking, so the runtime loses nothing by not being told.
	var e unix.Errno
	if raw {
		_, _, e = unix.RawSyscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	} else {
		_, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
	switch e {
	case 0:
	case unix.EAGAIN, unix.EBUSY, unix.ENOBUFS, unix.ENETDOWN:
		s.counters.KicksAgain++
	default:
		s.counters.KickErrors++
		s.counters.LastKickErrno = e
	}
}

// NeedsRXWakeup reports whether the kernel asked for a system call before
// it fills the RX ring again (the fill ring's need_wakeup flag, zero-copy
// drivers), or busy polling is on, where the system call drives the NAPI
// loop.
func (s *Socket) NeedsRXWakeup() bool {
	// A socket without an RX ring gets ENOBUFS from recvfrom before any
	// polling: its busy polling happens in the TX kick.
	return s.RX != nil && (s.info.BusyPoll || (s.info.NeedWakeup && s.Fill.NeedWakeup()))
}

// WakeRX makes the non-blocking recvfrom that wakes (or busy-polls) the
// kernel's receive path if NeedsRXWakeup.
func (s *Socket) WakeRX() {
	if !s.NeedsRXWakeup() {
		return
	}
	s.counters.RXWakeups++
	unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0) // never blocks: see Kick
}

// Receive takes up to len(dst) received descriptors off the RX ring.
// Return each frame to Frames (or transmit it) when done with it.
func (s *Socket) Receive(dst []rings.Desc) int { return s.RX.Get(dst) }

// Wait blocks in poll(2) until the socket has received frames, or TX room,
// when tx is set, or timeoutMs passes (-1: no limit). It returns whether an
// event arrived. For idle loops; it allocates nothing.
func (s *Socket) Wait(tx bool, timeoutMs int) bool {
	pfd := unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN}
	if tx {
		pfd.Events |= unix.POLLOUT
	}
	// ppoll, which every architecture has (arm64 has no poll).
	var tsp uintptr
	var ts unix.Timespec
	if timeoutMs >= 0 {
		ts = unix.NsecToTimespec(int64(timeoutMs) * 1e6)
		tsp = uintptr(unsafe.Pointer(&ts))
	}
	n, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1, tsp, 0, 0, 0)
	return e == 0 && n > 0
}

// KernelStats reads only the kernel's XDP_STATISTICS (the Counters part
// is left zero): one system call, safe from any goroutine while the socket
// is open, for metrics scraped beside a running engine.
func (s *Socket) KernelStats() (Stats, error) {
	var ks unix.XDPStatistics
	if _, err := xdpsys.Getsockopt(s.fd, unix.SOL_XDP, unix.XDP_STATISTICS, &ks); err != nil {
		return Stats{}, xdpsys.Errno("xsk: read XDP_STATISTICS", err)
	}
	return Stats{
		RXDropped: ks.Rx_dropped, RXInvalidDescs: ks.Rx_invalid_descs, TXInvalidDescs: ks.Tx_invalid_descs,
		RXRingFull: ks.Rx_ring_full, RXFillRingEmpty: ks.Rx_fill_ring_empty_descs, TXRingEmpty: ks.Tx_ring_empty_descs,
	}, nil
}
