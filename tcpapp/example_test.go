package tcpapp_test

import (
	"fmt"
	"log"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
)

// Echo, discard and HTTP servers on every engine of a stack that shares
// eth1's addresses with the kernel (shared mode: the engines take only
// these ports and the ephemeral range).
//
// Not run: it needs a device (eth1), root, and serves until stopped.
func ExampleListenEcho() {
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Shared, cfg.ImportRoutes = "eth1", true, true
	st, err := stack.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.EnableTCP(tcp.DefaultConfig()); err != nil {
		log.Fatal(err)
	}
	for _, listen := range []func() error{
		func() error { return tcpapp.ListenEcho(st, 7) },
		func() error { return tcpapp.ListenDiscard(st, 9) },
		func() error { return tcpapp.ListenHTTP(st, 8080, "hello\n") },
	} {
		if err := listen(); err != nil {
			log.Fatal(err)
		}
	}
	if err := st.Start(); err != nil {
		log.Fatal(err)
	}
	<-st.Done()
}

// HTTP responders behind an accept function of one's own: one per
// engine (each is used on its engine's goroutine only), chosen by the
// engine the connection arrived on.
//
// Not run: it needs a stack on a device.
func ExampleNewHTTP() {
	var st *stack.Stack // New and EnableTCP as above
	per := map[*stack.Engine]*tcpapp.HTTP{}
	for _, e := range st.Engines() {
		per[e] = tcpapp.NewHTTP(e, `{"status":"ok"}`)
	}
	err := st.ListenTCPFunc(80, func(e *stack.Engine, _ *tcp.Conn) tcp.Handler {
		return per[e] // on e's goroutine: pick, do not block
	})
	if err != nil {
		log.Fatal(err)
	}
}

// Eight connections of 1 GB each, spread over the engines, with the
// goodput printed as the bytes are acknowledged.
//
// Not run: it needs a started stack and a receiver.
func ExampleSender() {
	var st *stack.Stack // New, EnableTCP and Start as above
	dst := netip.MustParseAddrPort("198.51.100.7:5201")
	const conns = 8
	var acked atomic.Int64
	done := make(chan tcpapp.SenderResult, conns)
	engines := st.Engines()
	for i := range conns {
		s := tcpapp.NewSender(engines[i%len(engines)], tcpapp.SenderConfig{Bytes: 1 << 30, Acked: &acked, Done: done})
		for s.Dial(dst) != nil {
			time.Sleep(time.Millisecond) // the engine's command queue is full
		}
	}
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for finished := 0; finished < conns; {
		select {
		case r := <-done:
			finished++
			fmt.Println("connection done:", r.Bytes, "bytes acknowledged, srtt", time.Duration(r.SRTT), "error", r.Err)
		case <-tick.C:
			fmt.Printf("%.0f bit/s\n", float64(acked.Load())*8/time.Since(start).Seconds())
		}
	}
}

// Request/response servers for a load generator: on port 9000, requests
// of 100 bytes each answered with 1,000 bytes (netperf's TCP_RR sizes);
// on port 8080, HTTP responses with 1 MiB bodies, streamed.
//
// Not run: it needs a stack on a device.
func ExampleListenRR() {
	var st *stack.Stack // New and EnableTCP as above; Start after
	if err := tcpapp.ListenRR(st, 9000, tcpapp.RRConfig{RequestSize: 100, ResponseSize: 1000}); err != nil {
		log.Fatal(err)
	}
	if err := tcpapp.ListenHTTPPattern(st, 8080, 1<<20); err != nil {
		log.Fatal(err)
	}
}
