package gen_test

import (
	"fmt"
	"net/netip"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
)

// A generator's frames: one template per size, flows varied by source
// port, checksums updated incrementally.
func ExampleNewBuilder() {
	b, err := gen.NewBuilder(gen.Spec{
		SrcMAC:   ether.Addr{0x02, 0, 0, 0, 0, 1},
		DstMAC:   ether.Addr{0x02, 0, 0, 0, 0, 2},
		Src:      netip.MustParseAddrPort("198.18.0.1:1024"),
		Dst:      netip.MustParseAddrPort("198.18.0.2:9"),
		SrcPorts: gen.Range[uint16]{Lo: 1024, Hi: 1027},
		Sizes:    []gen.SizeWeight{{Size: 64, Weight: 1}},
	}, 0)
	if err != nil {
		panic(err)
	}
	frame := make([]byte, 2048)
	for i := 0; i < 3; i++ {
		n := b.Next(frame, 0)
		fmt.Println(n, "bytes, source port", int(frame[34])<<8|int(frame[35]))
	}
	fmt.Println(b.Flows(), "flows")
	// Output:
	// 60 bytes, source port 1024
	// 60 bytes, source port 1025
	// 60 bytes, source port 1026
	// 4 flows
}
