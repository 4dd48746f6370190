//go:build !race

package stack

import (
	"net/netip"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestWriteToNoAllocs: a steady stream of UDPConn writes allocates nothing,
// on the writer's side or the engine's (issue 15, item 9: WriteTo copied
// every datagram into a new slice). The kernel in B reads them.
func TestWriteToNoAllocs(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var conn *UDPConn
	startStack(t, l.A, nil, func(s *Stack) (err error) {
		conn, err = s.ListenUDP(4001, 64)
		return err
	})
	peer := listenUDP(t, l.B, 9)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	dst := netip.AddrPortFrom(l.B.Addr.Addr(), 9)
	payload := make([]byte, 512)
	write := func() {
		if _, err := conn.WriteToUDPAddrPort(payload, dst); err != nil {
			t.Fatal(err)
		}
	}
	for range 2000 { // ARP resolved, buffers in the pool
		write()
	}
	if n := testing.AllocsPerRun(2000, write); n != 0 {
		t.Errorf("WriteTo allocated %.2f times per datagram", n)
	}
}
