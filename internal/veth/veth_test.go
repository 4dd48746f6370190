package veth_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/internal/veth"
	"github.com/vishvananda/netlink"
)

// TestPeerInNamedNetns: A's veth0 has its peer in B, a namespace named
// under /run/netns; PeerOf names it and TXChecksum reads its offload, on
// as the lab was asked to leave it, and off by the lab's default.
func TestPeerInNamedNetns(t *testing.T) {
	for _, on := range []bool{true, false} {
		l := lab.NewT(t, lab.Options{TxChecksumOffload: on})
		var p veth.Peer
		var txOn bool
		err := l.A.Do(func() (err error) {
			if p, err = veth.PeerOf(l.A.Link); err != nil {
				return err
			}
			txOn, err = p.TXChecksum()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Found() || p.Local || p.Netns != l.B.Name || p.Name != l.B.Link || p.Index != l.B.Index {
			t.Errorf("peer of %s: %+v, want %s (ifindex %d) in %s", l.A.Link, p, l.B.Link, l.B.Index, l.B.Name)
		}
		if txOn != on {
			t.Errorf("the peer's TX checksum offload: %v, want %v", txOn, on)
		}
		if want := "ip netns exec " + l.B.Name + " ethtool -K " + l.B.Link + " tx off"; p.TXOffCommand() != want {
			t.Errorf("command %q, want %q", p.TXOffCommand(), want)
		}
	}
}

// TestPeerLocal: both ends in one namespace; and lo is no veth.
func TestPeerLocal(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	attrs := netlink.NewLinkAttrs()
	attrs.Name = "vp0"
	err := l.A.Netlink(func(hd *netlink.Handle) error {
		return hd.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: "vp1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	var p veth.Peer
	var txOn bool
	var loErr error
	err = l.A.Do(func() (err error) {
		_, loErr = veth.PeerOf("lo")
		if p, err = veth.PeerOf("vp0"); err != nil {
			return err
		}
		txOn, err = p.TXChecksum()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Local || p.Name != "vp1" || p.Netns != "" || p.TXOffCommand() != "ethtool -K vp1 tx off" {
		t.Errorf("peer of vp0: %+v (%q)", p, p.TXOffCommand())
	}
	if !txOn {
		t.Error("a new veth's TX checksum offload is off; veth's default is on")
	}
	if !errors.Is(loErr, veth.ErrNotVeth) {
		t.Errorf("PeerOf(lo): %v, want ErrNotVeth", loErr)
	}
}

// TestPeerNotFound: a peer whose namespace has no name is described, and
// the command says what to run where.
func TestPeerNotFound(t *testing.T) {
	p := veth.Peer{Device: "veth0", Index: 7}
	if p.Found() || !strings.Contains(p.TXOffCommand(), "ethtool -K PEER tx off") || !strings.Contains(p.TXOffCommand(), "ifindex 7") {
		t.Errorf("%+v: %q", p, p.TXOffCommand())
	}
	if _, err := p.TXChecksum(); err == nil {
		t.Error("TXChecksum of a peer not found")
	}
}
