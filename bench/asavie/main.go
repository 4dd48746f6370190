// Command asavie is the asavie/xdp v0.3.3 peer that bench measures fastpath
// against. It runs the library in two modes, like the kernel's xdpsock:
//
//	asavie txonly --dev IFACE [--queue Q] [--size N] [--batch B] [--duration D] [--count N]
//	              [--src-mac M] [--dst-mac M] [--src-ip A] [--dst-ip A] [--src-port P] [--dst-port P] [--core C]
//	asavie rxdrop --dev IFACE [--queue Q] [--batch B] [--duration D] [--count N] [--core C] [--xskmap-id ID] [--poll]
//
// and prints one JSON line on stdout at the end:
//
//	{"mode":"txonly","packets":N,"bytes":N,"duration_s":F,"pps":F,...}
//
// bytes counts frames without the FCS. Errors go to stderr with exit status 1
// (2 for a bad command line).
//
// txonly does not use asavie's examples/sendudp loop, which blocks in
// xsk.Poll(-1) after every Transmit and was reported to hang there (upstream
// issue #9, on 5.x kernels). On 6.18 poll drives copy-mode TX itself (the
// kernel sets the TX wakeup flag at bind), so that loop did not hang in a
// 40 s lab run; but Poll also dereferences the RX ring, so it crashes on a
// TX-only socket. Here every iteration reclaims completions without blocking
// (NumCompleted/Complete) and calls Transmit, which kicks (sendto) on every
// call, with an empty batch too: in copy mode the kick is what sends.
//
// rxdrop either loads and attaches asavie's own redirect program
// (NewProgram, Attach, Register) or, with --xskmap-id, leaves the device's
// XDP program alone and puts the socket into that program's XSKMAP at key
// --queue (the program must redirect on ctx->rx_queue_index).
package main

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/asavie/xdp"
	"github.com/cilium/ebpf"
	"github.com/fastpathnet/fastpath/port"
	"golang.org/x/sys/unix"
)

const (
	frameSize = 2048 // UMEM chunk: asavie supports aligned chunks only
	fcsLen    = 4
	hdrLen    = 14 + 20 + 8 // Ethernet + IPv4 + UDP
)

type options struct {
	mode     string
	dev      string
	queue    int
	size     int // frame length with FCS
	batch    int
	duration time.Duration
	durSet   bool // --duration given; without it --count alone ends the run
	count    uint64
	srcMAC   string
	dstMAC   string
	srcIP    string
	dstIP    string
	srcPort  uint
	dstPort  uint
	core     int
	frames   int
	ring     int
	fill     int // 0: ring
	xskmapID uint
	poll     bool
	budget   int
}

// result is the line printed on stdout.
type result struct {
	Mode      string  `json:"mode"`
	Packets   uint64  `json:"packets"`
	Bytes     uint64  `json:"bytes"`
	DurationS float64 `json:"duration_s"`
	PPS       float64 `json:"pps"`
	// rxdrop: first to last received batch, for a receiver that outlives
	// its sender.
	ActiveS   float64 `json:"active_s,omitempty"`
	ActivePPS float64 `json:"active_pps,omitempty"`
	Submitted uint64  `json:"submitted,omitempty"` // txonly: put on the TX ring
	Kicks     uint64  `json:"kicks,omitempty"`     // txonly: Transmit calls (one sendto each)
	Dev       string  `json:"dev"`
	Queue     int     `json:"queue"`
	Size      int     `json:"size,omitempty"`
	ZeroCopy  bool    `json:"zerocopy"`
	Core      int     `json:"core"`
	Program   string  `json:"program,omitempty"` // rxdrop: "asavie" or "xskmap:ID"
	Kernel    kstats  `json:"kernel_stats"`
}

type kstats struct {
	RxDropped       uint64 `json:"rx_dropped"`
	RxInvalid       uint64 `json:"rx_invalid_descs"`
	TxInvalid       uint64 `json:"tx_invalid_descs"`
	RxRingFull      uint64 `json:"rx_ring_full"`
	FillRingEmpty   uint64 `json:"rx_fill_ring_empty_descs"`
	TxRingEmptyDesc uint64 `json:"tx_ring_empty_descs"`
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: asavie txonly|rxdrop --dev IFACE [flags]\n")
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "txonly" && os.Args[1] != "rxdrop") {
		usage()
		fmt.Fprintf(os.Stderr, "asavie: the first argument must be txonly or rxdrop\n")
		os.Exit(2)
	}
	o := options{mode: os.Args[1]}
	fs := flag.NewFlagSet("asavie "+o.mode, flag.ContinueOnError)
	fs.StringVar(&o.dev, "dev", "", "network device (required)")
	fs.IntVar(&o.queue, "queue", 0, "queue to bind")
	fs.IntVar(&o.size, "size", 64, "txonly: frame length including the 4-byte FCS")
	fs.IntVar(&o.batch, "batch", 64, "descriptors per Transmit / most per Receive")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "run time (with --count alone: until the count)")
	fs.Uint64Var(&o.count, "count", 0, "stop after exactly this many packets (0: no limit)")
	fs.StringVar(&o.srcMAC, "src-mac", "", "txonly: source MAC (default: the device's)")
	fs.StringVar(&o.dstMAC, "dst-mac", "ff:ff:ff:ff:ff:ff", "txonly: destination MAC")
	fs.StringVar(&o.srcIP, "src-ip", "", "txonly: source IPv4 (default: the device's first IPv4, else 198.18.0.1)")
	fs.StringVar(&o.dstIP, "dst-ip", "198.18.0.2", "txonly: destination IPv4")
	fs.UintVar(&o.srcPort, "src-port", 9, "txonly: UDP source port")
	fs.UintVar(&o.dstPort, "dst-port", 9, "txonly: UDP destination port")
	fs.IntVar(&o.core, "core", -1, "pin the packet loop to this CPU (-1: no pinning)")
	fs.IntVar(&o.frames, "frames", 4096, "UMEM frames of 2048 bytes")
	fs.IntVar(&o.ring, "ring", 2048, "descriptors per ring (power of two)")
	fs.IntVar(&o.fill, "fill", 0, "fill ring descriptors (power of two; 0: --ring)")
	fs.UintVar(&o.xskmapID, "xskmap-id", 0, "rxdrop: put the socket into this existing XSKMAP (by map ID) instead of attaching asavie's program")
	fs.BoolVar(&o.poll, "poll", false, "rxdrop: block in xsk.Poll instead of spinning")
	fs.IntVar(&o.budget, "tx-budget", 0, "txonly: set XDP_MAX_TX_SKB_BUDGET, frames per copy-mode kick (0: kernel default, 32)")
	fs.Usage = func() { usage(); fs.PrintDefaults() }
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "duration" {
			o.durSet = true
		}
	})
	if err := o.check(); err != nil {
		fmt.Fprintf(os.Stderr, "asavie: %v\n", err)
		os.Exit(2)
	}

	var res result
	var err error
	if o.mode == "txonly" {
		res, err = txonly(&o)
	} else {
		res, err = rxdrop(&o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "asavie %s: %v\n", o.mode, err)
		os.Exit(1)
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

func (o *options) check() error {
	switch {
	case o.dev == "":
		return errors.New("--dev is required")
	case o.queue < 0:
		return errors.New("--queue must be >= 0")
	case o.batch < 1:
		return errors.New("--batch must be >= 1")
	case o.duration <= 0 && o.count == 0:
		return errors.New("--duration must be positive (or give --count)")
	case o.ring < 1 || o.ring&(o.ring-1) != 0:
		return fmt.Errorf("--ring %d: must be a power of two", o.ring)
	case o.fill < 0 || o.fill&(o.fill-1) != 0:
		return fmt.Errorf("--fill %d: must be a power of two (0: --ring)", o.fill)
	case o.frames < o.ring:
		return fmt.Errorf("--frames %d: must be at least --ring %d", o.frames, o.ring)
	case o.mode == "txonly" && (o.size-fcsLen < hdrLen || o.size-fcsLen > frameSize):
		return fmt.Errorf("--size %d: must be %d..%d (frame length with FCS)", o.size, hdrLen+fcsLen, frameSize+fcsLen)
	case o.srcPort > 65535 || o.dstPort > 65535:
		return errors.New("ports must be 0..65535")
	}
	if o.count > 0 && !o.durSet {
		o.duration = 0 // --count alone: run until the count
	}
	return nil
}

// stopOnSignal returns a flag that SIGINT or SIGTERM sets: the loop ends
// and the result is still printed.
func stopOnSignal() *atomic.Bool {
	var stop atomic.Bool
	c := make(chan os.Signal, 1)
	signal.Notify(c, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-c
		stop.Store(true)
	}()
	return &stop
}

// socket opens asavie's XDP socket on o.dev/o.queue.
func socket(o *options, rx, tx bool) (*xdp.Socket, *net.Interface, error) {
	ifc, err := net.InterfaceByName(o.dev)
	if err != nil {
		return nil, nil, fmt.Errorf("device %s: %w", o.dev, err)
	}
	so := xdp.SocketOptions{
		NumFrames:              o.frames,
		FrameSize:              frameSize,
		FillRingNumDescs:       cmp.Or(o.fill, o.ring),
		CompletionRingNumDescs: o.ring,
	}
	if rx {
		so.RxRingNumDescs = o.ring
	}
	if tx {
		so.TxRingNumDescs = o.ring
	}
	// asavie binds with DefaultSocketFlags (0): the kernel picks zero-copy
	// where the driver has it, copy mode otherwise (always on veth).
	//
	// The kernel frees a closed socket's binding to its queue in deferred
	// work, and only once the ring mappings are gone too (asavie's Close
	// never unmaps them, so that is at its process's exit): a peer
	// started right after another one on the same queue can get EBUSY
	// from bind. NewSocket wraps the errno into a string, so retry on
	// that text for a while.
	var xsk *xdp.Socket
	for wait := 2 * time.Second; ; {
		xsk, err = xdp.NewSocket(ifc.Index, o.queue, &so)
		if err == nil {
			return xsk, ifc, nil
		}
		if wait <= 0 || !strings.Contains(err.Error(), "Bind") || !strings.Contains(err.Error(), unix.EBUSY.Error()) {
			break
		}
		time.Sleep(50 * time.Millisecond)
		wait -= 50 * time.Millisecond
	}
	return nil, nil, fmt.Errorf("xdp.NewSocket %s queue %d: %w (the queue must exist, see ethtool -l %s; EBUSY: another AF_XDP socket holds it)", o.dev, o.queue, err, o.dev)
}

func zeroCopy(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_XDP, unix.XDP_OPTIONS)
	return err == nil && v&unix.XDP_OPTIONS_ZEROCOPY != 0
}

// kernelStats reads XDP_STATISTICS itself: asavie's Socket.Stats
// dereferences the RX ring, which a TX-only socket does not have.
func kernelStats(fd int) kstats {
	var s unix.XDPStatistics
	size := uint32(unsafe.Sizeof(s))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, unix.XDP_STATISTICS,
		uintptr(unsafe.Pointer(&s)), uintptr(unsafe.Pointer(&size)), 0)
	if errno != 0 {
		return kstats{}
	}
	return kstats{s.Rx_dropped, s.Rx_invalid_descs, s.Tx_invalid_descs, s.Rx_ring_full, s.Rx_fill_ring_empty_descs, s.Tx_ring_empty_descs}
}

// txonly sends the same UDP frame from every UMEM frame as fast as it can.
func txonly(o *options) (res result, err error) {
	src, dst, err := addresses(o)
	if err != nil {
		return res, err
	}
	xsk, ifc, err := socket(o, false, true)
	if err != nil {
		return res, err
	}
	defer xsk.Close()
	// Copy mode drops a longer frame (EOVERFLOW) yet completes it, so
	// it would be counted as sent.
	if max := ifc.MTU + 14; o.size-fcsLen > max {
		return res, fmt.Errorf("--size %d: %s has MTU %d, so frames are at most %d bytes with FCS", o.size, o.dev, ifc.MTU, max+fcsLen)
	}
	if o.budget > 0 {
		if err := unix.SetsockoptInt(xsk.FD(), unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, o.budget); err != nil {
			return res, fmt.Errorf("setsockopt XDP_MAX_TX_SKB_BUDGET %d: %w (needs Linux 6.16+)", o.budget, err)
		}
	}

	// Write the frame once into every UMEM frame: all frames are equal,
	// so whichever GetDescs hands out is ready to send.
	frameLen := o.size - fcsLen
	all := xsk.GetDescs(o.frames)
	for _, d := range all {
		buildUDP(xsk.GetFrame(d)[:frameLen], src, dst)
	}

	if err := port.Pin(o.core); err != nil {
		return res, err
	}
	stop := stopOnSignal()

	// Transmit panics on an unexpected sendto error; report it instead.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("xsk.Transmit: %v", p)
		}
	}()

	var submitted, completed, kicks uint64
	var deadline time.Time
	start := time.Now()
	if o.duration > 0 {
		deadline = start.Add(o.duration)
	}
	sending := true
	var drainBy time.Time
	for {
		// Reclaim completed frames without blocking (asavie's Poll
		// blocks, and needs an RX ring this socket does not have).
		if n := xsk.NumCompleted(); n > 0 {
			xsk.Complete(n)
			completed += uint64(n)
		}
		if sending && (stop.Load() ||
			(o.count > 0 && submitted >= o.count) ||
			(!deadline.IsZero() && !time.Now().Before(deadline))) {
			sending = false
			drainBy = time.Now().Add(time.Second)
		}
		if !sending {
			// Drain: keep kicking until the kernel has completed
			// everything on the TX ring.
			if xsk.NumTransmitted() == 0 || time.Now().After(drainBy) {
				break
			}
			xsk.Transmit(nil)
			kicks++
			continue
		}
		want := o.batch
		if free := xsk.NumFreeTxSlots(); want > free {
			want = free
		}
		if o.count > 0 && uint64(want) > o.count-submitted {
			want = int(o.count - submitted)
		}
		descs := xsk.GetDescs(want) // Len is the chunk size: set the frame's
		for i := range descs {
			descs[i].Len = uint32(frameLen)
		}
		// Transmit kicks (sendto) on every call, an empty batch too:
		// in copy mode that kick is what moves frames.
		submitted += uint64(xsk.Transmit(descs))
		kicks++
	}
	elapsed := time.Since(start)
	runtime.UnlockOSThread()

	res = result{
		Mode: "txonly", Packets: completed, Bytes: completed * uint64(frameLen),
		DurationS: elapsed.Seconds(), PPS: float64(completed) / elapsed.Seconds(),
		Submitted: submitted, Kicks: kicks,
		Dev: o.dev, Queue: o.queue, Size: o.size, ZeroCopy: zeroCopy(xsk.FD()), Core: o.core,
		Kernel: kernelStats(xsk.FD()),
	}
	if completed != submitted {
		return res, fmt.Errorf("%d frames submitted, %d completed after a second of draining", submitted, completed)
	}
	return res, nil
}

// rxdrop receives frames on o.dev/o.queue and drops them (the frames go
// straight back to the fill ring), counting packets and bytes.
func rxdrop(o *options) (res result, err error) {
	xsk, ifc, err := socket(o, true, false)
	if err != nil {
		return res, err
	}
	defer xsk.Close()

	// Hand every frame to the kernel before the socket can receive.
	xsk.Fill(xsk.GetDescs(xsk.NumFreeFillSlots()))

	var program string
	if o.xskmapID != 0 {
		m, err := ebpf.NewMapFromID(ebpf.MapID(o.xskmapID))
		if err != nil {
			return res, fmt.Errorf("XSKMAP id %d: %w (list maps with bpftool map show)", o.xskmapID, err)
		}
		defer m.Close()
		if m.Type() != ebpf.XSKMap {
			return res, fmt.Errorf("map id %d is a %v, not an XSKMAP", o.xskmapID, m.Type())
		}
		key := uint32(o.queue)
		if err := m.Put(key, uint32(xsk.FD())); err != nil {
			return res, fmt.Errorf("XSKMAP id %d: put socket at key %d: %w", o.xskmapID, key, err)
		}
		defer m.Delete(key)
		program = fmt.Sprintf("xskmap:%d", o.xskmapID)
	} else {
		p, err := xdp.NewProgram(o.queue + 1)
		if err != nil {
			return res, fmt.Errorf("%w (load your own redirect program and pass its XSKMAP with --xskmap-id)", err)
		}
		defer p.Close()
		if err := p.Attach(ifc.Index); err != nil {
			return res, fmt.Errorf("attach asavie's XDP program to %s: %w (or attach your own and pass --xskmap-id)", o.dev, err)
		}
		defer p.Detach(ifc.Index)
		if err := p.Register(o.queue, xsk.FD()); err != nil {
			return res, err
		}
		defer p.Unregister(o.queue)
		program = "asavie"
	}

	if err := port.Pin(o.core); err != nil {
		return res, err
	}
	stop := stopOnSignal()

	var packets, bytes uint64
	var first, last time.Time
	var deadline time.Time
	start := time.Now()
	if o.duration > 0 {
		deadline = start.Add(o.duration)
	}
	pollMs := 100
	for spins := 0; ; spins++ {
		var n int
		if o.poll {
			// asavie's Poll blocks for POLLIN while frames are on
			// the fill ring; the timeout lets the deadline end it.
			if n, _, err = xsk.Poll(pollMs); err != nil {
				return res, fmt.Errorf("xsk.Poll: %w", err)
			}
		} else {
			n = xsk.NumReceived()
		}
		if n == 0 {
			if o.poll || spins&1023 == 0 {
				if stop.Load() || (!deadline.IsZero() && !time.Now().Before(deadline)) {
					break
				}
			}
			continue
		}
		if n > o.batch {
			n = o.batch
		}
		if o.count > 0 && uint64(n) > o.count-packets {
			n = int(o.count - packets)
		}
		descs := xsk.Receive(n)
		for _, d := range descs {
			bytes += uint64(d.Len)
		}
		packets += uint64(len(descs))
		// Refill with the frames just received: they are free again.
		xsk.Fill(descs)

		now := time.Now()
		if first.IsZero() {
			first = now
		}
		last = now
		if (o.count > 0 && packets >= o.count) || stop.Load() || (!deadline.IsZero() && !now.Before(deadline)) {
			break
		}
	}
	elapsed := time.Since(start)
	runtime.UnlockOSThread()

	res = result{
		Mode: "rxdrop", Packets: packets, Bytes: bytes,
		DurationS: elapsed.Seconds(), PPS: float64(packets) / elapsed.Seconds(),
		Dev: o.dev, Queue: o.queue, ZeroCopy: zeroCopy(xsk.FD()), Core: o.core,
		Program: program, Kernel: kernelStats(xsk.FD()),
	}
	if active := last.Sub(first); active > 0 {
		res.ActiveS = active.Seconds()
		res.ActivePPS = float64(packets) / active.Seconds() // approximate: the first batch arrived before first
	}
	return res, nil
}

type endpoint struct {
	mac  net.HardwareAddr
	ip   netip.Addr
	port uint16
}

// addresses resolves the txonly frame's source and destination.
func addresses(o *options) (src, dst endpoint, err error) {
	ifc, err := net.InterfaceByName(o.dev)
	if err != nil {
		return src, dst, fmt.Errorf("device %s: %w", o.dev, err)
	}
	src.mac = ifc.HardwareAddr
	if o.srcMAC != "" {
		if src.mac, err = net.ParseMAC(o.srcMAC); err != nil {
			return src, dst, fmt.Errorf("--src-mac: %w", err)
		}
	}
	if len(src.mac) != 6 {
		return src, dst, fmt.Errorf("%s has no Ethernet address: give --src-mac", o.dev)
	}
	if dst.mac, err = net.ParseMAC(o.dstMAC); err != nil || len(dst.mac) != 6 {
		return src, dst, fmt.Errorf("--dst-mac %q: not an Ethernet address", o.dstMAC)
	}
	if o.srcIP != "" {
		if src.ip, err = netip.ParseAddr(o.srcIP); err != nil || !src.ip.Is4() {
			return src, dst, fmt.Errorf("--src-ip %q: not an IPv4 address", o.srcIP)
		}
	} else {
		src.ip = netip.MustParseAddr("198.18.0.1")
		if addrs, err := ifc.Addrs(); err == nil {
			for _, a := range addrs {
				if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
					src.ip = p.Addr()
					break
				}
			}
		}
	}
	if dst.ip, err = netip.ParseAddr(o.dstIP); err != nil || !dst.ip.Is4() {
		return src, dst, fmt.Errorf("--dst-ip %q: not an IPv4 address", o.dstIP)
	}
	src.port, dst.port = uint16(o.srcPort), uint16(o.dstPort)
	return src, dst, nil
}

// buildUDP writes an Ethernet/IPv4/UDP frame filling all of f, with both
// checksums set. The payload is a counting pattern.
func buildUDP(f []byte, src, dst endpoint) {
	copy(f[0:6], dst.mac)
	copy(f[6:12], src.mac)
	binary.BigEndian.PutUint16(f[12:14], 0x0800)

	ip := f[14:34]
	ip[0] = 0x45 // version 4, IHL 5
	ip[1] = 0
	binary.BigEndian.PutUint16(ip[2:4], uint16(len(f)-14))
	binary.BigEndian.PutUint16(ip[4:6], 0)      // ID
	binary.BigEndian.PutUint16(ip[6:8], 0x4000) // DF
	ip[8] = 64                                  // TTL
	ip[9] = 17                                  // UDP
	ip[10], ip[11] = 0, 0
	s4, d4 := src.ip.As4(), dst.ip.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:12], ^fold(sum(ip, 0)))

	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:2], src.port)
	binary.BigEndian.PutUint16(udp[2:4], dst.port)
	binary.BigEndian.PutUint16(udp[4:6], uint16(len(udp)))
	udp[6], udp[7] = 0, 0
	for i := range udp[8:] {
		udp[8+i] = byte(i)
	}
	// RFC 768: pseudo-header (src, dst, zero, protocol, UDP length).
	ps := sum(ip[12:20], 17+uint32(len(udp)))
	c := ^fold(sum(udp, ps))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(udp[6:8], c)
}

// sum adds b as big-endian 16-bit words to acc (RFC 1071).
func sum(b []byte, acc uint32) uint32 {
	for len(b) >= 2 {
		acc += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint32(b[0]) << 8
	}
	return acc
}

func fold(acc uint32) uint16 {
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}
