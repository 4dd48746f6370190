package stack

import (
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/internal/rss"
	"github.com/fastpathnet/fastpath/tcp"
)

// nullLink is a tcp.Link that takes every segment and sends nothing.
type nullLink struct{}

func (nullLink) Send(local, remote netip.AddrPort, f *tcp.Fields, o *tcp.Options, p1, p2 []byte) bool {
	return true
}

// TestRSSPorts: with a device's RSS known (here a made-up table of four
// queues with Microsoft's verification key), an engine's TCP host opens
// connections only from ports whose replies RSS puts on its queue.
func TestRSSPorts(t *testing.T) {
	tb := &rss.Table{Key: []byte{
		0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
		0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
		0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
	}, Indir: []uint32{0, 1, 2, 3, 0, 1, 2, 3}, Ports: true}
	local := netip.MustParseAddr("198.18.0.10")
	remote := netip.MustParseAddrPort("198.18.0.20:80")
	for queue := range 4 {
		cfg := tcp.DefaultConfig()
		cfg.ISNKey = [16]byte{1}
		cfg.PortFilter = rssPorts(tb, queue)
		h, err := tcp.NewHost(cfg, nullLink{})
		if err != nil {
			t.Fatal(err)
		}
		for range 50 {
			c, err := h.Dial(netip.AddrPortFrom(local, 0), remote, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			if q := tb.Queue(remote, c.LocalAddr()); q != queue {
				t.Fatalf("engine on queue %d opened from %v, whose replies RSS puts on queue %d", queue, c.LocalAddr(), q)
			}
		}
	}
}
