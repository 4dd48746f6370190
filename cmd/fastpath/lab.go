package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/ipv4"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newLabCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Build a veth lab in network namespaces and run fastpath in it",
	}
	cmd.AddCommand(newLabRunCommand())
	return cmd
}

type labRunFlags struct {
	size     int
	count    uint64
	duration time.Duration
	batch    int
	json     bool
}

func newLabRunCommand() *cobra.Command {
	var f labRunFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Send UDP from an AF_XDP socket in namespace A to the kernel in namespace B, then clean up",
		Long: `run builds two network namespaces joined by a veth pair, binds an AF_XDP
socket to queue 0 of A's end, sends UDP frames to a kernel UDP socket in B as
fast as it can, prints per-second rates on stderr and a summary at the end,
and removes the namespaces. Nothing outside the lab is touched.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return labRun(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntVar(&f.size, "size", 64, "Ethernet frame length including the 4-byte FCS, 64 to 1518")
	fl.Uint64Var(&f.count, "count", 0, "send exactly this many frames (0: until --duration)")
	fl.DurationVar(&f.duration, "duration", 5*time.Second, "how long to send")
	fl.IntVar(&f.batch, "batch", 64, "frames per TX batch, 1 to 2048")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	return cmd
}

// labResult is the summary, also printed with --json.
type labResult struct {
	Kernel        string  `json:"kernel"`
	Device        string  `json:"device"`
	Queue         int     `json:"queue"`
	Mode          string  `json:"mode"`
	XDPMode       string  `json:"xdp_mode"`
	FrameSize     int     `json:"frame_size"`
	SentPackets   uint64  `json:"sent_packets"`
	SentBytes     uint64  `json:"sent_bytes"`
	DurationS     float64 `json:"duration_s"`
	PPS           float64 `json:"pps"`
	BPS           float64 `json:"bps"`
	L1BPS         float64 `json:"l1_bps"`
	KernelRX      uint64  `json:"kernel_received"`
	KernelDrops   uint64  `json:"kernel_drops"`
	Kicks         uint64  `json:"kicks"`
	TXInvalid     uint64  `json:"tx_invalid_descs"`
	Errors        uint64  `json:"errors"`
	Interrupted   bool    `json:"interrupted"`
	ReceiverXDP   string  `json:"receiver"`
	SenderCores   int     `json:"cores"`
	LabNamespaces string  `json:"namespaces"`
}

func labRun(cmd *cobra.Command, f labRunFlags) error {
	if f.size < 64 || f.size > 1518 {
		return fmt.Errorf("--size %d: use an Ethernet frame length from 64 to 1518 (FCS included)", f.size)
	}
	if f.batch < 1 || f.batch > 2048 {
		return fmt.Errorf("--batch %d: use 1 to 2048", f.batch)
	}
	if f.duration <= 0 && f.count == 0 {
		return errors.New("--duration must be positive unless --count is given")
	}
	ctx := cmd.Context()
	stderr := cmd.ErrOrStderr()
	l, err := lab.New(lab.Options{})
	if err != nil {
		return fmt.Errorf("%w (the lab needs root: sudo fastpath lab run)", err)
	}
	defer l.Close()
	if err := l.B.AttachPass(); err != nil {
		return err
	}

	// The kernel's UDP socket in B, drained by a goroutine; its counters
	// come from B's /proc/net/snmp.
	var conn *net.UDPConn
	if err := l.B.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: l.B.Addr.Addr().AsSlice(), Port: 9})
		return err
	}); err != nil {
		return fmt.Errorf("lab: UDP socket in B: %w", err)
	}
	defer conn.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := conn.Read(buf); err != nil {
				return
			}
		}
	}()
	before, err := udpCounters(l.B)
	if err != nil {
		return err
	}

	opts := xsk.DefaultOptions()
	opts.RXSize = 0
	var s *xsk.Socket
	if err := l.A.Do(func() (err error) { s, err = xsk.New(l.A.Link, 0, opts); return err }); err != nil {
		return err
	}
	defer s.Close()

	// Every frame holds the same datagram: write it into each frame once,
	// then transmit descriptors only (as xdpsock's txonly does).
	tmpl := udpTemplate(l.A, l.B, f.size-4)
	u := s.UMEM()
	for i := uint32(0); i < u.FrameCount(); i++ {
		copy(u.Frame(uint64(i)*uint64(u.FrameSize())), tmpl)
	}

	info := s.Info()
	res := labResult{
		Kernel: kernelRelease(), Device: "A/" + info.Device, Queue: info.Queue, Mode: info.Mode.String(),
		XDPMode: "none (TX only)", FrameSize: f.size, ReceiverXDP: "B: native XDP_PASS (veth fast path)",
		SenderCores: 1, LabNamespaces: l.A.Name + " " + l.B.Name,
	}
	if !f.json {
		fmt.Fprintf(stderr, "lab %s <-> %s; AF_XDP socket on A/%s queue %d, %s mode; %d-byte frames to %s:9\n",
			l.A.Name, l.B.Name, info.Device, info.Queue, info.Mode, f.size, l.B.Addr.Addr())
	}

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	descs := make([]rings.Desc, f.batch)
	addrs := make([]uint64, f.batch)
	frameLen := uint32(len(tmpl))
	start := time.Now()
	end := start.Add(f.duration)
	nextTick, lastSent, lastRX := start.Add(time.Second), uint64(0), before.InDatagrams
	var sent uint64
	done := ctx.Done()
loop:
	for iter := 0; ; iter++ {
		s.Complete()
		want := uint64(f.batch)
		if f.count > 0 {
			want = min(want, f.count-sent)
		}
		n := s.Frames.AllocN(addrs[:want])
		for i := 0; i < n; i++ {
			descs[i] = rings.Desc{Addr: addrs[i], Len: frameLen}
		}
		put := s.Transmit(descs[:n])
		s.Frames.FreeN(addrs[put:n])
		sent += uint64(put)
		s.KickTX()
		if f.count > 0 && sent >= f.count {
			break
		}
		if iter%64 != 0 {
			continue
		}
		select {
		case <-done:
			res.Interrupted = true
			break loop
		default:
		}
		now := time.Now()
		if f.count == 0 && now.After(end) {
			break
		}
		if now.After(nextTick) {
			c, _ := udpCounters(l.B)
			if !f.json {
				fmt.Fprintf(stderr, "%6.1fs  tx %9.0f pps  kernel rx %9.0f pps  kicks %d\n",
					now.Sub(start).Seconds(), float64(sent-lastSent), float64(c.InDatagrams-lastRX), s.Counters().Kicks)
			}
			lastSent, lastRX = sent, c.InDatagrams
			nextTick = nextTick.Add(time.Second)
		}
	}
	elapsed := time.Since(start)
	// Drain: every transmitted frame completes (kicking, as copy mode needs).
	for deadline := time.Now().Add(2 * time.Second); s.Outstanding() > 0 && time.Now().Before(deadline); {
		s.KickTX()
		s.Complete()
	}
	time.Sleep(50 * time.Millisecond) // let B's softirq finish delivering
	after, err := udpCounters(l.B)
	if err != nil {
		return err
	}
	st, err := s.Stats()
	if err != nil {
		return err
	}
	res.SentPackets = st.Completed
	res.SentBytes = st.Completed * uint64(frameLen)
	res.DurationS = elapsed.Seconds()
	res.PPS = float64(res.SentPackets) / res.DurationS
	res.BPS = float64(res.SentBytes+4*res.SentPackets) * 8 / res.DurationS
	res.L1BPS = res.BPS + float64(res.SentPackets)*20*8/res.DurationS
	res.KernelRX = after.InDatagrams - before.InDatagrams
	// InErrors includes RcvbufErrors and InCsumErrors.
	res.KernelDrops = after.InErrors - before.InErrors
	res.Kicks = st.Kicks
	res.TXInvalid = st.TXInvalidDescs
	res.Errors = st.KickErrors + st.TXInvalidDescs + after.InCsumErrors - before.InCsumErrors
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	fmt.Fprintf(stderr, "sent %d frames of %d bytes in %.2fs: %.3f Mpps, %.1f Mbit/s (L1 %.1f Mbit/s)\n",
		res.SentPackets, f.size, res.DurationS, res.PPS/1e6, res.BPS/1e6, res.L1BPS/1e6)
	fmt.Fprintf(stderr, "kernel UDP socket in B received %d (%.1f%%), dropped %d; %d kicks, %d errors\n",
		res.KernelRX, 100*float64(res.KernelRX)/float64(max(res.SentPackets, 1)), res.KernelDrops, res.Kicks, res.Errors)
	fmt.Fprintf(stderr, "kernel %s, veth copy-mode AF_XDP, 1 queue, 1 sender core; lab removed\n", res.Kernel)
	return nil
}

// udpTemplate returns an Ethernet/IPv4/UDP frame of n bytes (FCS not
// included) from a to b's port 9, with both checksums.
func udpTemplate(a, b *lab.Host, n int) []byte {
	fr := make([]byte, n)
	ether.Encode(fr, ether.Addr(b.MAC), ether.Addr(a.MAC), ether.TypeIPv4)
	payload := n - ether.HeaderLen - ipv4.HeaderLen - ipv4.UDPHeaderLen
	h, _ := ipv4.Encode(fr[ether.HeaderLen:], ipv4.Fields{DontFragment: true, TTL: 64, Protocol: ipv4.ProtoUDP,
		Src: a.Addr.Addr(), Dst: b.Addr.Addr(), PayloadLen: ipv4.UDPHeaderLen + payload})
	u, _ := ipv4.EncodeUDP(h[ipv4.HeaderLen:], 1024, 9, payload)
	copy(u[ipv4.UDPHeaderLen:], "fastpath lab")
	u.SetChecksum(h.Src(), h.Dst())
	return fr
}

type udpStats struct{ InDatagrams, InErrors, RcvbufErrors, InCsumErrors uint64 }

// udpCounters reads the Udp counters of h's namespace.
func udpCounters(h *lab.Host) (udpStats, error) {
	m, err := h.SNMP("Udp")
	if err != nil {
		return udpStats{}, err
	}
	return udpStats{InDatagrams: m["InDatagrams"], InErrors: m["InErrors"], RcvbufErrors: m["RcvbufErrors"], InCsumErrors: m["InCsumErrors"]}, nil
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}
