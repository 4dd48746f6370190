package load

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// ErrConfig reports a Config field out of range.
var ErrConfig = errors.New("invalid load configuration")

// Config is one load run: what to connect to, what to send on each
// connection, and how fast to open them. The numbers are the run's
// totals; each engine's Client takes its share.
type Config struct {
	// Dst is the server.
	Dst netip.AddrPort
	// Paused starts the run paused: the engines run, no connection
	// opens until Run.Pause(false) (a fleet's common start).
	Paused bool
	// Src are the addresses connections are opened from, in turn: more
	// addresses, more ports to a single server (each address has the
	// whole ephemeral range). They must be the engines' own. Empty: the
	// engine's address towards Dst.
	Src []netip.Addr

	// HTTP sends an HTTP/1.1 GET for Path with Host (default: Dst's
	// address) on each request; otherwise requests are RequestSize bytes
	// of the pattern (byte i = i % 251) and each response is
	// ResponseSize bytes of it, the raw request/response of serve --rr.
	HTTP       bool
	Path, Host string
	// RequestSize is a raw request's size (RR only).
	RequestSize int
	// ResponseSize is a response's size: RR, the bytes the server answers
	// each request with; HTTP, when positive, the body length every
	// response must have, its bytes the pattern (serve --http
	// --response-size answers so); 0 with HTTP: any length, content not
	// checked.
	ResponseSize int
	// Status is the HTTP status every response must have. Default 200.
	Status int
	// Requests is how many requests each connection carries, one after
	// the other (keep-alive); then it closes. Default 1. With HTTP, the
	// last request says Connection: close, so that the server closes
	// first and keeps TIME-WAIT (as wrk's Connection: close runs do); a
	// raw connection is closed by the client.
	Requests int

	// CPS is how many connections to open per second, paced by a token
	// bucket; 0: as fast as Conns allows. Conns, when positive, is how
	// many to keep open: a closed one is replaced (within CPS). One of
	// the two must be set.
	CPS   float64
	Conns int
	// Count, when positive, is how many connections to open in all.
	Count int64
	// Timeout bounds a connection's handshake and each of its responses
	// (from the request to the last byte): past it the connection is
	// reset and counted as timed out. Default 5 s.
	Timeout time.Duration
}

// DefaultConfig returns the defaults: one request per connection, a 200
// expected, 5 s timeouts.
func DefaultConfig() Config {
	return Config{Requests: 1, Status: 200, Timeout: 5 * time.Second, Path: "/", RequestSize: 64}
}

// MaxMessage is the largest request or response size: 1 MiB.
const MaxMessage = 1 << 20

func (c *Config) check() error {
	switch {
	case !c.Dst.IsValid() || c.Dst.Port() == 0:
		return fmt.Errorf("load: %w: destination %v: use IP:PORT", ErrConfig, c.Dst)
	case c.CPS < 0 || c.Conns < 0 || c.Count < 0:
		return fmt.Errorf("load: %w: connections per second, open connections and count must not be negative", ErrConfig)
	case c.CPS == 0 && c.Conns == 0:
		return fmt.Errorf("load: %w: set a rate of new connections (CPS) or a number to keep open (Conns)", ErrConfig)
	case c.Requests < 1:
		return fmt.Errorf("load: %w: %d requests per connection: use 1 or more", ErrConfig, c.Requests)
	case c.Timeout <= 0:
		return fmt.Errorf("load: %w: timeout %v: use a positive duration", ErrConfig, c.Timeout)
	case c.ResponseSize < 0 || c.ResponseSize > MaxMessage:
		return fmt.Errorf("load: %w: response size %d: use 0 to %d bytes", ErrConfig, c.ResponseSize, MaxMessage)
	}
	if c.HTTP {
		host := c.Host
		if host == "" {
			host = c.Dst.String()
		}
		if err := CheckRequest(host, c.Path); err != nil {
			return fmt.Errorf("%w (%w)", err, ErrConfig)
		}
		if c.Status < 100 || c.Status > 599 {
			return fmt.Errorf("load: %w: status %d: use 100 to 599", ErrConfig, c.Status)
		}
	} else if c.RequestSize < 1 || c.RequestSize > MaxMessage || c.ResponseSize < 1 {
		return fmt.Errorf("load: %w: raw request/response sizes %d/%d: use 1 to %d bytes each", ErrConfig, c.RequestSize, c.ResponseSize, MaxMessage)
	}
	for _, a := range c.Src {
		if a.Is4() != c.Dst.Addr().Is4() || a.Is4In6() {
			return fmt.Errorf("load: %w: source %v: use addresses of the destination's family", ErrConfig, a)
		}
	}
	return nil
}

// Share is shard i of n's part of a fleet's run: as engines share a
// host's (share).
func (c Config) Share(i, n int) Config { return c.share(i, n) }

// share is engine i of n's part of the run: CPS, Conns and Count split as
// evenly as whole numbers allow (the first engines take the remainders),
// between as many engines as Conns and Count leave something to (fewer
// than n when they are below n; the others get a zero share and open
// nothing).
func (c Config) share(i, n int) Config {
	active := n
	if c.Conns > 0 {
		active = min(active, c.Conns)
	}
	if c.Count > 0 {
		active = int(min(int64(active), c.Count))
	}
	s := c
	if i >= active {
		s.CPS, s.Conns, s.Count = 0, 0, 0
		return s
	}
	s.CPS = c.CPS / float64(active)
	s.Conns = c.Conns / active
	if i < c.Conns%active {
		s.Conns++
	}
	s.Count = c.Count / int64(active)
	if int64(i) < c.Count%int64(active) {
		s.Count++
	}
	return s
}
