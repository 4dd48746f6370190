package tcpapp

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// Sender writes a number of bytes on one connection as the send buffer
// makes room, then closes it, and counts what the peer acknowledged. It
// throws away whatever the peer sends. One Sender serves one connection.
type Sender struct {
	e       *stack.Engine
	total   int64
	written int64
	content []byte // nil: the pattern
	acked   *atomic.Int64
	done    chan<- SenderResult
	sent    int64 // acknowledged, as counted so far
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Bytes is how many bytes to send; with Content, len(Content).
	Bytes int64
	// Content is what to send; nil: byte i of the stream is i mod 251,
	// which a receiver can check.
	Content []byte
	// Acked, if set, has the bytes the peer acknowledged added to it as
	// they are: one counter can total many senders while they run.
	Acked *atomic.Int64
	// Done receives one SenderResult when the connection ends. The
	// engine sends it without waiting for a reader: give it room for one
	// result per sender.
	Done chan<- SenderResult
}

// SenderResult is what a Sender reports on Done when its connection ends.
type SenderResult struct {
	// Err is why the connection ended; nil: every byte was sent and
	// the close completed.
	Err error
	// Bytes is what the peer acknowledged.
	Bytes int64
	// SRTT is the connection's smoothed round-trip time at the end, in
	// nanoseconds.
	SRTT int64
	// At is when it ended.
	At time.Time
}

// pattern is one period of the default content, repeated 64 times so a
// write takes up to 16 KB at a time.
var pattern = func() []byte {
	p := make([]byte, 251*64)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}()

// NewSender returns a Sender for a connection on e, configured by cfg.
func NewSender(e *stack.Engine, cfg SenderConfig) *Sender {
	s := &Sender{e: e, total: cfg.Bytes, content: cfg.Content, acked: cfg.Acked, done: cfg.Done}
	if s.content != nil {
		s.total = int64(len(s.content))
	}
	return s
}

// Dial opens the sender's connection to dst from its engine, on the
// engine goroutine at its next round (Engine.Do); a dial that fails there
// is reported on Done. Dial's own error is Do's: the engine's command
// queue is full (try again shortly), or TCP is not enabled.
func (s *Sender) Dial(dst netip.AddrPort) error {
	return s.e.Do(func(e *stack.Engine) {
		if _, err := e.DialTCP(dst, s); err != nil {
			s.done <- SenderResult{Err: err, At: time.Now()}
		}
	})
}

func (s *Sender) Established(c *tcp.Conn) { s.fill(c) }
func (s *Sender) Writable(c *tcp.Conn)    { s.fill(c) }

// Readable throws away whatever the peer sends.
func (s *Sender) Readable(c *tcp.Conn) { c.Recv.Consume(c.Recv.Len()) }

// Closed counts the last acknowledgements and reports on Done.
func (s *Sender) Closed(c *tcp.Conn, err error) {
	s.count(c)
	s.done <- SenderResult{Err: err, Bytes: s.sent, SRTT: c.SRTT(), At: time.Now()}
}

// count publishes the bytes acknowledged so far.
func (s *Sender) count(c *tcp.Conn) {
	acked := s.written
	if c.Send != nil { // nil until established: a refused dial has none
		acked -= int64(c.Send.Len())
	}
	if c.State() == tcp.StateClosed && c.Err() == nil {
		acked = s.written
	}
	if s.acked != nil {
		s.acked.Add(acked - s.sent)
	}
	s.sent = acked
}

// fill writes as much as the send buffer takes, and closes after the last
// byte.
func (s *Sender) fill(c *tcp.Conn) {
	s.count(c)
	for s.written < s.total && c.Send.Free() > 0 {
		var p []byte
		if s.content != nil {
			p = s.content[s.written:]
		} else {
			off := int(s.written % 251)
			p = pattern[off:]
			if rest := s.total - s.written; int64(len(p)) > rest {
				p = p[:rest]
			}
		}
		s.written += int64(c.Send.Write(p))
	}
	if s.written == s.total {
		c.Close(s.e.Now())
	}
}

var _ tcp.Handler = (*Sender)(nil)
