package tcp_test

import (
	"fmt"
	"net/netip"

	"github.com/fastpathnet/fastpath/tcp"
)

// printLink is a Link that prints the segments a Host sends.
type printLink struct{}

func (printLink) Send(local, remote netip.AddrPort, f *tcp.Fields, o *tcp.Options, p1, p2 []byte) bool {
	fmt.Printf("%v -> %v %v", local, remote, f.Flags)
	if o != nil && o.MSS != 0 {
		fmt.Printf(" mss %d", o.MSS)
	}
	fmt.Println()
	return true
}

// A Host is one engine's TCP: give it a Link to send through and feed it
// segments with Input; it calls a Handler per connection. Here it opens a
// connection and the peer refuses it.
func ExampleNewHost() {
	cfg := tcp.DefaultConfig()
	cfg.ISNKey = [16]byte{1} // use crypto/rand
	h, err := tcp.NewHost(cfg, printLink{})
	if err != nil {
		panic(err)
	}
	local := netip.MustParseAddrPort("198.51.100.10:61000")
	remote := netip.MustParseAddrPort("198.51.100.7:80")
	now := int64(1e9) // time is the caller's: ns from any epoch
	c, _ := h.Dial(local, remote, nil, now)
	fmt.Println(c.State())

	// The peer answers RST|ACK.
	_, nxt, _ := c.Sequence()
	seg := make([]byte, tcp.HeaderLen)
	tcp.Encode(seg, tcp.Fields{SrcPort: 80, DstPort: 61000, Ack: nxt, Flags: tcp.FlagRST | tcp.FlagACK}, nil)
	tcp.Header(seg).SetChecksum(remote.Addr(), local.Addr())
	h.Input(remote.Addr(), local.Addr(), seg, now+1e6)
	fmt.Println(c.State(), c.Err())
	// Output:
	// 198.51.100.10:61000 -> 198.51.100.7:80 SYN mss 1460
	// SYN-SENT
	// CLOSED tcp: connection refused
}
