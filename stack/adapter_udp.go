package stack

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// UDPConn is a net.PacketConn on one UDP port of the stack's first address,
// for code that wants the standard interface rather than a handler on the
// engine goroutine. It is safe for use by many goroutines. It copies every
// datagram once each way and crosses goroutines through channels: it is
// for convenience, not for the fast path (use BindUDP there).
type UDPConn struct {
	s     *Stack
	local netip.AddrPort
	in    chan inbound // datagrams received by the engines
	free  chan []byte  // buffers for in
	drops atomic.Uint64

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
	closed        chan struct{}
	closeOnce     sync.Once
}

type inbound struct {
	buf  []byte
	n    int
	from netip.AddrPort
}

// ErrConnClosed is returned by a closed UDPConn's methods.
var ErrConnClosed = net.ErrClosed

// ListenUDP returns a UDPConn on port of the stack's first address. queue
// bounds the datagrams waiting to be read (default 1024); beyond it they
// are dropped and counted (UDPConn.Drops). Call it before Start.
func (s *Stack) ListenUDP(port uint16, queue int) (*UDPConn, error) {
	if queue <= 0 {
		queue = 1024
	}
	c := &UDPConn{
		s:      s,
		local:  netip.AddrPortFrom(s.addrs[0].Addr(), port),
		in:     make(chan inbound, queue),
		free:   make(chan []byte, queue),
		closed: make(chan struct{}),
	}
	for i := 0; i < queue; i++ {
		c.free <- make([]byte, 65536)
	}
	if err := s.BindUDP(port, c.deliver); err != nil {
		return nil, err
	}
	return c, nil
}

// deliver runs on an engine goroutine: it copies the datagram into a free
// buffer and queues it, or drops it when the reader is behind.
func (c *UDPConn) deliver(d *Datagram) {
	select {
	case buf := <-c.free:
		n := copy(buf, d.Payload)
		select {
		case c.in <- inbound{buf: buf, n: n, from: d.Src}:
		default:
			c.free <- buf
			c.drops.Add(1)
		}
	default:
		c.drops.Add(1)
	}
}

// Drops counts datagrams dropped because the reader fell behind.
func (c *UDPConn) Drops() uint64 { return c.drops.Load() }

// ReadFrom reads the next datagram, blocking until one arrives, the read
// deadline passes (os.ErrDeadlineExceeded) or the UDPConn closes.
func (c *UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDPAddrPort(p)
	if err != nil {
		return 0, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

// ReadFromUDPAddrPort is ReadFrom without the net.Addr allocation.
func (c *UDPConn) ReadFromUDPAddrPort(p []byte) (int, netip.AddrPort, error) {
	c.mu.Lock()
	dl := c.readDeadline
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case m := <-c.in:
		n := copy(p, m.buf[:m.n])
		c.free <- m.buf
		return n, m.from, nil
	case <-timeout:
		return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
	case <-c.closed:
		return 0, netip.AddrPort{}, ErrConnClosed
	}
}

// WriteTo sends p to addr (a *net.UDPAddr) from the UDPConn's address,
// through the engine that the destination hashes to, blocking while that
// engine's outbox is full, until the write deadline.
func (c *UDPConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: errors.New("not a *net.UDPAddr")}
	}
	return c.WriteToUDPAddrPort(p, ua.AddrPort())
}

// WriteToUDPAddrPort is WriteTo with a netip.AddrPort.
func (c *UDPConn) WriteToUDPAddrPort(p []byte, dst netip.AddrPort) (int, error) {
	dst = netip.AddrPortFrom(dst.Addr().Unmap().WithZone(""), dst.Port())
	src := c.local
	if src.Addr().Is4() != dst.Addr().Is4() {
		// From the stack's first address of the destination's family.
		i := slices.IndexFunc(c.s.addrs, func(p netip.Prefix) bool { return p.Addr().Is4() == dst.Addr().Is4() })
		if i < 0 || !dst.Addr().IsValid() {
			return 0, fmt.Errorf("stack: WriteTo %v: %w: the stack has no address of its family", dst, ErrAddress)
		}
		src = netip.AddrPortFrom(c.s.addrs[i].Addr(), src.Port())
	}
	if len(p) > 65507 {
		return 0, ErrTooBig
	}
	select {
	case <-c.closed:
		return 0, ErrConnClosed
	default:
	}
	engines := c.s.engines
	e := engines[int(dst.Port())%len(engines)]
	buf := datagramBufs.Get().(*[]byte)
	*buf = append((*buf)[:0], p...)
	c.mu.Lock()
	dl := c.writeDeadline
	c.mu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		t := time.NewTimer(time.Until(dl))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case e.outbox <- outbound{buf: buf, src: src, dst: dst}:
		return len(p), nil
	case <-timeout:
		datagramBufs.Put(buf)
		return 0, os.ErrDeadlineExceeded
	case <-c.closed:
		datagramBufs.Put(buf)
		return 0, ErrConnClosed
	}
}

// datagramBufs holds the copies WriteTo hands an engine: taken by writers,
// put back by the engine once the datagram is in a frame, so a steady
// stream of writes allocates nothing (a buffer grows to the largest
// datagram it carried).
var datagramBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// Close unblocks readers and writers; later calls fail with
// net.ErrClosed. The port stays bound until the stack closes.
func (c *UDPConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

// LocalAddr is the UDPConn's address.
func (c *UDPConn) LocalAddr() net.Addr { return net.UDPAddrFromAddrPort(c.local) }

// SetDeadline sets both deadlines.
func (c *UDPConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for ReadFrom calls that start later.
func (c *UDPConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.readDeadline = t
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline sets the deadline for WriteTo calls that start later.
func (c *UDPConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	c.writeDeadline = t
	c.mu.Unlock()
	return nil
}

var _ net.PacketConn = (*UDPConn)(nil)
