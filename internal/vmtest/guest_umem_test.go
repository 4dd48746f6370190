//go:build vmguest

package vmtest

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/fastpathnet/fastpath/xsk"
)

// udpFrame writes an Ethernet/IPv4/UDP frame from A to B's port 9 with
// an 18-byte payload into b and returns its length. The UDP checksum is 0
// (none, RFC 768); B's kernel checks the IPv4 one.
func udpFrame(b []byte, l *lab.Lab, sport uint16) int {
	copy(b[0:6], l.B.MAC)
	copy(b[6:12], l.A.MAC)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	clear(ip)
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_UDP
	binary.BigEndian.PutUint16(ip[2:], 20+8+18)
	copy(ip[12:16], l.A.Addr.Addr().AsSlice())
	copy(ip[16:20], l.B.Addr.Addr().AsSlice())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	udp := b[34:42]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], 8+18)
	binary.BigEndian.PutUint16(udp[6:], 0)
	copy(b[42:60], "fastpath hugepages")
	return 60
}

// TestHugePagesSharedUMEM: one UMEM backed by 2 MiB huge pages (the
// guest's vm.nr_hugepages set for it) is shared by zero-copy sockets on
// the four queues of a virtio-net NIC, each with its own part of the
// frames and its own fill and completion rings; every queue sends 1,000
// datagrams, B's kernel receives all 4,000, and every frame comes back to
// the allocator it left.
func TestHugePagesSharedUMEM(t *testing.T) {
	l := nicLab(t, mqNICA, mqNICB)
	sh(t, l.A, "ethtool -L "+l.A.Link+" combined 4")
	sh(t, nil, "echo 32 > /proc/sys/vm/nr_hugepages")
	defer sh(t, nil, "echo 0 > /proc/sys/vm/nr_hugepages")
	const queues, perQueue = 4, 1000

	var conn *net.UDPConn
	err := l.B.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: l.B.Addr.Addr().AsSlice(), Port: 9})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var got atomic.Uint64
	go func() {
		buf := make([]byte, 2048)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n == 18 {
				got.Add(1)
			}
		}
	}()

	uo := umem.DefaultOptions()
	uo.HugePages, uo.FrameCount = true, 4096
	u, err := umem.New(uo)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if !u.HugePages() {
		t.Fatal("the UMEM is not on huge pages although vm.nr_hugepages was set")
	}
	var socks [queues]*xsk.Socket
	err = l.A.Do(func() error {
		for q := range socks {
			o := xsk.DefaultOptions()
			o.RXSize, o.Mode, o.UMEM = 0, xsk.ModeZeroCopy, u
			var err error
			if o.Frames, err = u.Allocator(uint32(q)*1024, 1024); err != nil {
				return err
			}
			if socks[q], err = xsk.New(l.A.Link, q, o); err != nil {
				return err
			}
		}
		return nil
	})
	for _, s := range socks {
		if s != nil {
			defer s.Close()
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for q, s := range socks {
		info := s.Info()
		if info.Mode != xsk.ModeZeroCopy || info.SharedUMEM != (q > 0) || !info.HugePages {
			t.Fatalf("queue %d: %+v", q, info)
		}
	}
	descs := make([]rings.Desc, 32)
	addrs := make([]uint64, 32)
	for q, s := range socks {
		base := uint64(q * perQueue)
		sent := uint64(0)
		deadline := time.Now().Add(60 * time.Second)
		for sent < perQueue || s.Outstanding() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("queue %d: sent %d, outstanding %d, B received %d", q, sent, s.Outstanding(), got.Load())
			}
			s.Complete()
			// A window of 128 ahead of what B received: its queues hold it.
			n := min(uint64(len(descs)), perQueue-sent)
			if ahead := base + sent - got.Load(); ahead+n > 128 {
				n = 128 - min(128, ahead)
			}
			n = uint64(s.Frames.AllocN(addrs[:n]))
			for i := range n {
				descs[i] = rings.Desc{Addr: addrs[i], Len: uint32(udpFrame(u.Frame(addrs[i]), l, uint16(1000+q)))}
			}
			put := s.Transmit(descs[:n])
			s.Frames.FreeN(addrs[put:n])
			sent += uint64(put)
			s.KickTX()
			if n == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		if s.Frames.Len() != s.Frames.Cap() {
			t.Errorf("queue %d: %d of %d frames back", q, s.Frames.Len(), s.Frames.Cap())
		}
	}
	for i := 0; got.Load() < queues*perQueue && i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if n := got.Load(); n != queues*perQueue {
		t.Errorf("B received %d of %d datagrams", n, queues*perQueue)
	}
	t.Logf("huge pages %v, %d queues share one UMEM in zero-copy", u.HugePages(), queues)
}
