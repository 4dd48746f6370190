package tcp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// sipVectors are SipHash-2-4 outputs (as the little-endian uint64 the
// reference implementation's vectors_sip64 bytes spell) for the key
// 00 01 .. 0f and the messages 00 01 .. (n-1) of length n. Lengths 0 and
// 15 are in the SipHash paper (appendix A: a129ca6149be45e5 for 15); all
// were computed with an independent few-line Python implementation of the
// paper's algorithm.
var sipVectors = []struct {
	n    int
	want uint64
}{
	{0, 0x726fdb47dd0e0e31},
	{1, 0x74f839c593dc67fd},
	{2, 0x0d6c8009d9a94f5a},
	{3, 0x85676696d7fb7e2d},
	{4, 0xcf2794e0277187b7},
	{5, 0x18765564cd99a68d},
	{6, 0xcbc9466e58fee3ce},
	{7, 0xab0200f58b01d137},
	{8, 0x93f5f5799a932462},
	{9, 0x9e0082df0ba9e4b0},
	{14, 0xf723ca908e7af2ee},
	{15, 0xa129ca6149be45e5},
	{16, 0x3f2acc7f57c29bdb},
	{23, 0xa80c038ccd5ccec8},
	{24, 0xb8ad50c6f649af94},
	{31, 0x32d892fad841c342},
	{32, 0x7127512f72f27cce},
	{63, 0x958a324ceb064572},
}

// sipKey is the vectors' key 00 01 .. 0f, as k0, k1.
const sipK0, sipK1 = 0x0706050403020100, 0x0f0e0d0c0b0a0908

func TestSipHashVectors(t *testing.T) {
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	for _, v := range sipVectors {
		if got := sipHash(sipK0, sipK1, msg[:v.n]); got != v.want {
			t.Errorf("SipHash-2-4 of %d bytes = %#016x, want %#016x", v.n, got, v.want)
		}
	}
	// sip24 is the 24-byte case: the vector for length 24.
	a := binary.LittleEndian.Uint64(msg[0:])
	b := binary.LittleEndian.Uint64(msg[8:])
	c := binary.LittleEndian.Uint64(msg[16:])
	if got := sip24(sipK0, sipK1, a, b, c); got != 0xb8ad50c6f649af94 {
		t.Errorf("sip24 of bytes 00..17 = %#016x, want %#016x", got, uint64(0xb8ad50c6f649af94))
	}
}

// TestSip24: sip24(k0, k1, a, b, c) is SipHash-2-4 of the 24 bytes
// a, b, c little-endian.
func TestSip24(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	msg := make([]byte, 24)
	for i := 0; i < 10000; i++ {
		k0, k1, a, b, c := rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64()
		if i%10 == 0 {
			a, b, c = 0, 0, uint64(i)
		}
		binary.LittleEndian.PutUint64(msg[0:], a)
		binary.LittleEndian.PutUint64(msg[8:], b)
		binary.LittleEndian.PutUint64(msg[16:], c)
		if got, want := sip24(k0, k1, a, b, c), sipHash(k0, k1, msg); got != want {
			t.Fatalf("sip24(%#x, %#x, %#x, %#x, %#x) = %#x, sipHash %#x", k0, k1, a, b, c, got, want)
		}
	}
}

var (
	isnKey    = [16]byte{0x3c, 0x9a, 0x11, 0x02, 0xe7, 0x45, 0x8b, 0xf0, 0x66, 0x21, 0xd4, 0x7e, 0x90, 0x0b, 0xa5, 0x5c}
	isnLocal  = netip.MustParseAddrPort("192.0.2.1:80")
	isnRemote = netip.MustParseAddrPort("198.51.100.7:40000")
)

// TestISNClock: for one tuple the ISN is M + F, M counting every 4 µs
// (RFC 6528 3, RFC 9293 3.4.1).
func TestISNClock(t *testing.T) {
	g := NewISNGenerator(isnKey)
	t0 := int64(1234567) * 4000 // on a tick
	base := g.ISN(isnLocal, isnRemote, t0)
	for _, tc := range []struct {
		dt   int64 // ns after t0
		want uint32
	}{
		{0, 0},
		{1, 0},
		{3999, 0},
		{4000, 1},
		{7999, 1},
		{8000, 2},
		{int64(time.Millisecond), 250},
		{int64(time.Second), 250000},
		{int64(time.Minute), 15000000},
		{4000 << 32, 0}, // M wraps after 2^32 ticks, 4.77 hours
		{4000<<32 + 4000, 1},
	} {
		if got := g.ISN(isnLocal, isnRemote, t0+tc.dt); got.Sub(base) != int32(tc.want) {
			t.Errorf("%v later: ISN advanced %d, want %d", time.Duration(tc.dt), got.Sub(base), tc.want)
		}
	}
	// Strictly increasing tick by tick.
	prev := base
	for i := int64(1); i <= 10000; i++ {
		s := g.ISN(isnLocal, isnRemote, t0+i*4000)
		if s != prev.Add(1) {
			t.Fatalf("tick %d: ISN %d after %d", i, s, prev)
		}
		prev = s
	}
	// The same key gives the same ISN; another key another.
	if NewISNGenerator(isnKey).ISN(isnLocal, isnRemote, t0) != base {
		t.Error("ISN not a function of key, tuple and time")
	}
	other := isnKey
	other[15] ^= 1
	if NewISNGenerator(other).ISN(isnLocal, isnRemote, t0) == base {
		t.Error("ISN unchanged by another key")
	}
}

// TestISNTuples: F differs for every part of the tuple, so that ISNs of
// different connections are unrelated.
func TestISNTuples(t *testing.T) {
	g := NewISNGenerator(isnKey)
	const now = int64(42e9)
	base := g.ISN(isnLocal, isnRemote, now)
	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	for _, tc := range []struct{ local, remote netip.AddrPort }{
		{ap("192.0.2.1:81"), isnRemote},
		{ap("192.0.2.2:80"), isnRemote},
		{isnLocal, ap("198.51.100.7:40001")},
		{isnLocal, ap("198.51.100.8:40000")},
		{isnRemote, isnLocal},                          // the tuple reversed
		{ap("192.0.2.1:40000"), ap("198.51.100.7:80")}, // ports swapped
	} {
		if s := g.ISN(tc.local, tc.remote, now); s == base {
			t.Errorf("%v -> %v: the same ISN as %v -> %v", tc.local, tc.remote, isnLocal, isnRemote)
		}
	}
	// Consecutive source ports: all different, and not a sequence.
	seen := map[Seq]bool{}
	steps := map[int32]bool{}
	var prev Seq
	for p := uint16(40000); p < 42000; p++ {
		s := g.ISN(isnLocal, netip.AddrPortFrom(isnRemote.Addr(), p), now)
		if seen[s] {
			t.Fatalf("port %d: ISN %d seen before", p, s)
		}
		seen[s] = true
		if p > 40000 {
			steps[s.Sub(prev)] = true
		}
		prev = s
	}
	if len(steps) < 1900 {
		t.Errorf("ISNs of consecutive ports: only %d distinct steps", len(steps))
	}

	// The ephemeral port offset: a function of the destination, another
	// hash than the ISN's.
	o1 := g.EphemeralPortOffset(isnLocal.Addr(), isnRemote.Addr(), 80)
	if o1 != g.EphemeralPortOffset(isnLocal.Addr(), isnRemote.Addr(), 80) ||
		o1 == g.EphemeralPortOffset(isnLocal.Addr(), isnRemote.Addr(), 443) ||
		o1 == g.EphemeralPortOffset(isnLocal.Addr(), netip.MustParseAddr("198.51.100.8"), 80) {
		t.Error("EphemeralPortOffset: not a function of the destination")
	}
}

func TestCookie(t *testing.T) {
	g := NewISNGenerator(isnKey)
	const clientISN = Seq(0xfedcba98)
	t0 := 1000*cookiePeriod + 10e9 // 10 s into a period
	for _, tc := range []struct{ mss, want uint16 }{
		{536, 536}, {1300, 1300}, {1440, 1440}, {1460, 1460},
		// Between classes: the largest not above the peer's.
		{1000, 536}, {1400, 1300}, {1459, 1440}, {9000, 1460},
		// Below the smallest class: 536 (RFC 9293's default, Linux's too).
		{100, 536},
	} {
		c := g.Cookie(isnLocal, isnRemote, clientISN, tc.mss, t0)
		if got, ok := g.CheckCookie(isnLocal, isnRemote, clientISN, c+1, t0); !ok || got != tc.want {
			t.Errorf("MSS %d: CheckCookie = %d, %v; want %d", tc.mss, got, ok, tc.want)
		}
		if got, ok := g.CheckCookie(isnLocal, isnRemote, clientISN, c+1, t0+cookiePeriod); !ok || got != tc.want {
			t.Errorf("MSS %d, one period on: CheckCookie = %d, %v; want %d", tc.mss, got, ok, tc.want)
		}
	}

	c := g.Cookie(isnLocal, isnRemote, clientISN, 1460, t0)
	if c != g.Cookie(isnLocal, isnRemote, clientISN, 1460, t0+50e9) {
		t.Error("cookie changed within its period")
	}
	ap := func(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
	reject := func(name string, local, remote netip.AddrPort, isn, ack Seq, now int64) {
		t.Helper()
		if mss, ok := g.CheckCookie(local, remote, isn, ack, now); ok {
			t.Errorf("%s: cookie accepted (MSS %d)", name, mss)
		}
	}
	reject("another remote port", isnLocal, ap("198.51.100.7:40001"), clientISN, c+1, t0)
	reject("another remote address", isnLocal, ap("198.51.100.9:40000"), clientISN, c+1, t0)
	reject("another local port", ap("192.0.2.1:8080"), isnRemote, clientISN, c+1, t0)
	reject("another local address", ap("192.0.2.3:80"), isnRemote, clientISN, c+1, t0)
	reject("another client ISN", isnLocal, isnRemote, clientISN+1, c+1, t0)
	// Tampered: every bit of the hash and of the counter is checked. The
	// two MSS-class bits are not (a client can ask for any class in its
	// SYN anyway): changed, they name another class.
	for bit := 2; bit < 32; bit++ {
		reject("bit flipped", isnLocal, isnRemote, clientISN, (c^1<<bit)+1, t0)
	}
	// Age: good through the next period, not from the one after (128 s
	// after the period began, here 118 s after the cookie).
	periodStart := t0 - 10e9
	if _, ok := g.CheckCookie(isnLocal, isnRemote, clientISN, c+1, periodStart+2*cookiePeriod-1); !ok {
		t.Error("cookie refused at the end of the next period")
	}
	for _, dt := range []int64{2 * cookiePeriod, 2*cookiePeriod + 30e9, 128e9 + 10e9, 1000e9, 64 * cookiePeriod} {
		reject("too old", isnLocal, isnRemote, clientISN, c+1, periodStart+dt)
	}
	reject("from the future", isnLocal, isnRemote, clientISN, c+1, periodStart-1)

	// Near time zero the previous period is before zero: no panic, and
	// the cookie works.
	c0 := g.Cookie(isnLocal, isnRemote, clientISN, 1300, 0)
	if mss, ok := g.CheckCookie(isnLocal, isnRemote, clientISN, c0+1, 1); !ok || mss != 1300 {
		t.Errorf("cookie at time 0: %d %v", mss, ok)
	}
	// Another key: refused.
	other := isnKey
	other[0] ^= 0x80
	if _, ok := NewISNGenerator(other).CheckCookie(isnLocal, isnRemote, clientISN, c+1, t0); ok {
		t.Error("cookie accepted under another key")
	}
}

// TestTSOffset: the timestamp offset is a keyed function of the address
// pair, another hash than the ISN's and the ports'.
func TestTSOffset(t *testing.T) {
	g := NewISNGenerator(isnKey)
	l, r := isnLocal.Addr(), isnRemote.Addr()
	o := g.TSOffset(l, r)
	if o != g.TSOffset(l, r) {
		t.Fatal("TSOffset: not a function of the addresses")
	}
	for _, tc := range []struct{ local, remote netip.Addr }{
		{netip.MustParseAddr("192.0.2.2"), r},
		{l, netip.MustParseAddr("198.51.100.8")},
		{r, l},
	} {
		if g.TSOffset(tc.local, tc.remote) == o {
			t.Errorf("%v -> %v: the offset of %v -> %v", tc.local, tc.remote, l, r)
		}
	}
	other := isnKey
	other[0] ^= 1
	if NewISNGenerator(other).TSOffset(l, r) == o {
		t.Error("TSOffset unchanged by another key")
	}
	if o == g.EphemeralPortOffset(l, r, 0) || o == uint32(g.ISN(netip.AddrPortFrom(l, 0), netip.AddrPortFrom(r, 0), 0)) {
		t.Error("TSOffset is the port offset's or the ISN's hash")
	}
}
