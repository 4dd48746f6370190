package tcp

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// A pair of Hosts joined in memory, for connection churn: open, exchange,
// close, over and over. Nothing here allocates after newPair, so that a
// test can count the Hosts' own allocations.

// pipeFrame is a segment on its way from one Host to the other.
type pipeFrame struct {
	src, dst netip.Addr
	to       int
	n        int
	b        [MaxHeaderLen + 2048]byte
}

// pipe carries segments between two Hosts in order, through a fixed ring.
type pipe struct {
	hosts   [2]*Host
	q       [256]pipeFrame
	head, n int
	dropped int
}

// pipeEnd is the Link of one Host of a pipe: it sends to the other.
type pipeEnd struct {
	p  *pipe
	to int
}

func (e *pipeEnd) Send(local, remote netip.AddrPort, f *Fields, o *Options, p1, p2 []byte) bool {
	p := e.p
	if p.n == len(p.q) || MaxHeaderLen+len(p1)+len(p2) > len(p.q[0].b) {
		p.dropped++
		return false
	}
	fr := &p.q[(p.head+p.n)%len(p.q)]
	n, err := Encode(fr.b[:], *f, o)
	if err != nil {
		p.dropped++
		return false
	}
	n += copy(fr.b[n:], p1)
	n += copy(fr.b[n:], p2)
	Header(fr.b[:n]).SetChecksum(local.Addr(), remote.Addr())
	fr.src, fr.dst, fr.to, fr.n = local.Addr(), remote.Addr(), e.to, n
	p.n++
	return true
}

// pump delivers every segment in flight, and those they bring, in order.
func (p *pipe) pump(now int64) {
	for p.n > 0 {
		fr := &p.q[p.head]
		// The frame stays reserved while its Host reads it: what it
		// sends goes behind.
		p.hosts[fr.to].Input(fr.src, fr.dst, Header(fr.b[:fr.n]), now)
		p.head = (p.head + 1) % len(p.q)
		p.n--
	}
}

// How a churn cycle ends.
const (
	clientCloses = iota // the dialler closes first and waits in TIME-WAIT
	serverCloses        // the listener closes first and waits in TIME-WAIT
	clientAborts        // the dialler resets the connection
	numEndings
)

// churnMsg is what a client sends and the server echoes.
var churnMsg = []byte("a few bytes there and back again, to move the buffers' indices")

// churnClient dials, sends churnMsg, reads the echo, and ends the
// connection as the pair's ending says.
type churnClient struct {
	pr   *pair
	got  int
	buf  [256]byte
	done int // connections Closed with a nil or expected error
	errs int
}

func (h *churnClient) Established(c *Conn) {
	h.got = 0
	c.Send.Write(churnMsg)
	c.Update(h.pr.now)
}

func (h *churnClient) Readable(c *Conn) {
	h.got += c.Recv.Read(h.buf[:])
	if h.got == len(churnMsg) && h.pr.ending != serverCloses {
		h.got = -1 // once
		if h.pr.ending == clientAborts {
			c.Abort()
			return
		}
		c.Close(h.pr.now)
	}
	if c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.pr.now)
	}
}

func (h *churnClient) Writable(c *Conn) {}

func (h *churnClient) Closed(c *Conn, err error) {
	if err == nil || err == ErrAborted && h.pr.ending == clientAborts {
		h.done++
	} else {
		h.errs++
	}
}

// churnServer echoes, and closes after the echo (serverCloses) or after
// the peer's FIN.
type churnServer struct {
	pr   *pair
	done int
	errs int
}

func (h *churnServer) Established(c *Conn) {}

func (h *churnServer) Readable(c *Conn) {
	for {
		p1, _ := c.Recv.Peek(0, c.Send.Free())
		if len(p1) == 0 {
			break
		}
		c.Recv.Consume(c.Send.Write(p1))
	}
	c.Update(h.pr.now)
	if h.pr.ending == serverCloses && c.Send.Len() > 0 || c.PeerClosed() && c.Recv.Len() == 0 {
		c.Close(h.pr.now)
	}
}

func (h *churnServer) Writable(c *Conn) {}

func (h *churnServer) Closed(c *Conn, err error) {
	if err == nil || err == ErrReset && h.pr.ending == clientAborts {
		h.done++
	} else {
		h.errs++
	}
}

// pair is two Hosts on a pipe, each listening on port 80 and able to dial
// the other.
type pair struct {
	p       *pipe
	addrs   [2]netip.AddrPort
	clients [2]churnClient
	servers [2]churnServer
	accept  [2]func(*Conn) Handler
	now     int64
	ending  int
	cycles  int
}

func churnConfig() Config {
	cfg := DefaultConfig()
	cfg.ISNKey = [16]byte{7, 7}
	cfg.SendBuffer, cfg.RecvBuffer = 4096, 4096
	cfg.TimeWait = 5 * millisecond
	cfg.MaxConns = 64
	return cfg
}

func newPair(tb testing.TB, cfg Config) *pair {
	tb.Helper()
	pr := &pair{p: &pipe{}, now: int64(time.Hour)}
	pr.addrs[0] = netip.MustParseAddrPort("198.18.0.1:80")
	pr.addrs[1] = netip.MustParseAddrPort("198.18.0.2:80")
	for i := range 2 {
		h, err := NewHost(cfg, &pipeEnd{p: pr.p, to: 1 - i})
		if err != nil {
			tb.Fatal(err)
		}
		pr.p.hosts[i] = h
		pr.clients[i].pr, pr.servers[i].pr = pr, pr
		s := &pr.servers[i]
		pr.accept[i] = func(*Conn) Handler { return s }
		if _, err := h.Listen(80, pr.accept[i]); err != nil {
			tb.Fatal(err)
		}
	}
	return pr
}

// cycle runs one connection from open to gone: host i%2 dials the other,
// sends, gets the echo back, and the connection ends the cycle's way;
// then the clock passes TIME-WAIT (churnConfig's) and both Hosts tick.
func (pr *pair) cycle() {
	pr.cycleFrom(pr.cycles%2, pr.cycles%numEndings)
}

// cycleFrom runs one connection from host i to the other, ended the
// ending's way.
func (pr *pair) cycleFrom(i, ending int) {
	pr.ending = ending
	pr.cycles++
	h := pr.p.hosts[i]
	local := netip.AddrPortFrom(pr.addrs[i].Addr(), 0)
	if _, err := h.Dial(local, pr.addrs[1-i], &pr.clients[i], pr.now); err != nil {
		pr.clients[i].errs++
		return
	}
	pr.p.pump(pr.now)
	for range 3 {
		// Delayed ACKs, TIME-WAIT: both run out.
		pr.now += 3 * millisecond
		pr.p.hosts[0].Tick(pr.now)
		pr.p.hosts[1].Tick(pr.now)
		pr.p.pump(pr.now)
	}
}

// check fails tb unless every cycle so far completed cleanly on both
// sides and the tables are empty.
func (pr *pair) check(tb testing.TB) {
	tb.Helper()
	var done, errs int
	for i := range 2 {
		done += pr.clients[i].done + pr.servers[i].done
		errs += pr.clients[i].errs + pr.servers[i].errs
		if n := len(pr.p.hosts[i].Conns()); n != 0 {
			tb.Errorf("host %d: %d connections left after the cycles", i, n)
		}
	}
	if done != 2*pr.cycles || errs != 0 || pr.p.dropped != 0 {
		tb.Fatalf("%d cycles: %d connection ends as expected (want %d), %d not, %d segments dropped",
			pr.cycles, done, 2*pr.cycles, errs, pr.p.dropped)
	}
}

// TestChurn: connections opened and closed every way, one after another,
// complete on both sides and leave the tables empty.
func TestChurn(t *testing.T) {
	pr := newPair(t, churnConfig())
	for range 600 {
		pr.cycle()
	}
	pr.check(t)
	for i := range 2 {
		c := pr.p.hosts[i].Counters()
		if c[ActiveOpens] != 300 || c[PassiveOpens] != 300 || c[Established] != 600 {
			t.Errorf("host %d: %d active, %d passive opens, %d established; want 300, 300, 600",
				i, c[ActiveOpens], c[PassiveOpens], c[Established])
		}
	}
}

// reusePair is a pair for a client that closes first, thousands of
// times, on a narrow ephemeral range: host 0 dials host 1 over 64 ports,
// TIME-WAIT lasts its full 60 s, and Config.TimeWaitReuse gives each
// port back about 2 s after its last connection closed (reuseCycle).
func reusePair(tb testing.TB) *pair {
	cfg := churnConfig()
	cfg.TimeWait = 60 * second
	cfg.TimeWaitReuse = true
	cfg.EphemeralLo, cfg.EphemeralHi = 61000, 61063
	cfg.MaxConns = 128
	return newPair(tb, cfg)
}

// reuseCycle runs one connection from host 0, which closes first, and
// lets 20 ms more pass (29 ms a cycle, 1.9 s for the 64 ports).
func (pr *pair) reuseCycle() {
	pr.cycleFrom(0, clientCloses)
	pr.now += 20 * millisecond
}

// checkReuse fails tb unless every cycle of a reusePair completed on
// both sides, the client holds its last 64 connections in TIME-WAIT
// (without buffers) and reused a port for each of the others.
func (pr *pair) checkReuse(tb testing.TB) {
	tb.Helper()
	client, server := pr.p.hosts[0], pr.p.hosts[1]
	n := uint64(pr.cycles)
	cc := client.Counters()
	if pr.clients[0].errs != 0 || pr.servers[1].errs != 0 || uint64(pr.clients[0].done) != n || uint64(pr.servers[1].done) != n || pr.p.dropped != 0 {
		tb.Fatalf("%d cycles: client %d ends as expected, %d not (Dial errors included); server %d, %d; %d segments dropped",
			n, pr.clients[0].done, pr.clients[0].errs, pr.servers[1].done, pr.servers[1].errs, pr.p.dropped)
	}
	if len(client.Conns()) != 64 || cc.InTimeWait() != 64 || cc[TimeWaitReused] != n-64 || len(server.Conns()) != 0 {
		tb.Fatalf("%d cycles: client %d connections, %d in TIME-WAIT (want 64), %d reused (want %d); server %d connections",
			n, len(client.Conns()), cc.InTimeWait(), cc[TimeWaitReused], n-64, len(server.Conns()))
	}
	for i, h := range pr.p.hosts {
		if c := h.Counters(); c[BufferAllocs] > 1 || c[ConnAllocs] > 65 {
			tb.Errorf("host %d: %d buffer pairs, %d connections allocated; want at most 1, 65", i, c[BufferAllocs], c[ConnAllocs])
		}
	}
}

// TestTimeWaitReuseChurn: a client closing first opens connections to
// one server far faster than 64 ports a minute allow: every Dial after
// the 64th takes a port from a connection in TIME-WAIT (without
// TimeWaitReuse the 65th fails with ErrNoPort), and memory stays at one
// buffer pair and 65 connections a side.
func TestTimeWaitReuseChurn(t *testing.T) {
	pr := reusePair(t)
	for range 1000 {
		pr.reuseCycle()
	}
	pr.checkReuse(t)
}

// BenchmarkConnChurn: one connection's whole life per operation, both
// ends on this goroutine (two Hosts in memory): handshake, 62 bytes there
// and back, close (by either side, or a RST), TIME-WAIT, removal.
func BenchmarkConnChurn(b *testing.B) {
	for _, size := range []int{4 << 10, 256 << 10} {
		b.Run(fmt.Sprintf("buffers=%dKiB", size>>10), func(b *testing.B) {
			cfg := churnConfig()
			cfg.SendBuffer, cfg.RecvBuffer = size, size
			pr := newPair(b, cfg)
			for range 2 * numEndings {
				pr.cycle() // warm-up: every way, from both sides
			}
			b.ReportAllocs()
			for b.Loop() {
				pr.cycle()
			}
			pr.check(b)
		})
	}
}
