package main

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
)

// TestCountingPoints: the harness's counting points count what the
// receiver got, outside it. A probe is not counted while nothing receives
// (readiness fails); once an AF_XDP socket takes B's frames, B's redirect
// counter moves by exactly the frames on the socket's RX ring; once a
// kernel UDP socket is bound, Udp InDatagrams moves by exactly the
// datagrams it reads.
func TestCountingPoints(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	b := &bench{l: l, amac: macString(l.A.MAC), bmac: macString(l.B.MAC), readyIn: 500 * time.Millisecond}
	never := make(chan struct{})
	if err := b.ready(redirected(l.B), never); err == nil {
		t.Fatal("ready with no receiver in B")
	}

	// An AF_XDP socket on B's queue 0 behind the minimal redirect program.
	p, err := port.Open(port.Options{Device: l.B.Link, Netns: l.B.Name, Queues: []int{0}, Program: port.RedirectProgram, XSK: xsk.DefaultOptions()})
	if err != nil {
		t.Fatal(err)
	}
	c := redirected(l.B)
	b.readyIn = 5 * time.Second
	if err := b.ready(c, never); err != nil {
		t.Fatal(err)
	}
	sock := p.Queues[0].Sock
	descs := make([]rings.Desc, 64)
	drain := func() (n int) {
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			got := sock.Receive(descs)
			for _, d := range descs[:got] {
				sock.Frames.Free(d.Addr)
			}
			n += got
		}
		return n
	}
	drain()
	before, err := c()
	if err != nil {
		t.Fatal(err)
	}
	sendProbes(t, b, 100)
	got := drain()
	after, err := c()
	if err != nil {
		t.Fatal(err)
	}
	if after-before != 100 || got != 100 {
		t.Errorf("100 frames sent: the device counted %d redirected, the socket received %d", after-before, got)
	}
	p.Close()

	// The kernel: a UDP socket on B's port 9.
	var conn *net.UDPConn
	if err := l.B.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: l.B.Addr.Addr().AsSlice(), Port: 9})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The kernel counts a datagram when the socket's reader takes it
	// (udp_recvmsg), as the harness's kernel receiver does all along.
	var read atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
			read.Add(1)
		}
	}()
	k := udpDelivered(l.B)
	if err := b.ready(k, never); err != nil {
		t.Fatal(err)
	}
	// Counts settled: both still for 200 ms (ready's probes read).
	settled := func() (uint64, int64) {
		kb, _ := k()
		rb := read.Load()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			kn, _ := k()
			rn := read.Load()
			if kn == kb && rn == rb {
				break
			}
			kb, rb = kn, rn
		}
		return kb, rb
	}
	kb, rb := settled()
	sendProbes(t, b, 50)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ka, _ := k(); ka-kb >= 50 && read.Load()-rb >= 50 {
			break
		}
	}
	ka, ra := settled() // and no more than 50
	if got := ra - rb; ka-kb != 50 || got != 50 {
		t.Errorf("50 datagrams sent: UDP counted %d delivered, the socket read %d", ka-kb, got)
	}
}

// sendProbes sends n probe frames from A, 1 ms apart.
func sendProbes(t *testing.T, b *bench, n int) {
	t.Helper()
	frame, err := b.udpFrame(64)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.sendRaw(frame, n, time.Millisecond); err != nil {
		t.Fatal(err)
	}
}
