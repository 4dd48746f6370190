package tcpapp

import (
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// Echo sends back everything it receives (RFC 862), and closes after the
// peer does, once everything is sent back. It keeps no per-connection
// state: one serves every connection of its engine.
type Echo struct{ e *stack.Engine }

// NewEcho returns an Echo for connections on e.
func NewEcho(e *stack.Engine) Echo { return Echo{e} }

func (h Echo) Established(c *tcp.Conn) {}
func (h Echo) Readable(c *tcp.Conn)    { h.pump(c) }
func (h Echo) Writable(c *tcp.Conn)    { h.pump(c) }
func (h Echo) Closed(*tcp.Conn, error) {}

// pump moves what arrived into the send buffer, as far as it has room.
func (h Echo) pump(c *tcp.Conn) {
	for {
		p1, _ := c.Recv.Peek(0, c.Send.Free())
		if len(p1) == 0 {
			break
		}
		c.Recv.Consume(c.Send.Write(p1))
	}
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.e.Now())
	}
}

// Discard throws away everything it receives (RFC 863), and closes after
// the peer does. One serves every connection of its engine.
type Discard struct{ e *stack.Engine }

// NewDiscard returns a Discard for connections on e.
func NewDiscard(e *stack.Engine) Discard { return Discard{e} }

func (h Discard) Established(c *tcp.Conn) {}
func (h Discard) Writable(c *tcp.Conn)    {}
func (h Discard) Closed(*tcp.Conn, error) {}
func (h Discard) Readable(c *tcp.Conn) {
	c.Recv.Consume(c.Recv.Len())
	if c.PeerClosed() {
		c.Close(h.e.Now())
	}
}

// ListenEcho serves Echo on port on every engine of st. Call it after
// st.EnableTCP, before st.Start.
func ListenEcho(st *stack.Stack, port uint16) error {
	return st.ListenTCPFunc(port, func(e *stack.Engine, _ *tcp.Conn) tcp.Handler { return NewEcho(e) })
}

// ListenDiscard serves Discard on port on every engine of st. Call it
// after st.EnableTCP, before st.Start.
func ListenDiscard(st *stack.Stack, port uint16) error {
	return st.ListenTCPFunc(port, func(e *stack.Engine, _ *tcp.Conn) tcp.Handler { return NewDiscard(e) })
}

var (
	_ tcp.Handler = Echo{}
	_ tcp.Handler = Discard{}
)
