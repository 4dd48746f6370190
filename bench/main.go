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
// the figure is what arrived at the far end. rxdrop: fastpath's txonly
// sends from A; the system receives in B and drops. Senders run on core 0,
// receivers on core 1.
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
	"sync"
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
}

// sample is one measurement.
type sample struct {
	Mode   string  `json:"mode"`
	System string  `json:"system"`
	Size   int     `json:"size"`
	Round  int     `json:"round"`
	PPS    float64 `json:"pps"` // at the far end for txonly, at the receiver for rxdrop
	// SenderPPS is what the sender reported (txonly), for the record.
	SenderPPS float64 `json:"sender_pps,omitempty"`
	Error     string  `json:"error,omitempty"`
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
}

// rxSenderText says what -rx-sender means, for the environment line.
var rxSenderText = map[string]string{
	"xdp":      "the kernel's XDP live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES)",
	"fastpath": "fastpath's txonly",
}

func main() {
	var o options
	var sizes, systems, modes string
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
	var samples []sample
	for _, mode := range o.modes {
		for _, size := range o.sizes {
			for r := 0; r < o.reps; r++ {
				// Rotate the order each round: no system always goes first.
				order := slices.Clone(o.systems)
				for range r % len(order) {
					order = append(order[1:], order[0])
				}
				for _, sys := range order {
					s := sample{Mode: mode, System: sys, Size: size, Round: r}
					var err error
					switch {
					case mode == "txonly":
						s.PPS, s.SenderPPS, err = b.txonly(sys, size)
					case mode == "rxdrop":
						s.PPS, err = b.rxdrop(sys, size)
					case mode == "l2fwd" && sys == "fastpath":
						s.PPS, err = b.l2fwd(size)
					case mode == "l2fwd":
						continue // the peers have no l2fwd here
					case sys == "sink" || sys == "fastpath-steer":
						continue // receivers only
					default:
						err = fmt.Errorf("unknown mode %q", mode)
					}
					if err != nil && strings.Contains(err.Error(), "busy") {
						// A queue the last sample's socket still held (the
						// kernel releases it asynchronously): once more.
						time.Sleep(time.Second)
						switch mode {
						case "txonly":
							s.PPS, s.SenderPPS, err = b.txonly(sys, size)
						case "rxdrop":
							s.PPS, err = b.rxdrop(sys, size)
						}
					}
					if err != nil {
						s.Error = err.Error()
					}
					time.Sleep(200 * time.Millisecond) // sockets released
					fmt.Fprintf(os.Stderr, "%-6s %-8s %4d B round %d: %10.0f pps %s\n", mode, sys, size, r, s.PPS, s.Error)
					samples = append(samples, s)
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
		if err := drawPlot(filepath.Join(o.out, mode+".png"), mode, env, o, rep.medians); err != nil {
			return err
		}
	}
	return nil
}

// command runs a peer program in host h's namespace and decodes the JSON
// object it prints last.
func (b *bench) command(ctx context.Context, h *lab.Host, v any, name string, args ...string) error {
	return b.commandReady(ctx, h, v, nil, name, args...)
}

// commandReady is command, closing ready (when not nil) once the program
// writes a line containing "ready" on stderr: set up, and receiving.
func (b *bench) commandReady(ctx context.Context, h *lab.Host, v any, ready chan struct{}, name string, args ...string) error {
	cmd := h.Command(ctx, filepath.Join(b.o.bin, name), args...)
	var out bytes.Buffer
	marker := "ready"
	if name == "fastpath" && len(args) > 0 && args[0] == "sink" {
		marker = "ctrl-c stops" // sink's line once it receives
	}
	errb := &readyWriter{ready: ready, marker: []byte(marker)}
	cmd.Stdout, cmd.Stderr = &out, errb
	if err := cmd.Run(); err != nil {
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

// readyWriter keeps what a program writes on stderr and closes ready at
// the first "ready".
type readyWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	ready  chan struct{}
	marker []byte
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.ready != nil && bytes.Contains(w.buf.Bytes(), w.marker) {
		close(w.ready)
		w.ready = nil
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// waitReady waits for ready (a fastpath receiver: its steering program
// takes a while to load and verify) or, for the peers, which set up in
// milliseconds, a fixed moment; then a little more for the loop to spin up.
func waitReady(ready chan struct{}) error {
	if ready == nil {
		time.Sleep(700 * time.Millisecond)
		return nil
	}
	select {
	case <-ready:
		time.Sleep(200 * time.Millisecond)
		return nil
	case <-time.After(15 * time.Second):
		return errors.New("the receiver did not get ready in 15 s")
	}
}

// fastpathSend runs fastpath's txonly in A on core 0 for the sample's
// duration and decodes its summary into v.
func (b *bench) fastpathSend(ctx context.Context, size int, v any) error {
	return b.command(ctx, b.l.A, v, "fastpath", append([]string{"bench", "txonly", "--dev", b.l.A.Link,
		"--dst", b.l.B.Addr.Addr().String() + ":9", "--duration", b.o.duration.String(), "--cores", "0", "--interval", "0", "--json", "--mode", b.o.xskMode},
		b.sendArgs(size)...)...)
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
// drop program in B.
func (b *bench) txonly(sys string, size int) (farPPS, senderPPS float64, err error) {
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
	errc := make(chan error, 1)
	go func() {
		var err error
		switch sys {
		case "fastpath":
			err = b.fastpathSend(ctx, size, &res)
		case "c":
			err = b.command(ctx, b.l.A, &res, "xskref", append(append([]string{"txonly", "--dev", b.l.A.Link, "--duration", secs, "--core", "0",
				"--src-mac", b.amac, "--src-ip", b.l.A.Addr.Addr().String(), "--dst-ip", b.l.B.Addr.Addr().String(), "--dst-port", "9"},
				b.sendArgs(size)...), b.crefMode()...)...)
		case "asavie":
			err = b.command(ctx, b.l.A, &res, "asavie", append([]string{"txonly", "--dev", b.l.A.Link, "--duration", b.o.duration.String(), "--core", "0",
				"--src-mac", b.amac, "--src-ip", b.l.A.Addr.Addr().String(), "--dst-ip", b.l.B.Addr.Addr().String(), "--dst-port", "9"},
				b.sendArgs(size)...)...)
		case "kernel":
			res.PPS, _, err = b.kernelSend(size)
		default:
			err = fmt.Errorf("unknown system %q", sys)
		}
		errc <- err
	}()
	// The far end's count over a window inside the run, the same for
	// every system, on no system's own clock: it opens 0.3 s after the
	// far end first counts the system's frames and lasts the run less
	// 0.9 s. Each system starts at its own pace: fastpath's Go binary
	// takes over a second to set up in the VM lab's TCG guest, and a
	// window from a fixed moment after the start counted nothing there.
	base, err := st.Stats()
	if err != nil {
		return 0, 0, errors.Join(err, <-errc)
	}
	for deadline := time.Now().Add(b.o.duration + 15*time.Second); ; {
		cur, err := st.Stats()
		if err != nil {
			return 0, 0, errors.Join(err, <-errc)
		}
		if cur[bpf.CountDrop].Packets > base[bpf.CountDrop].Packets {
			break
		}
		if time.Now().After(deadline) {
			return 0, 0, errors.Join(errors.New("the far end counted no frame"), <-errc)
		}
		select {
		case err := <-errc: // the sender ended before a frame arrived
			return 0, 0, errors.Join(errors.New("the far end counted no frame"), err)
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	before, err := st.Stats()
	if err != nil {
		return 0, 0, errors.Join(err, <-errc)
	}
	t0 := time.Now()
	time.Sleep(b.o.duration - 900*time.Millisecond)
	after, err := st.Stats()
	window := time.Since(t0)
	if err := errors.Join(err, <-errc); err != nil {
		return 0, 0, err
	}
	got := after[bpf.CountDrop].Packets - before[bpf.CountDrop].Packets
	return float64(got) / window.Seconds(), res.PPS, nil
}

// rxdrop measures sys receiving in B while A sends for the sample's
// duration: the kernel's XDP live-frame sender (-rx-sender xdp, faster
// than any receiver, so the receiver is what is measured) or fastpath's
// txonly.
func (b *bench) rxdrop(sys string, size int) (float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.o.duration+30*time.Second)
	defer cancel()
	// The receiver runs a second longer than the sender, on both sides.
	recvFor := b.o.duration + 1500*time.Millisecond
	type result struct {
		Packets  uint64 `json:"packets"`
		Received uint64 `json:"received_packets"` // sink
	}
	var res result
	errc := make(chan error, 1)
	var stop atomic.Bool
	var redirect *bpf.Redirect
	// B's receive work runs in the sender's softirq (on core 0), leaving
	// core 1 to the receiver under test.
	if err := b.threadedNAPI(false); err != nil {
		return 0, err
	}
	switch sys {
	case "c", "asavie":
		// Their sockets join an XSKMAP of a program attached here.
		r, l, err := b.attachRedirect()
		if err != nil {
			return 0, err
		}
		redirect = r
		defer r.Close()
		defer l.Close()
	case "kernel":
		p, err := b.attachPass()
		if err != nil {
			return 0, err
		}
		defer p.Close()
	}
	var ready chan struct{}
	if sys == "fastpath" || sys == "fastpath-steer" || sys == "sink" {
		ready = make(chan struct{})
	}
	go func() {
		switch sys {
		case "fastpath":
			errc <- b.commandReady(ctx, b.l.B, &res, ready, "fastpath", "bench", "rxdrop", "--dev", b.l.B.Link, "--duration", recvFor.String(),
				"--cores", "1", "--interval", "0", "--json", "--mode", b.o.xskMode)
		case "fastpath-steer":
			// fastpath's rxdrop behind the engine's steering program: what
			// the parse costs on the receive path.
			errc <- b.commandReady(ctx, b.l.B, &res, ready, "fastpath", "bench", "rxdrop", "--dev", b.l.B.Link, "--duration", recvFor.String(),
				"--cores", "1", "--interval", "0", "--json", "--program", "steer", "--mode", b.o.xskMode)
		case "sink":
			// The engine in shared mode on UDP port 9, the senders' port.
			errc <- b.commandReady(ctx, b.l.B, &res, ready, "fastpath", "sink", "--dev", b.l.B.Link, "--port", "9",
				"--duration", recvFor.String(), "--cores", "1", "--interval", "0", "--json", "--mode", b.o.xskMode)
		case "c", "asavie":
			info, err := redirect.Sockets.Info()
			if err != nil {
				errc <- err
				return
			}
			id, _ := info.ID()
			dur := strconv.FormatFloat(recvFor.Seconds(), 'f', 3, 64)
			if sys == "asavie" {
				dur = recvFor.String()
			}
			name := map[string]string{"c": "xskref", "asavie": "asavie"}[sys]
			args := []string{"rxdrop", "--dev", b.l.B.Link, "--duration", dur, "--core", "1", "--xskmap-id", strconv.FormatUint(uint64(id), 10)}
			if sys == "c" {
				args = append(args, b.crefMode()...)
			}
			errc <- b.command(ctx, b.l.B, &res, name, args...)
		case "kernel":
			n, err := b.kernelReceive(&stop)
			res.Packets = n
			errc <- err
		default:
			errc <- fmt.Errorf("unknown system %q", sys)
		}
	}()
	if err := waitReady(ready); err != nil {
		return 0, errors.Join(err, <-errc)
	}
	secs, err := b.rxSend(ctx, size)
	if sys == "kernel" {
		time.Sleep(300 * time.Millisecond)
		stop.Store(true)
	}
	if rerr := <-errc; rerr != nil || err != nil {
		return 0, errors.Join(rerr, err)
	}
	return float64(res.Packets+res.Received) / secs, nil
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
	err := b.fastpathSend(ctx, size, &snd)
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
// the same queue) while the sender in A runs: the frames B sent back (TX
// completions, not the frames it received) per second of the sender's run.
func (b *bench) l2fwd(size int) (float64, error) {
	if err := b.threadedNAPI(false); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.o.duration+30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	var res struct {
		Sent uint64 `json:"sent"` // completed; "packets" is what it received
	}
	ready := make(chan struct{})
	go func() {
		errc <- b.commandReady(ctx, b.l.B, &res, ready, "fastpath", "bench", "l2fwd", "--dev", b.l.B.Link,
			"--duration", (b.o.duration + 1500*time.Millisecond).String(), "--cores", "1", "--interval", "0", "--json", "--mode", b.o.xskMode)
	}()
	if err := waitReady(ready); err != nil {
		return 0, errors.Join(err, <-errc)
	}
	secs, err := b.rxSend(ctx, size)
	if rerr := <-errc; rerr != nil || err != nil {
		return 0, errors.Join(rerr, err)
	}
	return float64(res.Sent) / secs, nil
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
