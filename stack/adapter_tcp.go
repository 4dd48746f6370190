package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/tcp"
)

// TCPConn is a net.Conn over an engine's TCP connection, for code that
// wants the standard interface: Read and Write copy between the caller's
// slices and the connection's lock-free buffers, and wake the engine; the
// engine wakes them back through channels. It is safe for one reader and
// one writer at a time (as a net.Conn is normally used) plus Close and the
// deadline setters from anywhere.
type TCPConn struct {
	e *Engine
	// c is set on the engine goroutine before established closes, and
	// kept (tcp.Conn.Keep): Read drains c.Recv after the connection
	// ended, and a late kick services it, so the engine must never reuse
	// it for another connection.
	c      *tcp.Conn
	local  netip.AddrPort
	remote netip.AddrPort

	readable    chan struct{} // a token: data or EOF arrived
	writable    chan struct{} // a token: room in the send buffer
	established chan struct{} // closed when the handshake completes
	done        chan struct{} // closed when the connection ends
	eof         atomic.Bool   // the peer's FIN, after every byte before it
	err         error         // why it ended: written before done closes

	queued    atomic.Bool // in the engine's command queue
	closeReq  atomic.Bool // Close asked for a FIN
	closeOnce sync.Once
	closed    chan struct{} // closed by Close

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

func newTCPConn(e *Engine) *TCPConn {
	return &TCPConn{
		e:           e,
		readable:    make(chan struct{}, 1),
		writable:    make(chan struct{}, 1),
		established: make(chan struct{}),
		done:        make(chan struct{}),
		closed:      make(chan struct{}),
	}
}

// The tcp.Handler side, on the engine goroutine.

func (t *TCPConn) Established(c *tcp.Conn) {
	if t.c == nil {
		t.c = c
	}
	close(t.established)
}

func (t *TCPConn) Readable(c *tcp.Conn) {
	if c.PeerClosed() {
		t.eof.Store(true)
	}
	token(t.readable)
}

func (t *TCPConn) Writable(*tcp.Conn) { token(t.writable) }

func (t *TCPConn) Closed(c *tcp.Conn, err error) {
	t.err = err
	if t.c == nil {
		t.c = c
	}
	close(t.done)
}

func token(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// kick queues the connection for its engine: its buffers moved or Close
// was called.
func (t *TCPConn) kick() {
	if !t.queued.CompareAndSwap(false, true) {
		return
	}
	select {
	case t.e.tcpCmds <- tcpCmd{tc: t}:
	case <-t.done:
	case <-t.e.done: // the engine stopped
	}
}

// service runs on the engine goroutine for a kick.
func (t *TCPConn) service(e *Engine) {
	t.queued.Store(false)
	if t.c == nil {
		return
	}
	if t.closeReq.Load() {
		t.c.Close(e.now)
	}
	t.c.Update(e.now)
}

// Read reads what arrived, blocking until something does, the peer
// closes (io.EOF), the connection ends (its error) or the read deadline
// passes.
func (t *TCPConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		if n := t.c.Recv.Read(p); n > 0 {
			t.kick() // the window opened: the engine decides on an update
			return n, nil
		}
		if t.eof.Load() && t.c.Recv.Len() == 0 {
			return 0, io.EOF
		}
		select {
		case <-t.done:
			if n := t.c.Recv.Read(p); n > 0 {
				return n, nil
			}
			if t.eof.Load() || t.err == nil {
				return 0, io.EOF
			}
			return 0, t.opError("read", t.err)
		default:
		}
		if err := t.wait("read", t.readable, t.deadline(&t.readDeadline)); err != nil {
			return 0, err
		}
	}
}

// Write sends p, blocking while the send buffer is full. It returns when
// every byte is in the send buffer (not when acknowledged).
func (t *TCPConn) Write(p []byte) (int, error) {
	written := 0
	for {
		select {
		case <-t.closed:
			return written, t.opError("write", net.ErrClosed)
		case <-t.done:
			err := t.err
			if err == nil {
				err = tcp.ErrClosing
			}
			return written, t.opError("write", err)
		default:
		}
		written += t.c.Send.Write(p[written:])
		if written > 0 {
			t.kick()
		}
		if written == len(p) {
			return written, nil
		}
		if err := t.wait("write", t.writable, t.deadline(&t.writeDeadline)); err != nil {
			return written, err
		}
	}
}

// wait blocks for a token on ch, the end of the connection, Close, or the
// deadline.
func (t *TCPConn) wait(op string, ch chan struct{}, dl time.Time) error {
	var timeout <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return t.opError(op, os.ErrDeadlineExceeded)
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-ch:
		return nil
	case <-t.done:
		return nil // the caller looks at why
	case <-t.closed:
		return t.opError(op, net.ErrClosed)
	case <-t.e.done:
		return t.opError(op, net.ErrClosed) // the engine stopped
	case <-timeout:
		return t.opError(op, os.ErrDeadlineExceeded)
	}
}

func (t *TCPConn) deadline(p *time.Time) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return *p
}

func (t *TCPConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: net.TCPAddrFromAddrPort(t.local), Addr: net.TCPAddrFromAddrPort(t.remote), Err: err}
}

// Close sends what was written, then a FIN; Read and Write fail after.
// The connection lingers in the engine until the close completes.
func (t *TCPConn) Close() error {
	t.closeOnce.Do(func() {
		close(t.closed)
		t.closeReq.Store(true)
		t.kick()
	})
	return nil
}

// CloseWrite sends a FIN after what was written; reading continues.
func (t *TCPConn) CloseWrite() error {
	t.closeReq.Store(true)
	t.kick()
	return nil
}

// Done is closed when the connection has ended (the close handshake
// finished, or a reset or timeout); Err then says why (nil: orderly).
func (t *TCPConn) Done() <-chan struct{} { return t.done }

// Err is why the connection ended, once Done is closed.
func (t *TCPConn) Err() error {
	select {
	case <-t.done:
		return t.err
	default:
		return nil
	}
}

func (t *TCPConn) LocalAddr() net.Addr  { return net.TCPAddrFromAddrPort(t.local) }
func (t *TCPConn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(t.remote) }

func (t *TCPConn) SetDeadline(d time.Time) error {
	t.SetReadDeadline(d)
	return t.SetWriteDeadline(d)
}

// SetReadDeadline sets the deadline for Read calls, those waiting now
// included from their next wait.
func (t *TCPConn) SetReadDeadline(d time.Time) error {
	t.mu.Lock()
	t.readDeadline = d
	t.mu.Unlock()
	token(t.readable) // a waiting Read looks at the new deadline
	return nil
}

func (t *TCPConn) SetWriteDeadline(d time.Time) error {
	t.mu.Lock()
	t.writeDeadline = d
	t.mu.Unlock()
	token(t.writable)
	return nil
}

var _ net.Conn = (*TCPConn)(nil)

// DialTCP opens a connection to addr ("192.0.2.1:80" or
// "[2001:db8::1]:80"; an IPv4-mapped address is IPv4) on the next engine
// in turn, from the engine's address the route to addr prefers, and
// waits for the handshake, ctx's end or the connection's failure. The
// engines must be running.
func (s *Stack) DialTCP(ctx context.Context, addr string) (*TCPConn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || ap.Addr().Zone() != "" || ap.Addr().IsUnspecified() || ap.Addr().IsMulticast() {
		return nil, fmt.Errorf("stack: DialTCP %q: want a unicast address and port, 192.0.2.1:80 or [2001:db8::1]:80, without a zone", addr)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	if !s.tcpOn || !s.started {
		return nil, errors.New("stack: DialTCP: enable TCP and start the stack first")
	}
	e := s.engines[s.dials.Add(1)%uint64(len(s.engines))]
	t := newTCPConn(e)
	t.remote = ap
	dialErr := make(chan error, 1)
	if err := e.Do(func(e *Engine) {
		c, err := e.DialTCP(ap, t)
		if err == nil {
			c.Keep()
			t.c = c
			t.local = c.LocalAddr()
		}
		dialErr <- err
	}); err != nil {
		return nil, err
	}
	select {
	case err := <-dialErr:
		if err != nil {
			return nil, fmt.Errorf("stack: dial %v: %w", ap, err)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case <-t.established:
		return t, nil
	case <-t.done:
		return nil, t.opError("dial", t.err)
	case <-ctx.Done():
		e.Do(func(*Engine) { t.c.Abort() })
		return nil, t.opError("dial", ctx.Err())
	}
}

// TCPListener is a net.Listener over the engines' TCP: every engine
// accepts on the port, and Accept hands out the connections as net.Conns.
type TCPListener struct {
	addr      netip.AddrPort
	conns     chan *TCPConn
	closed    chan struct{}
	closeOnce sync.Once
	dropped   atomic.Uint64
}

// ListenTCP listens on port on every engine, on all the stack's
// addresses, IPv4 and IPv6 (Addr names the first): connections whose handshake
// completed wait for Accept, up to backlog (default 128); beyond that they
// are reset and counted (Dropped). Call it after EnableTCP, before Start.
func (s *Stack) ListenTCP(port uint16, backlog int) (*TCPListener, error) {
	if backlog <= 0 {
		backlog = 128
	}
	l := &TCPListener{
		addr:   netip.AddrPortFrom(s.addrs[0].Addr(), port),
		conns:  make(chan *TCPConn, backlog),
		closed: make(chan struct{}),
	}
	err := s.ListenTCPFunc(port, func(e *Engine, c *tcp.Conn) tcp.Handler {
		t := newTCPConn(e) // Established, next, completes it
		t.c = c
		t.local, t.remote = c.LocalAddr(), c.RemoteAddr()
		select {
		case <-l.closed:
			return &resetter{}
		default:
		}
		select {
		case l.conns <- t:
			c.Keep()
			return t
		default:
			l.dropped.Add(1)
			return &resetter{}
		}
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// resetter aborts the connection it is given, for accepts nobody takes.
type resetter struct{}

func (*resetter) Established(c *tcp.Conn) { c.Abort() }
func (*resetter) Readable(c *tcp.Conn)    {}
func (*resetter) Writable(*tcp.Conn)      {}
func (*resetter) Closed(*tcp.Conn, error) {}

// Accept waits for the next connection.
func (l *TCPListener) Accept() (net.Conn, error) {
	select {
	case t := <-l.conns:
		return t, nil
	case <-l.closed:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: net.ErrClosed}
	}
}

// Close stops Accept; new connections are reset. Connections already
// accepted carry on.
func (l *TCPListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

// Addr is the listening address (the stack's first).
func (l *TCPListener) Addr() net.Addr { return net.TCPAddrFromAddrPort(l.addr) }

// Dropped counts connections reset because the backlog was full.
func (l *TCPListener) Dropped() uint64 { return l.dropped.Load() }

var _ net.Listener = (*TCPListener)(nil)
