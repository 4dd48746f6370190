package rss

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// msKey is the key of Microsoft's RSS verification suite (also in the
// 82599 datasheet, 7.1.2.8.3).
var msKey = []byte{
	0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
	0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
	0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
}

// TestToeplitz: the suite's IPv4 cases, addresses only and with ports.
func TestToeplitz(t *testing.T) {
	for _, c := range []struct {
		src, dst   string
		ip, ipPort uint32
	}{
		{"66.9.149.187:2794", "161.142.100.80:1766", 0x323e8fc2, 0x51ccc178},
		{"199.92.111.2:14230", "65.69.140.83:4739", 0xd718262a, 0xc626b0ea},
		{"24.19.198.95:12898", "12.22.207.184:38024", 0xd2d0a5de, 0x5c2b394a},
		{"38.27.205.30:48228", "209.142.163.6:2217", 0x82989176, 0xafc7327f},
		{"153.39.163.191:44251", "202.188.127.2:1303", 0x5d1809c5, 0x10e828a2},
	} {
		in := TCP4(netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst))
		if h := Toeplitz(msKey, in[:8]); h != c.ip {
			t.Errorf("%s -> %s addresses: %#08x, want %#08x", c.src, c.dst, h, c.ip)
		}
		if h := Toeplitz(msKey, in[:]); h != c.ipPort {
			t.Errorf("%s -> %s 4-tuple: %#08x, want %#08x", c.src, c.dst, h, c.ipPort)
		}
	}
}

// TestToeplitz6: the suite's IPv6 cases, addresses only and with ports.
func TestToeplitz6(t *testing.T) {
	for _, c := range []struct {
		src, dst   string
		ip, ipPort uint32
	}{
		{"[3ffe:2501:200:1fff::7]:2794", "[3ffe:2501:200:3::1]:1766", 0x2cc18cd5, 0x40207d3d},
		{"[3ffe:501:8::260:97ff:fe40:efab]:14230", "[ff02::1]:4739", 0x0f0c461c, 0xdde51bbf},
		{"[3ffe:1900:4545:3:200:f8ff:fe21:67cf]:44251", "[fe80::200:f8ff:fe21:67cf]:38024", 0x4b61e985, 0x02d1feef},
	} {
		in := TCP6(netip.MustParseAddrPort(c.src), netip.MustParseAddrPort(c.dst))
		if h := Toeplitz(msKey, in[:32]); h != c.ip {
			t.Errorf("%s -> %s addresses: %#08x, want %#08x", c.src, c.dst, h, c.ip)
		}
		if h := Toeplitz(msKey, in[:]); h != c.ipPort {
			t.Errorf("%s -> %s 4-tuple: %#08x, want %#08x", c.src, c.dst, h, c.ipPort)
		}
	}
	tb := &Table{Key: msKey, Indir: []uint32{0, 1, 2, 3}, Toeplitz: true, Ports6: true}
	if !tb.Computable6() || (&Table{Key: msKey[:16], Toeplitz: true, Ports6: true}).Computable6() {
		t.Error("Computable6: wrong for a 40-byte key or a 16-byte one")
	}
	if q := tb.Queue(netip.MustParseAddrPort("[3ffe:2501:200:1fff::7]:2794"), netip.MustParseAddrPort("[3ffe:2501:200:3::1]:1766")); q != int(0x40207d3d%4) {
		t.Errorf("IPv6 queue %d, want %d", q, 0x40207d3d%4)
	}
}

// TestQueue: the indirection table maps hash % size to a queue.
func TestQueue(t *testing.T) {
	tb := &Table{Key: msKey, Indir: []uint32{0, 1, 2, 3}, Ports: true}
	src, dst := netip.MustParseAddrPort("66.9.149.187:2794"), netip.MustParseAddrPort("161.142.100.80:1766")
	if q := tb.Queue(src, dst); q != int(0x51ccc178%4) {
		t.Fatalf("queue %d, want %d", q, 0x51ccc178%4)
	}
	// Every queue gets some of 1,000 source ports.
	seen := map[int]int{}
	for p := uint16(40000); p < 41000; p++ {
		seen[tb.Queue(netip.AddrPortFrom(src.Addr(), p), dst)]++
	}
	if len(seen) != 4 {
		t.Fatalf("queues reached: %v", seen)
	}
}

// TestReadVeth: veth has no RSS table; Read says so.
func TestReadVeth(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	err := l.A.Do(func() error {
		_, err := Read(l.A.Link)
		return err
	})
	if !errors.Is(err, ErrUnknown) {
		t.Fatalf("Read(veth): %v, want ErrUnknown", err)
	}
}

func BenchmarkToeplitz(b *testing.B) {
	in := TCP4(netip.MustParseAddrPort("66.9.149.187:2794"), netip.MustParseAddrPort("161.142.100.80:1766"))
	b.ReportAllocs()
	for b.Loop() {
		Toeplitz(msKey, in[:])
	}
}

func TestTableQueues(t *testing.T) {
	tb := &Table{Indir: []uint32{3, 1, 3, 0, 1}}
	if q := tb.Queues(); !slices.Equal(q, []int{0, 1, 3}) || tb.Computable() {
		t.Fatalf("queues %v, computable %v", q, tb.Computable())
	}
	tb.Toeplitz, tb.Ports = true, true
	if !tb.Computable() {
		t.Fatal("Toeplitz over the 4-tuple not computable")
	}
}
