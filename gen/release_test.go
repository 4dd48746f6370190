package gen_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
)

// TestReleaseStopped: a run stopped while it opened (its context done
// before Release: a control API's stop, a signal) never starts: Release
// fails, the senders return, and not a frame goes out.
func TestReleaseStopped(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	mac, err := ether.ParseAddr(l.B.MAC.String())
	if err != nil {
		t.Fatal(err)
	}
	po := port.DefaultOptions(l.A.Link)
	po.Netns = l.A.Name
	ctx, cancel := context.WithCancel(context.Background())
	g, err := gen.Open(ctx, gen.Config{Port: po, Batch: 64, Count: 1000,
		Spec: gen.Spec{Dst: netip.AddrPortFrom(l.B.Addr.Addr(), 9), DstMAC: mac}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cancel()
	if err := g.Release(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Release after a stop: %v, want context.Canceled", err)
	}
	select {
	case <-g.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the senders did not return")
	}
	if st := g.Stats(); st.Sent != 0 {
		t.Errorf("%d frames sent by a run stopped before it started", st.Sent)
	}
}
