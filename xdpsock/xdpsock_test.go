package xdpsock_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/xdpsock"
)

// TestReceiveLoops: gen on A sends a count of frames to B; rxdrop on B
// counts each one, and l2fwd counts each one and sends each back (A's
// kernel sees them come in). At 20,000 a second: B's 2,048 RX slots hold
// 100 ms, which a busy package beside this one may take from its loop.
func TestReceiveLoops(t *testing.T) {
	for _, b := range []xdpsock.Bench{xdpsock.RXDrop, xdpsock.L2Fwd} {
		for _, prog := range []port.Program{port.RedirectProgram, port.SteeringProgram} {
			t.Run(string(b)+"/"+prog.String(), func(t *testing.T) {
				l := lab.NewT(t, lab.Options{})
				po := port.DefaultOptions(l.B.Link)
				po.Netns, po.Program = l.B.Name, prog
				r, err := xdpsock.Start(context.Background(), xdpsock.Config{Bench: b, Port: po, Batch: 64})
				if err != nil {
					t.Fatal(err)
				}
				const count = 10_000
				back, err := l.A.LinkStats()
				if err != nil {
					r.Stop(true)
					t.Fatal(err)
				}
				ga := port.DefaultOptions(l.A.Link)
				ga.Netns = l.A.Name
				g, err := gen.Start(context.Background(), gen.Config{Port: ga, Batch: 64, Count: count, Rate: gen.Rate{Value: 20_000},
					Spec: gen.Spec{Dst: netip.AddrPortFrom(l.B.Addr.Addr(), 9), DstMAC: [6]byte(l.B.MAC), Sizes: []gen.SizeWeight{{Size: 64, Weight: 1}}}})
				if err != nil {
					r.Stop(true)
					t.Fatal(err)
				}
				<-g.Done()
				g.Close()
				// Until B counted every frame and, for l2fwd, A's kernel
				// received every one sent back (so B's sends completed).
				for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					p, _ := r.Totals()
					st, err := l.A.LinkStats()
					if err != nil {
						r.Stop(true)
						t.Fatal(err)
					}
					if p >= count && (b != xdpsock.L2Fwd || st.RxPackets-back.RxPackets >= count) {
						break
					}
				}
				res, err := r.Stop(false)
				if err != nil {
					t.Fatal(err)
				}
				if res.Packets != count || res.Bytes != count*60 || len(res.Queues) != 1 || res.Mode != "copy" || res.XDPMode != "native" {
					t.Errorf("%+v: want %d frames of 60 bytes on one queue", res, count)
				}
				if want := map[xdpsock.Bench]uint64{xdpsock.RXDrop: 0, xdpsock.L2Fwd: count}[b]; res.Sent != want {
					t.Errorf("sent back %d, want %d", res.Sent, want)
				}
			})
		}
	}
}

// TestTXOnly: txonly counts the frames it sent as they complete.
func TestTXOnly(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	po := port.DefaultOptions(l.A.Link)
	po.Netns = l.A.Name
	r, err := xdpsock.Start(context.Background(), xdpsock.Config{Bench: xdpsock.TXOnly, Port: po, Batch: 64, Size: 128,
		Dst: netip.AddrPortFrom(l.B.Addr.Addr(), 9)})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Pause(false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	res, err := r.Stop(true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Packets == 0 || res.Bytes != res.Packets*124 || res.XDPMode != "none (TX only)" || !res.Interrupted || res.PPS <= 0 {
		t.Errorf("txonly: %+v", res)
	}
}

// TestConfigErrors: a bad configuration fails before anything is opened.
func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]xdpsock.Config{
		"unknown bench": {Bench: "rxfwd", Batch: 64, Port: port.DefaultOptions("x")},
		"batch 0":       {Bench: xdpsock.RXDrop, Batch: 0, Port: port.Options{Device: "x", Program: port.RedirectProgram}},
		"no program":    {Bench: xdpsock.L2Fwd, Batch: 64, Port: port.DefaultOptions("x")},
	} {
		if c.Port.XSK.RXSize == 0 && name == "batch 0" {
			c.Port.XSK = port.DefaultOptions("x").XSK
		}
		if _, err := xdpsock.Start(context.Background(), c); !errors.Is(err, xdpsock.ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}
