package stack

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/internal/rss"
	"github.com/fastpathnet/fastpath/tcp"
)

// nullLink is a tcp.Link that takes every segment and sends nothing.
type nullLink struct{}

func (nullLink) Send(local, remote netip.AddrPort, f *tcp.Fields, o *tcp.Options, p1, p2 []byte) bool {
	return true
}

// rssKeys are the keys TestPortShares hashes with: Microsoft's
// verification key (the default of DPDK's Intel drivers and of many
// NICs' firmware) and a 52-byte key like the random one Linux gives
// drivers (netdev_rss_key), drawn from a fixed seed.
func rssKeys() map[string][]byte {
	msft := []byte{
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
		0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
		0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
	}
	r := rand.New(rand.NewPCG(1, 2))
	linux := make([]byte, 52)
	for i := range linux {
		linux[i] = byte(r.Uint32())
	}
	return map[string][]byte{"microsoft": msft, "linux-random": linux}
}

// defaultIndir is the indirection table Linux drivers set by default
// (ethtool_rxfh_indir_default): entry i is queue i % n, 128 entries.
func defaultIndir(n int) []uint32 {
	t := make([]uint32, 128)
	for i := range t {
		t[i] = uint32(i % n)
	}
	return t
}

// TestPortShares: with the device's RSS known (Toeplitz, the default
// indirection table over 1, 2, 4 and 8 queues), each engine can open
// about 1/N of the ephemeral range to one destination, every one from a
// port whose replies RSS puts on the engine's own queue, and the engines'
// ports never overlap. Before, the port stride and the RSS filter
// combined to leave each engine about 1/N^2 of the range, after which it
// silently fell back to ports whose replies went to another queue.
func TestPortShares(t *testing.T) {
	local := netip.MustParseAddr("198.18.0.10")
	remote := netip.MustParseAddrPort("198.18.0.20:80")
	for name, key := range rssKeys() {
		for _, n := range []int{1, 2, 4, 8} {
			tb := &rss.Table{Key: key, Indir: defaultIndir(n), Toeplitz: true, Ports: true}
			queues := make([]int, n)
			for i := range queues {
				queues[i] = i
			}
			base := tcp.DefaultConfig()
			base.ISNKey = [16]byte{1}
			base.MaxConns = 1 << 16
			cfgs, sel := portShares(base, tb, "", queues)
			if sel != "rss" {
				t.Fatalf("%s, %d queues: selection %q, want rss", name, n, sel)
			}
			rangeLen := int(base.EphemeralHi-base.EphemeralLo) + 1
			used := map[uint16]int{}
			for q, cfg := range cfgs {
				h, err := tcp.NewHost(cfg, nullLink{})
				if err != nil {
					t.Fatal(err)
				}
				opened := 0
				for {
					c, err := h.Dial(netip.AddrPortFrom(local, 0), remote, nil, 0)
					if errors.Is(err, tcp.ErrNoPort) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					opened++
					p := c.LocalAddr().Port()
					if got := tb.Queue(remote, c.LocalAddr()); got != q {
						t.Fatalf("%s, %d queues: engine on queue %d opened from port %d, whose replies RSS puts on queue %d", name, n, q, p, got)
					}
					if other, dup := used[p]; dup {
						t.Fatalf("%s, %d queues: port %d taken by engines %d and %d", name, n, p, other, q)
					}
					used[p] = q
				}
				// About 1/N each: within 20 % of an even split.
				if want := rangeLen / n; opened < want*8/10 || opened > want*12/10 {
					t.Errorf("%s, %d queues: engine %d opened %d connections to one destination, want about %d (1/%d of %d ports)",
						name, n, q, opened, want, n, rangeLen)
				}
			}
			if len(used) != rangeLen {
				t.Errorf("%s, %d queues: the engines together opened %d of %d ports", name, n, len(used), rangeLen)
			}
		}
	}
}

// TestPortSharesFallback: where RSS cannot be computed, the engines split
// the range by port number (1/N each) and the stack says why; where some
// engines' queues are missing from the indirection table, it says which.
func TestPortSharesFallback(t *testing.T) {
	base := tcp.DefaultConfig()
	base.ISNKey = [16]byte{1}
	cfgs, sel := portShares(base, nil, "the device has one queue", []int{0, 1, 2})
	if sel != "stride: the device has one queue" {
		t.Errorf("selection %q", sel)
	}
	for i, c := range cfgs {
		if c.PortStride != 3 || c.PortIndex != i || c.PortFilter != nil {
			t.Errorf("engine %d: stride %d index %d filter %v", i, c.PortStride, c.PortIndex, c.PortFilter != nil)
		}
	}
	tb := &rss.Table{Key: rssKeys()["microsoft"], Indir: defaultIndir(2), Toeplitz: true, Ports: true}
	_, sel = portShares(base, tb, "", []int{0, 1, 2, 3})
	if !strings.HasPrefix(sel, "rss: queues [2 3] are not in the device's RSS indirection table") {
		t.Errorf("selection %q", sel)
	}
	base.PortFilter = func(local, remote netip.AddrPort) bool { return true }
	if _, sel = portShares(base, tb, "", []int{0, 1}); sel != "stride: the caller's port filter" {
		t.Errorf("selection %q", sel)
	}
}
