// Command bench measures fastpath against its peers side by side in a
// veth lab it builds and removes itself: a C program on libxdp's xsk.h
// (bench/c), asavie/xdp v0.3.3 (bench/asavie), and the kernel's UDP
// sockets (sendmmsg, recvmmsg). Every system runs on the same topology in
// the same run, the order rotating each round, and the report gives
// medians and the ratio of fastpath to each peer, as a Markdown table, a
// JSON file and a plot of packets per second by frame size.
//
//	make bench                      # builds everything, then:
//	go run ./bench -out bench/results/$(date +%F)
//
// txonly: the system sends from A as fast as it can; B drops every frame in
// XDP (fastpath's steering program, default action drop) and counts it, so
// the figure is what arrived at the far end. rxdrop: the kernel's XDP
// live-frame sender sends from A; the system receives in B and drops.
// Senders run on core 0, receivers on core 1.
//
// Fair by construction: every system is counted at the same point outside
// it (count.go), its own figure kept beside; every AF_XDP system gets the
// same ring and UMEM sizes (-depths, which can also measure each system's
// own defaults); every receiver's readiness is a probe frame it counted;
// a failed sample is listed with its reason.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/steering"
	"golang.org/x/sys/unix"
)

type options struct {
	sizes    []int
	reps     int
	duration time.Duration
	systems  []string
	modes    []string
	bin      string
	out      string
	rxSender string // rxdrop's sender: xdp or fastpath
	// devices, when set, are two NICs wired back to back that the lab
	// takes instead of a veth pair (lab.Options.Devices): the VM lab's
	// virtio-net (make bench-vm).
	devices [2]string
	xskMode string // auto, copy or zerocopy: every AF_XDP system binds so
	// depths are the ring and UMEM sizes every AF_XDP system is given, one
	// configuration after another within each round.
	depths []depth
}

// depth is one configuration of ring and UMEM sizes: the same for every
// AF_XDP system (RX, TX and completion rings, fill ring, frames per
// queue), or, named "own", each system's own defaults (what the harness
// measured before it passed them).
type depth struct {
	Name               string
	Ring, Fill, Frames int
}

// parseDepths reads -depths: a list of RING/FILL/FRAMES and "own".
func parseDepths(s string) ([]depth, error) {
	var ds []depth
	for _, f := range strings.Split(s, ",") {
		if f == "own" {
			ds = append(ds, depth{Name: "own"})
			continue
		}
		var d depth
		if n, err := fmt.Sscanf(f, "%d/%d/%d", &d.Ring, &d.Fill, &d.Frames); n != 3 || err != nil ||
			d.Ring < 64 || d.Ring&(d.Ring-1) != 0 || d.Fill < d.Frames || d.Fill&(d.Fill-1) != 0 || d.Frames < d.Ring {
			return nil, fmt.Errorf("-depths %q: give RING/FILL/FRAMES (powers of two for the rings; FILL at least FRAMES, which the C reference's rxdrop needs, and FRAMES at least RING), or own", s)
		}
		d.Name = f
		ds = append(ds, d)
	}
	return ds, nil
}

// args are the flags that give a system d's sizes (none for "own").
func (d depth) args() []string {
	if d.Name == "own" {
		return nil
	}
	return []string{"--ring", strconv.Itoa(d.Ring), "--fill", strconv.Itoa(d.Fill), "--frames", strconv.Itoa(d.Frames)}
}

// sample is one measurement.
type sample struct {
	Mode   string  `json:"mode"`
	System string  `json:"system"`
	Size   int     `json:"size"`
	Round  int     `json:"round"`
	Depths string  `json:"depths"` // ring/fill/frames, or own
	PPS    float64 `json:"pps"`    // counted outside the system (count.go)
	// OwnPPS is the system's own figure: what a txonly sender says it
	// sent per second; what an rxdrop receiver or l2fwd says it received
	// or sent back, divided by the sender's time (what the harness
	// reported before it counted at the device).
	OwnPPS float64 `json:"own_pps,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// environment says what the figures were measured on.
type environment struct {
	Date     string `json:"date"`
	Kernel   string `json:"kernel"`
	CPU      string `json:"cpu"`
	CPUs     int    `json:"cpus"`
	Topology string `json:"topology"`
	Mode     string `json:"mode"`
	Pinning  string `json:"pinning"`
	Duration string `json:"duration_per_sample"`
	Rounds   int    `json:"rounds"`
	Counting string `json:"counting"`
}

// rxSenderText says what -rx-sender means, for the environment line.
var rxSenderText = map[string]string{
	"xdp":      "the kernel's XDP live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES)",
	"fastpath": "fastpath's txonly",
}

func main() {
	var o options
	var sizes, systems, modes, depths string
	flag.StringVar(&sizes, "sizes", "64,128,256,512,1024,1518", "frame sizes with FCS")
	flag.IntVar(&o.reps, "rounds", 3, "rounds: every system once per size each round, in rotating order")
	flag.DurationVar(&o.duration, "duration", 2*time.Second, "length of each sample")
	flag.StringVar(&systems, "systems", "fastpath,sink,c,asavie,kernel", "systems to measure (sink: rxdrop only)")
	flag.StringVar(&modes, "modes", "txonly,rxdrop,l2fwd", "modes to measure (l2fwd: fastpath only)")
	flag.StringVar(&o.bin, "bin", "bin", "directory holding fastpath, xskref and asavie")
	flag.StringVar(&o.rxSender, "rx-sender", "xdp", "rxdrop's sender in A: xdp (the kernel's XDP live-frame mode, faster than any receiver) or fastpath (its txonly)")
	flag.StringVar(&o.out, "out", "", "directory for results.md, results.json and the plots (default: print only)")
	var devices string
	flag.StringVar(&devices, "devices", "", "two NICs wired back to back, A,B, to measure instead of a veth pair (inside the VM lab: eth0,eth1)")
	flag.StringVar(&o.xskMode, "xsk-mode", "auto", "AF_XDP bind mode for every system: auto, copy or zerocopy (asavie has no choice)")
	flag.StringVar(&depths, "depths", "2048/8192/4096", "ring sizes given to every AF_XDP system, RING/FILL/FRAMES (RX, TX and completion rings; fill ring; UMEM frames per queue), a list measured in turn each round; own: each system's own defaults")
	flag.Parse()
	if devices != "" {
		a, b, ok := strings.Cut(devices, ",")
		if !ok {
			fatal(fmt.Errorf("-devices %q: give two, A,B", devices))
		}
		o.devices = [2]string{a, b}
	}
	if o.xskMode != "auto" && o.xskMode != "copy" && o.xskMode != "zerocopy" {
		fatal(fmt.Errorf("-xsk-mode %q: use auto, copy or zerocopy", o.xskMode))
	}
	for _, s := range strings.Split(sizes, ",") {
		v, err := strconv.Atoi(s)
		if err != nil || v < 64 || v > 1518 {
			fatal(fmt.Errorf("-sizes %q: frame sizes from 64 to 1518", sizes))
		}
		o.sizes = append(o.sizes, v)
	}
	o.systems, o.modes = strings.Split(systems, ","), strings.Split(modes, ",")
	var err error
	if o.depths, err = parseDepths(depths); err != nil {
		fatal(err)
	}
	if o.duration < 1500*time.Millisecond {
		fatal(fmt.Errorf("-duration %v: use 1.5s or more (txonly counts over the run less its first 0.6 s and last 0.3 s)", o.duration))
	}
	if o.rxSender != "xdp" && o.rxSender != "fastpath" {
		fatal(fmt.Errorf("-rx-sender %q: use xdp or fastpath", o.rxSender))
	}
	if o.systems[0] != "fastpath" {
		fatal(fmt.Errorf("-systems %q: list fastpath first (the ratios are fastpath's to each peer)", systems))
	}
	if err := run(o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// bench is a run: the lab and what it measures with.
type bench struct {
	o    options
	l    *lab.Lab
	bmac string
	amac string
	// readyIn bounds the wait for a receiver to count a probe (0: 15 s).
	readyIn time.Duration
}

func run(o options) error {
	need := []string{"fastpath"}
	if slices.Contains(o.systems, "c") {
		need = append(need, "xskref")
	}
	if slices.Contains(o.systems, "asavie") {
		need = append(need, "asavie")
	}
	for _, name := range need {
		if _, err := os.Stat(filepath.Join(o.bin, name)); err != nil {
			return fmt.Errorf("%w: build them first (make bench)", err)
		}
	}
	l, err := lab.New(lab.Options{Devices: o.devices})
	if err != nil {
		return err
	}
	defer l.Close()
	b := &bench{o: o, l: l, amac: macString(l.A.MAC), bmac: macString(l.B.MAC)}
	env := environment{
		Date: time.Now().UTC().Format("2006-01-02"), Kernel: kernel.Release(), CPU: cpuModel(), CPUs: runtime.NumCPU(),
		Topology: "two network namespaces joined by one veth pair, one queue",
		Mode:     "AF_XDP copy mode (veth has no zero-copy), native XDP",
	}
	if o.devices[0] != "" {
		// The VM lab: QEMU's TCG emulates the guest, so only the ratios
		// of systems measured in the same boot mean anything.
		env.Topology = fmt.Sprintf("%s and %s (%s), back to back through the VM lab's bridge, one queue; a QEMU TCG guest: ratios only, not NIC figures", o.devices[0], o.devices[1], driverOf(l.A))
		env.Mode = "AF_XDP " + o.xskMode + " mode, native XDP"
	}
	env.Pinning, env.Duration, env.Rounds = "sender on core 0, receiver on core 1; txonly: B's NAPI threaded on core 1 (drop program); rxdrop, l2fwd: B's NAPI in the sender's softirq, sender "+rxSenderText[o.rxSender],
		o.duration.String(), o.reps
	env.Counting = "txonly: frames B's XDP drop program counted; rxdrop: frames B's device redirected to an AF_XDP socket (ethtool -S *xdp_redirect*), datagrams B's UDP delivered for the kernel; l2fwd: frames B's device transmitted (tx_packets); each over a window of the sender's run on the harness's clock, opened when the count first moves; readiness: probe frames until the counting point counts one"
	var samples []sample
	for _, mode := range o.modes {
		for _, size := range o.sizes {
			for r := 0; r < o.reps; r++ {
				for _, d := range o.depths {
					samples = append(samples, b.round(mode, size, r, d)...)
				}
			}
		}
	}
	rep := report(env, o, samples)
	fmt.Print(rep.markdown)
	if o.out == "" {
		return nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(struct {
		Environment environment `json:"environment"`
		Medians     []median    `json:"medians"`
		Samples     []sample    `json:"samples"`
	}{env, rep.medians, samples}, "", "  ")
	if err := os.WriteFile(filepath.Join(o.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(rep.markdown), 0o644); err != nil {
		return err
	}
	for _, mode := range o.modes {
		for i, d := range o.depths {
			name := mode + ".png"
			if i > 0 {
				name = mode + "-" + strings.ReplaceAll(d.Name, "/", "-") + ".png"
			}
			if err := drawPlot(filepath.Join(o.out, name), mode, d.Name, env, o, rep.medians); err != nil {
				return err
			}
		}
	}
	return nil
}

// round measures every system once for mode, size and depth d, in an
// order that rotates with the round: no system always goes first.
func (b *bench) round(mode string, size, r int, d depth) []sample {
	order := slices.Clone(b.o.systems)
	for range r % len(order) {
		order = append(order[1:], order[0])
	}
	var samples []sample
	for _, sys := range order {
		if mode == "l2fwd" && sys != "fastpath" || mode != "rxdrop" && (sys == "sink" || sys == "fastpath-steer") {
			continue // the peers have no l2fwd here; sink and fastpath-steer only receive
		}
		s := sample{Mode: mode, System: sys, Size: size, Round: r, Depths: d.Name}
		var err error
		for try := 0; try < 2; try++ {
			switch mode {
			case "txonly":
				s.PPS, s.OwnPPS, err = b.txonly(sys, size, d)
			case "rxdrop":
				s.PPS, s.OwnPPS, err = b.rxdrop(sys, size, d)
			case "l2fwd":
				s.PPS, s.OwnPPS, err = b.l2fwd(size, d)
			default:
				err = fmt.Errorf("unknown mode %q", mode)
			}
			if err == nil || !strings.Contains(err.Error(), "busy") {
				break
			}
			// A queue the last sample's socket still held (the kernel
			// releases it asynchronously): once more.
			time.Sleep(time.Second)
		}
		if err != nil {
			s.Error = err.Error()
		}
		time.Sleep(200 * time.Millisecond) // sockets released
		fmt.Fprintf(os.Stderr, "%-6s %-8s %4d B %-14s round %d: %10.0f pps (own %10.0f) %s\n", mode, sys, size, d.Name, r, s.PPS, s.OwnPPS, s.Error)
		samples = append(samples, s)
	}
	return samples
}

// command runs a peer program in host h's namespace and decodes the JSON
// object it prints last.
func (b *bench) command(ctx context.Context, h *lab.Host, v any, name string, args ...string) error {
	cmd := h.Command(ctx, filepath.Join(b.o.bin, name), args...)
	// Ending ctx interrupts the program, which then prints its summary as
	// at the end of its duration (how the receivers are stopped once the
	// sender is done); one that does not exit is killed 10 s later.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil && (ctx.Err() == nil || out.Len() == 0) {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(errb.String()))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if os.Getenv("BENCH_DEBUG") != "" { // every program's JSON, for a closer look
		fmt.Fprintln(os.Stderr, out.String())
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), v); err != nil {
		return fmt.Errorf("%s: output %q: %w", name, out.String(), err)
	}
	return nil
}

// fastpathSend runs fastpath's txonly in A on core 0 for the sample's
// duration with the sizes of d and decodes its summary into v.
func (b *bench) fastpathSend(ctx context.Context, size int, d depth, v any) error {
	return b.command(ctx, b.l.A, v, "fastpath", slices.Concat([]string{"bench", "txonly", "--dev", b.l.A.Link,
		"--dst", b.l.B.Addr.Addr().String() + ":9", "--duration", b.o.duration.String(), "--cores", "0", "--interval", "0", "--json", "--mode", b.o.xskMode},
		b.sendArgs(size), d.args())...)
}

// crefMode is the C reference's flag for -xsk-mode.
func (b *bench) crefMode() []string {
	switch b.o.xskMode {
	case "copy":
		return []string{"--copy"}
	case "zerocopy":
		return []string{"--zerocopy"}
	}
	return nil
}

// driverOf is the driver of h's link.
func driverOf(h *lab.Host) string {
	d := "driver unknown"
	_ = h.Do(func() error {
		name, err := ethtool.Driver(h.Link)
		if err == nil {
			d = name
		}
		return err
	})
	return d
}

// sendArgs are the frame fields every sender gets.
func (b *bench) sendArgs(size int) []string {
	return []string{"--size", strconv.Itoa(size), "--dst-mac", b.bmac}
}

// txonly measures sys sending from A: frames per second counted by the
// drop program in B, and the sender's own figure.
func (b *bench) txonly(sys string, size int, d depth) (farPPS, senderPPS float64, err error) {
	var st *steering.Steering
	if err := b.l.B.Do(func() (err error) {
		st, err = steering.Attach(b.l.B.Link, steering.Options{Default: steering.Drop})
		return err
	}); err != nil {
		return 0, 0, err
	}
	defer st.Close()
	// B's receive work (veth's NAPI: the drop program) on its own thread
	// on core 1, as a NIC's would be: the sender's core only sends.
	if err := b.threadedNAPI(true); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.o.duration+30*time.Second)
	defer cancel()
	secs := strconv.FormatFloat(b.o.duration.Seconds(), 'f', 3, 64)
	var res struct {
		PPS float64 `json:"pps"`
	}
	frame := []string{"--src-mac", b.amac, "--src-ip", b.l.A.Addr.Addr().String(), "--dst-ip", b.l.B.Addr.Addr().String(), "--dst-port", "9"}
	snd := start(func() (err error) {
		switch sys {
		case "fastpath":
			err = b.fastpathSend(ctx, size, d, &res)
		case "c":
			err = b.command(ctx, b.l.A, &res, "xskref", slices.Concat([]string{"txonly", "--dev", b.l.A.Link, "--duration", secs, "--core", "0"},
				frame, b.sendArgs(size), b.crefMode(), d.args())...)
		case "asavie":
			err = b.command(ctx, b.l.A, &res, "asavie", slices.Concat([]string{"txonly", "--dev", b.l.A.Link, "--duration", b.o.duration.String(), "--core", "0"},
				frame, b.sendArgs(size), d.args())...)
		case "kernel":
			res.PPS, _, err = b.kernelSend(size)
		default:
			err = fmt.Errorf("unknown system %q", sys)
		}
		return err
	})
	// Each system starts at its own pace (fastpath's Go binary takes over
	// a second to set up in the VM lab's TCG guest): the window opens when
	// the far end first counts the system's frames.
	far, err := rate(func() (uint64, error) {
		s, err := st.Stats()
		return s[bpf.CountDrop].Packets, err
	}, b.o.duration, snd.done)
	if err != nil {
		cancel()
		return 0, 0, errors.Join(err, snd.wait())
	}
	if err := snd.wait(); err != nil {
		return 0, 0, err
	}
	return far, res.PPS, nil
}

// rxdrop measures sys receiving in B while A sends for the sample's
// duration: the kernel's XDP live-frame sender (-rx-sender xdp, faster
// than any receiver, so the receiver is what is measured) or fastpath's
// txonly. It returns the rate counted at B's device (count.go) and the
// receiver's own count divided by the sender's time.
func (b *bench) rxdrop(sys string, size int, d depth) (pps, own float64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.o.duration+60*time.Second)
	defer cancel()
	type result struct {
		Packets  uint64 `json:"packets"`
		Received uint64 `json:"received_packets"` // sink
	}
	var res result
	var stop atomic.Bool
	var redirect *bpf.Redirect
	// B's receive work runs in the sender's softirq (on core 0), leaving
	// core 1 to the receiver under test.
	if err := b.threadedNAPI(false); err != nil {
		return 0, 0, err
	}
	count := redirected(b.l.B)
	switch sys {
	case "c", "asavie":
		// Their sockets join an XSKMAP of a program attached here.
		r, l, err := b.attachRedirect()
		if err != nil {
			return 0, 0, err
		}
		redirect = r
		defer r.Close()
		defer l.Close()
	case "kernel":
		p, err := b.attachPass()
		if err != nil {
			return 0, 0, err
		}
		defer p.Close()
		count = udpDelivered(b.l.B)
	}
	// The receiver runs until the sender is done (stopRecv interrupts
	// it), at most the sample's duration and 45 s to get ready.
	recvFor := (b.o.duration + 45*time.Second).String()
	rctx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	recv := start(func() error {
		switch sys {
		case "fastpath", "fastpath-steer":
			args := []string{"bench", "rxdrop", "--dev", b.l.B.Link, "--duration", recvFor, "--cores", "1", "--interval", "0", "--json", "--mode", b.o.xskMode}
			if sys == "fastpath-steer" {
				// fastpath's rxdrop behind the engine's steering program:
				// what the parse costs on the receive path.
				args = append(args, "--program", "steer")
			}
			return b.command(rctx, b.l.B, &res, "fastpath", append(args, d.args()...)...)
		case "sink":
			// The engine in shared mode on UDP port 9, the senders' port.
			return b.command(rctx, b.l.B, &res, "fastpath", append([]string{"sink", "--dev", b.l.B.Link, "--port", "9",
				"--duration", recvFor, "--cores", "1", "--interval", "0", "--json", "--mode", b.o.xskMode}, d.args()...)...)
		case "c", "asavie":
			info, err := redirect.Sockets.Info()
			if err != nil {
				return err
			}
			id, _ := info.ID()
			name := map[string]string{"c": "xskref", "asavie": "asavie"}[sys]
			args := []string{"rxdrop", "--dev", b.l.B.Link, "--core", "1", "--xskmap-id", strconv.FormatUint(uint64(id), 10)}
			if sys == "c" {
				args = append(append(args, "--duration", strconv.FormatFloat(b.o.duration.Seconds()+45, 'f', 3, 64)), b.crefMode()...)
			} else {
				args = append(args, "--duration", recvFor)
			}
			return b.command(rctx, b.l.B, &res, name, append(args, d.args()...)...)
		case "kernel":
			n, err := b.kernelReceive(&stop)
			res.Packets = n
			return err
		}
		return fmt.Errorf("unknown system %q", sys)
	})
	pps, secs, err := b.receive(ctx, size, count, count, recv, func() { stop.Store(true); stopRecv() })
	if err != nil {
		return 0, 0, err
	}
	return pps, float64(res.Packets+res.Received) / secs, nil
}

// receive runs the sender once the receiver in B (recv) is ready (ready
// counted a probe), counts at count over the sender's run, then stops the
// receiver (stop) and waits for its end. It returns the counted rate and
// the seconds the sender sent for.
func (b *bench) receive(ctx context.Context, size int, ready, count counter, recv *ending, stop func()) (pps, secs float64, err error) {
	fail := func(err error) (float64, float64, error) {
		stop()
		return 0, 0, errors.Join(err, recv.wait())
	}
	if err := b.ready(ready, recv.done); err != nil {
		return fail(err)
	}
	snd := start(func() (err error) {
		secs, err = b.rxSend(ctx, size)
		return err
	})
	if pps, err = rate(count, b.o.duration, snd.done); err != nil {
		return fail(errors.Join(err, snd.wait()))
	}
	if err := snd.wait(); err != nil {
		return fail(err)
	}
	time.Sleep(300 * time.Millisecond) // the last frames on the rings
	stop()
	if err := recv.wait(); err != nil {
		return 0, 0, err
	}
	return pps, secs, nil
}

// rxSend runs rxdrop's and l2fwd's sender in A for the sample's duration
// (-rx-sender) and returns the seconds it sent for.
func (b *bench) rxSend(ctx context.Context, size int) (float64, error) {
	if b.o.rxSender == "xdp" {
		_, secs, err := b.xdpSend(ctx, size, b.o.duration)
		return secs, err
	}
	var snd struct {
		DurationS float64 `json:"duration_s"`
	}
	err := b.fastpathSend(ctx, size, depth{Name: "own"}, &snd)
	return snd.DurationS, err
}

// threadedNAPI turns threaded NAPI on B's link on or off (it
// takes an XDP program attached first, which txonly's drop program is) and
// pins the NAPI threads, named napi/LINK-ID, to core 1. Only B's end is
// ever threaded, so every such thread is B's.
func (b *bench) threadedNAPI(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// ip netns exec mounts B's own /sys.
	path := "/sys/class/net/" + b.l.B.Link + "/threaded"
	if out, err := b.l.B.Command(ctx, "sh", "-c", "echo "+v+" > "+path).CombinedOutput(); err != nil {
		if !on {
			return nil // never turned on: no program attached yet
		}
		return fmt.Errorf("threaded NAPI on B: %v: %s", err, out)
	}
	if !on {
		return nil
	}
	dirs, _ := os.ReadDir("/proc")
	pinned := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
		if strings.HasPrefix(string(comm), "napi/"+b.l.B.Link+"-") {
			var set unix.CPUSet
			set.Set(1)
			if err := unix.SchedSetaffinity(pid, &set); err == nil {
				pinned++
			}
		}
	}
	if pinned == 0 {
		return errors.New("threaded NAPI on B: no napi thread to pin")
	}
	return nil
}

// l2fwd measures fastpath's l2fwd in B (MACs swapped, sent back out of
// the same queue) while the sender in A runs: the frames B's device
// transmitted per second, and l2fwd's own count of the frames it sent
// back (TX completions) divided by the sender's time.
func (b *bench) l2fwd(size int, d depth) (pps, own float64, err error) {
	if err := b.threadedNAPI(false); err != nil {
		return 0, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.o.duration+60*time.Second)
	defer cancel()
	rctx, stopRecv := context.WithCancel(ctx)
	defer stopRecv()
	var res struct {
		Sent uint64 `json:"sent"` // completed; "packets" is what it received
	}
	recv := start(func() error {
		return b.command(rctx, b.l.B, &res, "fastpath", append([]string{"bench", "l2fwd", "--dev", b.l.B.Link,
			"--duration", (b.o.duration + 45*time.Second).String(), "--cores", "1", "--interval", "0", "--json", "--mode", b.o.xskMode}, d.args()...)...)
	})
	// Ready once l2fwd's socket takes frames (B's kernel would answer a
	// probe too, with an ICMP error, so B's transmit count cannot say).
	pps, secs, err := b.receive(ctx, size, redirected(b.l.B), linkSent(b.l.B), recv, stopRecv)
	if err != nil {
		return 0, 0, err
	}
	return pps, float64(res.Sent) / secs, nil
}

// attachRedirect attaches the minimal redirect program to B's link.
func (b *bench) attachRedirect() (*bpf.Redirect, link.Link, error) {
	var r *bpf.Redirect
	var l link.Link
	err := b.l.B.Do(func() (err error) {
		if r, err = bpf.NewRedirect(1); err != nil {
			return err
		}
		l, err = link.AttachXDP(link.XDPOptions{Program: r.Program, Interface: b.l.B.Index, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	return r, l, nil
}

// attachPass attaches XDP_PASS to B's link: veth's fast path for the
// kernel receiver.
func (b *bench) attachPass() (io.Closer, error) {
	var l link.Link
	err := b.l.B.Do(func() error {
		p, err := bpf.NewPass()
		if err != nil {
			return err
		}
		defer p.Close()
		l, err = link.AttachXDP(link.XDPOptions{Program: p, Interface: b.l.B.Index, Flags: link.XDPDriverMode})
		return err
	})
	return l, err
}

// kernelSend sends UDP from a kernel socket in A with sendmmsg, 64 at a
// time, for the sample's duration, on core 0. It needs B's MAC in A's
// neighbour table: the drop program in B answers no ARP.
func (b *bench) kernelSend(size int) (pps, secs float64, err error) {
	if err := b.l.A.SetNeighbor(b.l.B.Addr.Addr(), b.l.B.MAC); err != nil {
		return 0, 0, err
	}
	fd, err := b.udpSocket(b.l.A, netip.AddrPort{})
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(fd)
	dst := &unix.SockaddrInet4{Addr: b.l.B.Addr.Addr().As4(), Port: 9}
	if err := unix.Connect(fd, dst); err != nil {
		return 0, 0, err
	}
	const batch = 64
	payload := make([]byte, size-4-42)
	iov := make([]unix.Iovec, batch)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range msgs {
		iov[i].Base, iov[i].Len = &payload[0], uint64(len(payload))
		msgs[i].Hdr.Iov, msgs[i].Hdr.Iovlen = &iov[i], 1
	}
	// On its own goroutine: the pinned thread dies with it.
	if err := port.Pin(0); err != nil {
		return 0, 0, err
	}
	var sent uint64
	start := time.Now()
	for time.Since(start) < b.o.duration {
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
		if e == 0 {
			sent += uint64(n)
		}
	}
	secs = time.Since(start).Seconds()
	return float64(sent) / secs, secs, nil
}

// kernelReceive drains a kernel UDP socket on B's port 9 with recvmmsg on
// core 1 until stop, and returns the datagrams it got.
func (b *bench) kernelReceive(stop *atomic.Bool) (uint64, error) {
	fd, err := b.udpSocket(b.l.B, netip.AddrPortFrom(b.l.B.Addr.Addr(), 9))
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	const batch = 64
	buf := make([]byte, batch*2048)
	iov := make([]unix.Iovec, batch)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range msgs {
		iov[i].Base, iov[i].Len = &buf[i*2048], 2048
		msgs[i].Hdr.Iov, msgs[i].Hdr.Iovlen = &iov[i], 1
	}
	if err := port.Pin(1); err != nil {
		return 0, err
	}
	var got uint64
	for !stop.Load() {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, unix.MSG_WAITFORONE, 0, 0)
		if e == 0 {
			got += uint64(n)
		}
	}
	return got, nil
}

// udpSocket opens a UDP socket in h's namespace, bound to bind if valid.
func (b *bench) udpSocket(h *lab.Host, bind netip.AddrPort) (int, error) {
	var fd int
	err := h.Do(func() (err error) {
		if fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		if bind.IsValid() {
			return unix.Bind(fd, &unix.SockaddrInet4{Addr: bind.Addr().As4(), Port: int(bind.Port())})
		}
		return nil
	})
	return fd, err
}

func macString(b []byte) string {
	parts := make([]string, len(b))
	for i, v := range b {
		parts[i] = fmt.Sprintf("%02x", v)
	}
	return strings.Join(parts, ":")
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
