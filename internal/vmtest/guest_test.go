//go:build vmguest

package vmtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/internal/vmlab"
)

// The zero-copy suite. Each test runs on virtio-net with iommu_platform
// (zero-copy AF_XDP), asks for --mode zerocopy and checks that it got it:
// nothing here may pass by falling back to copy mode. Rates are low: TCG
// emulates the guest at about 40-100k frames/s.

// TestGenSinkZeroCopy: gen -> sink across two real NICs in zero-copy on
// both ends: every stamped frame arrives once, in order.
func TestGenSinkZeroCopy(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 20000
	sink := startSink(t, l, n, "--mode", "zerocopy")
	gr := runGen(t, l, n, "--mode", "zerocopy", "--rate", "10k", "--stamp", "--size", "128")
	sr := sinkSummary(t, sink)
	if gr.Mode != "zerocopy" || gr.SentPackets != n || gr.Completed != n || gr.Errors != 0 || gr.TXInvalid != 0 {
		t.Errorf("gen: %+v", gr)
	}
	if sr.Mode != "zerocopy" || sr.Packets != n || sr.Lost != 0 || sr.Duplicates != 0 || sr.Reordered != 0 || sr.Drops != 0 {
		t.Errorf("sink: %+v", sr)
	}
	t.Logf("gen %.0f pps, sink %.0f pps (TCG: not a NIC figure)", gr.PPS, sr.PPS)
}

// TestGenChecksums: what gen sends in zero-copy is what a wire carries:
// tshark, on the guest kernel's side of the other NIC, validates every
// frame's IPv4 and UDP checksums and lengths.
func TestGenChecksums(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 2000
	lines := capture(t, l.B, "udp dst port 9", func() {
		g := fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9",
			"--mode", "zerocopy", "--count", strconv.Itoa(n), "--rate", "5k", "--imix", "64:7,594:4,1518:1",
			"--src-port-range", "1000-1063", "--interval", "0", "--json")
		var gr genResult
		g.json(t, 60*time.Second, &gr)
		if gr.Mode != "zerocopy" || gr.Completed != n {
			t.Fatalf("gen: %+v", gr)
		}
	}, "-e", "ip.checksum.status", "-e", "udp.checksum.status", "-e", "_ws.malformed", "-e", "frame.len")
	for _, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) < 4 || f[0] != "1" || f[1] != "1" || f[2] != "" {
			t.Fatalf("tshark: %q (ip, udp checksum status, malformed, length)", line)
		}
	}
	if len(lines) < n*9/10 {
		t.Fatalf("tshark saw %d of %d frames", len(lines), n)
	}
	t.Logf("tshark validated %d of %d frames", len(lines), n)
}

// capture runs fn while tshark captures on h's link with filter, then
// returns one line of the -e fields for every captured frame.
func capture(t *testing.T, h *lab.Host, filter string, fn func(), fields ...string) []string {
	t.Helper()
	pcap := t.TempDir() + "/c.pcap"
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := h.Command(ctx, "tshark", "-q", "-i", h.Link, "-f", filter, "-w", pcap)
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	go func() {
		s := bufio.NewScanner(stderr)
		closed := false
		for s.Scan() {
			if !closed && strings.Contains(s.Text(), "Capturing on") {
				close(started)
				closed = true
			}
		}
	}()
	select {
	case <-started:
	case <-time.After(60 * time.Second):
		c.Process.Kill()
		c.Wait()
		t.Fatal("tshark did not start capturing in 60 s")
	}
	time.Sleep(time.Second)
	fn()
	time.Sleep(2 * time.Second)
	c.Process.Signal(interrupt)
	c.Wait()
	args := append([]string{"-r", pcap, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-T", "fields"}, fields...)
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			lines = append(lines, line)
		}
	}
	return lines
}

// engineAddr is the address serve owns in dedicated mode on B's NIC,
// beside B's kernel's own 198.18.0.2.
var engineAddr = netip.MustParseAddr("198.18.0.10")

// serveOnB runs `fastpath serve` in dedicated mode on B's NIC in
// zero-copy with args added, and waits until it answers ARP (A's kernel
// resolves engineAddr).
func serveOnB(t *testing.T, l *lab.Lab, args ...string) *proc {
	t.Helper()
	c := ctl(t)
	p := fp(t, append([]string{"serve", "--dev", l.B.Link, "--netns", l.B.Name, "--addr", engineAddr.String() + "/24",
		"--mode", "zerocopy", "--interval", "0", "--json", "--control", c}, args...)...)
	waitCtl(t, p)
	return p
}

// TestServe: the engine on a zero-copy queue answers the guest kernel's
// ARP, ping (ICMP echo) and UDP echo.
func TestServe(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	serveOnB(t, l, "--udp-echo", "7")
	out := sh(t, l.A, "ping -c 5 -i 0.2 -W 5 "+engineAddr.String())
	if !strings.Contains(out, "5 received") {
		t.Fatalf("ping: %s", out)
	}
	neigh := sh(t, l.A, "ip neigh show "+engineAddr.String())
	if !strings.Contains(neigh, l.B.MAC.String()) {
		t.Errorf("A's neighbour entry for the engine: %q, want %s", neigh, l.B.MAC)
	}
	err := l.A.Do(func() error {
		c, err := net.Dial("udp", net.JoinHostPort(engineAddr.String(), "7"))
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 2000)
		for i := 0; i < 100; i++ {
			msg := []byte(fmt.Sprintf("datagram %d %s", i, strings.Repeat("x", i*10)))
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Write(msg); err != nil {
				return err
			}
			n, err := c.Read(buf)
			if err != nil {
				return fmt.Errorf("echo %d: %w", i, err)
			}
			if !bytes.Equal(buf[:n], msg) {
				return fmt.Errorf("echo %d: %q", i, buf[:n])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pattern is byte i of a transfer: i mod 251, as `fastpath tcp` sends.
func pattern(i int64) byte { return byte(i % 251) }

// TestTCP: the engine's TCP on a zero-copy queue against the guest
// kernel's TCP on the other NIC, both directions, content checked: the
// kernel sends 16 MiB to the engine's echo and reads it back, and the
// engine (`fastpath tcp`) sends 16 MiB to a kernel listener.
func TestTCP(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 16 << 20
	t.Run("kernel-to-engine", func(t *testing.T) {
		serveOnB(t, l, "--tcp-echo", "7")
		err := l.A.Do(func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(engineAddr.String(), "7"), 10*time.Second)
			if err != nil {
				return err
			}
			// Closed with a RST once every byte is checked: this side
			// closes first, and its TIME-WAIT socket kept A's namespace,
			// and with it eth0, from the next tests for over a minute in
			// one CI run.
			defer c.Close()
			defer c.(*net.TCPConn).SetLinger(0)
			c.SetDeadline(time.Now().Add(3 * time.Minute))
			errc := make(chan error, 1)
			go func() {
				buf := make([]byte, 64<<10)
				var off int64
				for off < n {
					k := min(int64(len(buf)), n-off)
					for i := range buf[:k] {
						buf[i] = pattern(off + int64(i))
					}
					if _, err := c.Write(buf[:k]); err != nil {
						errc <- err
						return
					}
					off += k
				}
				errc <- nil
			}()
			buf := make([]byte, 64<<10)
			var got int64
			for got < n {
				k, err := c.Read(buf)
				for i := 0; i < k; i++ {
					if buf[i] != pattern(got+int64(i)) {
						return fmt.Errorf("byte %d: %d, want %d", got+int64(i), buf[i], pattern(got+int64(i)))
					}
				}
				got += int64(k)
				if err != nil {
					return fmt.Errorf("after %d bytes: %w", got, err)
				}
			}
			return <-errc
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("engine-to-kernel", func(t *testing.T) {
		var ln net.Listener
		err := l.A.Do(func() (err error) {
			ln, err = net.Listen("tcp", "198.18.0.1:5001")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		errc := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				errc <- err
				return
			}
			// The engine closes first: this side never enters TIME-WAIT
			// (and a RST here would fail the engine's orderly close).
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Minute))
			buf := make([]byte, 64<<10)
			var got int64
			for {
				k, err := c.Read(buf)
				for i := 0; i < k; i++ {
					if buf[i] != pattern(got+int64(i)) {
						errc <- fmt.Errorf("byte %d: %d, want %d", got+int64(i), buf[i], pattern(got+int64(i)))
						return
					}
				}
				got += int64(k)
				if err == io.EOF {
					if got != n {
						err = fmt.Errorf("%d bytes, want %d", got, n)
					} else {
						err = nil
					}
					errc <- err
					return
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
		p := fp(t, "tcp", "--dev", l.B.Link, "--netns", l.B.Name, "--addr", engineAddr.String()+"/24",
			"--dst", "198.18.0.1:5001", "--bytes", strconv.Itoa(n), "--interval", "0", "--json", "--timeout", "3m")
		var res map[string]any
		p.json(t, 4*time.Minute, &res)
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		t.Logf("tcp: %v", res)
	})
}

// TestSteeringPassThrough: with the sink's steering program on a
// zero-copy NIC, frames that are not the sink's go to the guest kernel:
// its ping answers while the sink counts its own port exactly.
func TestSteeringPassThrough(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 5000
	sink := startSink(t, l, n, "--mode", "zerocopy")
	out := sh(t, l.A, "ping -c 5 -i 0.2 -W 5 "+l.B.Addr.Addr().String())
	if !strings.Contains(out, "5 received") {
		t.Fatalf("ping to B's kernel through the steering program: %s", out)
	}
	runGen(t, l, n, "--mode", "zerocopy", "--rate", "5k")
	sr := sinkSummary(t, sink)
	if sr.Mode != "zerocopy" || sr.Packets != n {
		t.Errorf("sink: %+v", sr)
	}
}

// TestFourQueues: four queue pairs, one engine per queue on both ends:
// gen spreads 64 flows over its four queues (--queues all), the guest
// NIC's RSS spreads them over the sink's four, and every frame arrives.
func TestFourQueues(t *testing.T) {
	l := nicLab(t, mqNICA, mqNICB)
	// virtio-net uses as many queue pairs as the guest has CPUs (2) of the
	// 4 the device has: use all 4.
	sh(t, l.A, "ethtool -L "+l.A.Link+" combined 4")
	sh(t, l.B, "ethtool -L "+l.B.Link+" combined 4")
	const n = 20000
	// Adaptive idle: four engines spinning on the guest's two vCPUs
	// starve the one that owns the port (every other queue hands its
	// datagrams over to it), and a descheduled owner's rings overflow.
	// Even so, one run in six or so lost a few hundred frames handed to
	// the owner while the rings into it were 256 deep (drop_handover_full):
	// they are as deep as its RX ring now.
	sink := startSink(t, l, n, "--mode", "zerocopy", "--queues", "all", "--idle", "adaptive")
	gr := runGen(t, l, n, "--queues", "all", "--mode", "zerocopy", "--rate", "8k", "--stamp", "--flows", "64", "--src-port-range", "2000-2063")
	// The sink ends at n; short of it 10 s after gen, say where the
	// frames went (the NIC's queues, the steering program, the sink's own
	// counts) before stopping it.
	c := sink.cmd.Args[slices.Index(sink.cmd.Args, "--control")+1]
	for i := 0; sink.running() && i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if sink.running() {
		t.Errorf("the sink has %v of %d frames 10 s after gen sent them; its steering:\n%s\n%s", stats(t, c), n,
			sh(t, l.B, bin(t)+" steer --dev "+l.B.Link), sh(t, l.B, "ethtool -S "+l.B.Link+" | grep -v ': 0$'"))
		post(t, c, "/v1/stop")
	}
	sr := sinkSummary(t, sink)
	if len(gr.Queues) != 4 || gr.Mode != "zerocopy" || gr.Completed != n {
		t.Errorf("gen: %+v", gr)
	}
	if len(sr.Queues) != 4 || sr.Mode != "zerocopy" || sr.Packets != n || sr.Lost != 0 || sr.Duplicates != 0 {
		t.Errorf("sink: %+v", sr)
	}
}

// benchResult is the part of bench's summary the tests read.
type benchResult struct {
	Mode       string `json:"mode"`
	NeedWakeup bool   `json:"need_wakeup"`
	BusyPoll   bool   `json:"busy_poll"`
	Packets    uint64 `json:"packets"`
	Queues     []struct {
		Queue   int    `json:"queue"`
		Packets uint64 `json:"packets"`
	} `json:"queues"`
}

// TestBenchQueuesAll: `bench txonly` and `bench rxdrop` with --queues all
// on a NIC with four queue pairs run one loop per queue in use (a real
// driver found txonly indexing past its queues, and rxdrop binding queues
// beyond the channels in use).
func TestBenchQueuesAll(t *testing.T) {
	l := nicLab(t, mqNICA, mqNICB)
	sh(t, l.A, "ethtool -L "+l.A.Link+" combined 4")
	sh(t, l.B, "ip link set "+l.B.Link+" promisc on")
	var tx benchResult
	fp(t, "bench", "txonly", "--dev", l.A.Link, "--netns", l.A.Name, "--queues", "all", "--mode", "zerocopy",
		"--dst", l.B.Addr.Addr().String()+":9", "--dst-mac", l.B.MAC.String(), "--duration", "3s", "--interval", "0", "--json").json(t, time.Minute, &tx)
	if tx.Mode != "zerocopy" || len(tx.Queues) != 4 || tx.Packets == 0 {
		t.Errorf("txonly: %+v", tx)
	}
	for _, q := range tx.Queues {
		if q.Packets == 0 {
			t.Errorf("txonly queue %d sent nothing", q.Queue)
		}
	}
	// Two of the four channels in use: all means queues 0 and 1.
	sh(t, l.B, "ethtool -L "+l.B.Link+" combined 2")
	defer sh(t, l.B, "ethtool -L "+l.B.Link+" combined 4")
	var rx benchResult
	fp(t, "bench", "rxdrop", "--dev", l.B.Link, "--netns", l.B.Name, "--queues", "all", "--mode", "zerocopy",
		"--duration", "2s", "--interval", "0", "--json").json(t, time.Minute, &rx)
	if rx.Mode != "zerocopy" || len(rx.Queues) != 2 {
		t.Errorf("rxdrop on 2 channels in use: %+v", rx)
	}
}

// rxdropCounts runs gen -> `bench rxdrop` with extra flags on B and
// checks that rxdrop counted exactly what gen sent.
func rxdropCounts(t *testing.T, l *lab.Lab, flags ...string) benchResult {
	t.Helper()
	const n = 10000
	c := ctl(t)
	b := fp(t, append([]string{"bench", "rxdrop", "--dev", l.B.Link, "--netns", l.B.Name, "--mode", "zerocopy",
		"--duration", "120s", "--interval", "0", "--json", "--control", c}, flags...)...)
	stats(t, c)
	// rxdrop takes every frame, ARP too: B's kernel cannot answer.
	g := fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9", "--dst-mac", l.B.MAC.String(),
		"--mode", "zerocopy", "--count", strconv.Itoa(n), "--rate", "5k", "--interval", "0", "--json")
	var gr genResult
	g.json(t, time.Minute, &gr)
	for i := 0; num(stats(t, c), "packets") < n && i < 100; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	post(t, c, "/v1/stop")
	var br benchResult
	b.json(t, time.Minute, &br)
	if br.Mode != "zerocopy" || br.Packets != n {
		t.Errorf("rxdrop %v: %+v after gen sent %d", flags, br, gr.Completed)
	}
	return br
}

// TestNeedWakeup: zero-copy RX with need_wakeup on and off counts every
// frame (off: the loop wakes the driver on every poll).
func TestNeedWakeup(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	for _, on := range []bool{true, false} {
		br := rxdropCounts(t, l, "--need-wakeup="+strconv.FormatBool(on))
		if br.NeedWakeup != on {
			t.Errorf("need_wakeup %v reported as %v", on, br.NeedWakeup)
		}
	}
}

// TestBusyPoll: busy polling drives a real NAPI instance: with the
// guest's napi_defer_hard_irqs and gro_flush_timeout set (interrupts held
// off while the application polls), rxdrop --busy-poll counts every frame.
func TestBusyPoll(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	dir := "/sys/class/net/" + l.B.Link
	sh(t, l.B, "echo 2 > "+dir+"/napi_defer_hard_irqs && echo 200000 > "+dir+"/gro_flush_timeout")
	defer sh(t, l.B, "echo 0 > "+dir+"/napi_defer_hard_irqs && echo 0 > "+dir+"/gro_flush_timeout")
	br := rxdropCounts(t, l, "--busy-poll")
	if !br.BusyPoll {
		t.Errorf("busy poll not reported: %+v", br)
	}
}

// TestTXRingFull: a TX ring of 64 and 128 frames, driven as fast as it
// goes, fills up (ring_full counts it) and every frame comes back through
// the completion ring: sent == completed, no frame lost to the driver.
func TestTXRingFull(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	const n = 100000
	var gr genResult
	fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9",
		"--mode", "zerocopy", "--count", strconv.Itoa(n), "--ring", "64", "--frames", "128", "--batch", "64",
		"--interval", "0", "--json").json(t, 2*time.Minute, &gr)
	if gr.Mode != "zerocopy" || gr.SentPackets != n || gr.Completed != n || gr.Errors != 0 || gr.TXInvalid != 0 {
		t.Errorf("gen: %+v", gr)
	}
	if gr.RingFull == 0 {
		t.Errorf("the TX ring never filled: %+v", gr)
	}
}

// TestLinkFlap: the far NIC's cable is pulled for two seconds while gen
// sends (QEMU's set_link): the sink and gen keep running, and the sink
// counts again once the link is back.
func TestLinkFlap(t *testing.T) {
	l := nicLab(t, nicA, nicB)
	c := ctl(t)
	sink := fp(t, "sink", "--dev", l.B.Link, "--netns", l.B.Name, "--port", "9", "--mode", "zerocopy",
		"--duration", "120s", "--interval", "0", "--json", "--control", c)
	stats(t, c)
	g := fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9",
		"--mode", "zerocopy", "--duration", "12s", "--rate", "2k", "--interval", "0", "--json")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	time.Sleep(2 * time.Second)
	if err := vmlab.Request(ctx, "link 1 off"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if err := vmlab.Request(ctx, "link 1 on"); err != nil {
		t.Fatal(err)
	}
	// virtio-net reports carrier at once; let the NIC come back.
	time.Sleep(time.Second)
	before := num(stats(t, c), "received_packets")
	time.Sleep(3 * time.Second)
	after := num(stats(t, c), "received_packets")
	if after-before < 2000 {
		t.Errorf("after the link came back the sink counted %d frames in 3 s, want about 6000", after-before)
	}
	var gr genResult
	g.json(t, time.Minute, &gr)
	post(t, c, "/v1/stop")
	var sr sinkResult
	sink.json(t, time.Minute, &sr)
	t.Logf("gen sent %d, sink received %d (the difference went while the link was down)", gr.Completed, sr.Packets)
	if gr.Errors != 0 || sr.Drops != 0 {
		t.Errorf("gen %+v, sink %+v", gr, sr)
	}
}

// ctl returns a fresh control API address.
func ctl(t *testing.T) string { return control() }

// waitCtl waits until p's control API (its --control flag) answers.
func waitCtl(t *testing.T, p *proc) {
	t.Helper()
	for i, a := range p.cmd.Args {
		if a == "--control" {
			stats(t, p.cmd.Args[i+1])
			return
		}
	}
	t.Fatal("no --control")
}

// post POSTs to the control API at addr.
func post(t *testing.T, addr, path string) {
	t.Helper()
	resp, err := httpPost("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	if resp != 200 {
		t.Fatalf("POST %s: %d", path, resp)
	}
}

// TestDoctorZeroCopy: doctor's zero-copy verdict matches what a bind
// does. eth4 is virtio-net without iommu_platform: the driver advertises
// xsk-zerocopy there too, the bind fails with EINVAL, and doctor must warn
// and say what to change; on eth0 (with it) doctor says zero-copy works,
// and gen gets it.
func TestDoctorZeroCopy(t *testing.T) {
	type report struct {
		Input    map[string]any `json:"input"`
		Findings []struct {
			Check, Status, Message, Fix string
		} `json:"findings"`
	}
	verdict := func(dev string) (status, msg, fix string) {
		out, err := exec.Command(bin(t), "doctor", "--dev", dev, "--json").Output()
		if err != nil && len(out) == 0 {
			t.Fatalf("doctor --dev %s: %v", dev, err)
		}
		var r report
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("doctor --dev %s: %v\n%s", dev, err, out)
		}
		for _, f := range r.Findings {
			if f.Check == "zerocopy" {
				return f.Status, f.Message, f.Fix
			}
		}
		t.Fatalf("doctor --dev %s has no zerocopy finding:\n%s", dev, out)
		return
	}
	// The last test's lab gives eth0 back asynchronously.
	for i := 0; ; i++ {
		if _, err := net.InterfaceByName("eth0"); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("eth0 did not come back from the last test's lab")
		}
		time.Sleep(100 * time.Millisecond)
	}
	sh(t, nil, "ip link set eth4 up")
	status, msg, fix := verdict("eth4")
	if status != "warn" || !strings.Contains(fix, "iommu_platform=on") {
		t.Errorf("doctor on virtio-net without the platform feature: %s %q (fix %q)", status, msg, fix)
	}
	out, _ := exec.Command(bin(t), "bench", "rxdrop", "--dev", "eth4", "--mode", "zerocopy", "--duration", "1s", "--interval", "0").CombinedOutput()
	if !strings.Contains(string(out), "invalid argument") {
		t.Errorf("a zero-copy bind on eth4 did not fail with EINVAL: %s", out)
	}
	if status, msg, _ := verdict("eth0"); status != "ok" {
		t.Errorf("doctor on virtio-net with iommu_platform: %s %q", status, msg)
	}
}
