package ethtool_test

import (
	"errors"
	"testing"

	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/lab"
	"golang.org/x/sys/unix"
)

// TestOnVeth reads a lab veth's facts the way ethtool does: veth reports
// 10000 Mbit/s, its driver name and the queues the lab gave it.
func TestOnVeth(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	err := l.A.Do(func() error {
		speed, err := ethtool.LinkSpeed(l.A.Link)
		if err != nil {
			return err
		}
		if speed != 10000 {
			t.Errorf("LinkSpeed(%s) = %d, want veth's 10000", l.A.Link, speed)
		}
		drv, err := ethtool.Driver(l.A.Link)
		if err != nil {
			return err
		}
		if drv != "veth" {
			t.Errorf("Driver(%s) = %q", l.A.Link, drv)
		}
		rx, tx := ethtool.QueuesInUse(l.A.Link, 2, 2)
		if rx != 2 || tx != 2 {
			t.Errorf("QueuesInUse(%s) = %d, %d; want 2, 2", l.A.Link, rx, tx)
		}
		st, err := ethtool.Stats(l.A.Link)
		if err != nil {
			return err
		}
		if st["peer_ifindex"] != uint64(l.B.Index) {
			t.Errorf("Stats(%s): peer_ifindex %d, want B's %d (all: %v)", l.A.Link, st["peer_ifindex"], l.B.Index, st)
		}
		if _, ok := st["rx_queue_1_xdp_redirect"]; !ok {
			t.Errorf("Stats(%s): no rx_queue_1_xdp_redirect among %v", l.A.Link, st)
		}
		// The lab turns veth's TX checksum offload off.
		if on, err := ethtool.TXChecksum(l.A.Link); err != nil || on {
			t.Errorf("TXChecksum(%s) = %v, %v; want off", l.A.Link, on, err)
		}
		if _, err := ethtool.LinkSpeed("nosuchdev0"); !errors.Is(err, unix.ENODEV) {
			t.Errorf("LinkSpeed of a missing device: %v, want ENODEV", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
