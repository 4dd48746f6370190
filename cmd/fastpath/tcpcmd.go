package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/spf13/cobra"
)

type tcpFlags struct {
	dev, netns, dst, addr, gw string
	file, cc, queues, cores   string
	metrics, control          string
	bytes                     int64
	conns                     int
	noDelay                   bool
	checksum                  string
	timeout, interval         time.Duration
	json                      bool
}

func newTCPCommand() *cobra.Command {
	var f tcpFlags
	cmd := &cobra.Command{
		Use:   "tcp --dev IFACE --dst IP:PORT --bytes N",
		Short: "Open TCP connections from the engine and send N bytes on each",
		Long: `tcp runs the engine's TCP on a device, opens --conns connections to --dst
and sends --bytes bytes on each (byte i of a stream is i mod 251, or the
content of --file), then closes them and reports the goodput, the
retransmissions and the round-trip times. By default the engine shares the
kernel's addresses (shared mode) and takes its ephemeral ports from
61000-65535, above the kernel's ip_local_port_range; --addr gives it an
address of its own instead.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return tcpMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device")
	fl.StringVar(&f.dst, "dst", "", "destination IP:PORT (required)")
	fl.Int64Var(&f.bytes, "bytes", 0, "bytes to send on each connection (required unless --file)")
	fl.IntVar(&f.conns, "conns", 1, "connections to open")
	fl.StringVar(&f.addr, "addr", "", "an address of the engine's own, CIDR (dedicated mode); default: the kernel's (shared mode)")
	fl.StringVar(&f.gw, "gw", "", "dedicated mode: gateway for off-link destinations")
	fl.StringVar(&f.file, "file", "", "send this file's content on each connection instead of the pattern")
	fl.StringVar(&f.cc, "cc", tcp.DefaultCongestionControl, "congestion control: cubic or newreno")
	fl.BoolVar(&f.noDelay, "no-delay", false, "turn Nagle's algorithm off")
	fl.StringVar(&f.checksum, "tx-checksum", "auto", txChecksumUsage)
	fl.StringVar(&f.queues, "queues", "0", "queues to run engines on: a list such as 0,1, or all (every queue in use)")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the engines to, a list")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up after this long")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

// tcpResult is tcp's summary.
type tcpResult struct {
	Kernel      string            `json:"kernel"`
	Device      string            `json:"device"`
	Dst         string            `json:"dst"`
	AddrMode    string            `json:"addr_mode"`
	Mode        string            `json:"mode"`
	TXChecksum  string            `json:"tx_checksum"`
	RSSPorts    bool              `json:"rss_ports"` // local ports chosen by the device's RSS hash
	Connections int               `json:"connections"`
	Completed   int               `json:"completed"`
	BytesSent   int64             `json:"bytes_sent"` // acknowledged
	DurationS   float64           `json:"duration_s"`
	GoodputBPS  float64           `json:"goodput_bps"`
	Retransmits uint64            `json:"retransmits"`
	RTTUs       float64           `json:"rtt_us"` // mean of the connections' smoothed RTT at close
	MSS         int               `json:"mss"`
	CC          string            `json:"congestion_control"`
	Errors      []string          `json:"errors"`
	TCP         map[string]uint64 `json:"tcp"`
}

// tcpSender writes a connection's bytes as room allows, then closes.
type tcpSender struct {
	e       *stack.Engine
	total   int64
	written int64
	pattern []byte // one period of the payload, repeated
	file    []byte
	acked   *atomic.Int64
	done    chan<- senderDone
	sent    int64 // acknowledged, as counted so far
}

type senderDone struct {
	err   error
	bytes int64
	srtt  int64
	at    time.Time
}

func (s *tcpSender) Established(c *tcp.Conn) { s.fill(c) }
func (s *tcpSender) Readable(c *tcp.Conn) {
	c.Recv.Consume(c.Recv.Len()) // a sink for whatever the server says
}
func (s *tcpSender) Writable(c *tcp.Conn) { s.fill(c) }
func (s *tcpSender) Closed(c *tcp.Conn, err error) {
	s.count(c)
	s.done <- senderDone{err: err, bytes: s.sent, srtt: c.SRTT(), at: time.Now()}
}

// count publishes the bytes acknowledged so far.
func (s *tcpSender) count(c *tcp.Conn) {
	acked := s.written - int64(c.Send.Len())
	if c.State() == tcp.StateClosed && c.Err() == nil {
		acked = s.written
	}
	s.acked.Add(acked - s.sent)
	s.sent = acked
}

func (s *tcpSender) fill(c *tcp.Conn) {
	s.count(c)
	for s.written < s.total && c.Send.Free() > 0 {
		var p []byte
		if s.file != nil {
			p = s.file[s.written:]
		} else {
			off := int(s.written % 251)
			p = s.pattern[off:]
			if rest := s.total - s.written; int64(len(p)) > rest {
				p = p[:rest]
			}
		}
		s.written += int64(c.Send.Write(p))
	}
	if s.written == s.total {
		c.Close(s.e.Now())
	}
}

func tcpMain(cmd *cobra.Command, f tcpFlags) error {
	if f.dev == "" {
		return errors.New("--dev is required: the device to run on")
	}
	dst, err := netip.ParseAddrPort(f.dst)
	if err != nil || !dst.Addr().Is4() {
		return fmt.Errorf("--dst %q: use an IPv4 address and port, such as 198.18.0.2:5201", f.dst)
	}
	var file []byte
	if f.file != "" {
		if file, err = os.ReadFile(f.file); err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		f.bytes = int64(len(file))
	} else if f.bytes <= 0 {
		return fmt.Errorf("--bytes %d: give a positive byte count (or --file)", f.bytes)
	}
	if f.conns < 1 || f.conns > 60000 {
		return fmt.Errorf("--conns %d: use 1 to 60000", f.conns)
	}
	if _, err := tcp.NewCongestionControl(f.cc); err != nil {
		return fmt.Errorf("--cc %q: use cubic or newreno", f.cc)
	}
	cfg := stack.DefaultConfig()
	cfg.Device = f.dev
	cfg.Idle = stack.IdleBusy
	if cfg.TXChecksum, err = parseTXChecksum(f.checksum); err != nil {
		return err
	}
	if cfg.Queues, err = parseQueues(f.queues); err != nil {
		return err
	}
	if f.cores != "" {
		if cfg.Cores, err = parseList("cores", f.cores); err != nil {
			return err
		}
	}
	mode := "shared"
	if f.addr != "" {
		p, err := netip.ParsePrefix(f.addr)
		if err != nil || !p.Addr().Is4() {
			return fmt.Errorf("--addr %q: use an IPv4 address with its prefix length", f.addr)
		}
		cfg.Addrs = []netip.Prefix{p}
		mode = "dedicated"
		if f.gw != "" {
			if cfg.Gateway, err = netip.ParseAddr(f.gw); err != nil {
				return fmt.Errorf("--gw %q: use an IPv4 address", f.gw)
			}
		}
	} else {
		cfg.Shared = true
		cfg.ImportRoutes = true
	}
	tc := tcp.DefaultConfig()
	tc.CongestionControl = f.cc
	tc.NoDelay = f.noDelay
	tc.MaxConns = max(tc.MaxConns, f.conns+64)
	var st *stack.Stack
	err = port.InNetns(f.netns, func() error {
		if st, err = stack.New(cfg); err != nil {
			return err
		}
		return st.EnableTCP(tc)
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return err
	}
	defer st.Close()
	if err := st.Start(); err != nil {
		return err
	}
	ms, err := serveMetrics(f.metrics, stackMetrics(st, f.dev), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer ms.Close()
	pattern := make([]byte, 251*64)
	for i := range pattern {
		pattern[i] = byte(i % 251)
	}
	var acked atomic.Int64
	done := make(chan senderDone, f.conns)
	start := time.Now()
	engines := st.Engines()
	for i := 0; i < f.conns; i++ {
		s := &tcpSender{total: f.bytes, pattern: pattern, file: file, acked: &acked, done: done}
		for {
			err := engines[i%len(engines)].Do(func(e *stack.Engine) {
				s.e = e
				if _, err := e.DialTCP(dst, s); err != nil {
					done <- senderDone{err: err, at: time.Now()}
				}
			})
			if err == nil {
				break
			}
			time.Sleep(time.Millisecond) // the command queue is full: let it drain
		}
	}
	stderr := cmd.ErrOrStderr()
	res := tcpResult{Kernel: kernel.Release(), Device: f.dev, Dst: f.dst, AddrMode: mode, Connections: f.conns,
		Mode: engines[0].Socket().Info().Mode.String(), TXChecksum: txChecksumOf(engines[0]), RSSPorts: st.RSSPorts(), CC: f.cc, Errors: []string{}}
	if !f.json {
		fmt.Fprintf(stderr, "tcp: %d connection(s) to %v, %d bytes each (%s, %s AF_XDP, checksums by %s); ctrl-c stops\n",
			f.conns, dst, f.bytes, mode, res.Mode, res.TXChecksum)
	}
	var tick <-chan time.Time
	if f.interval > 0 {
		t := time.NewTicker(f.interval)
		defer t.Stop()
		tick = t.C
	}
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	ctl, err := serveControl(f.control, controls{
		stats: func() any {
			return map[string]any{"bytes_acked": acked.Load(), "elapsed_s": time.Since(start).Seconds(), "tcp": st.TCPCounters().Map()}
		},
		stop: cancel,
	}, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer closeControl(ctl)
	timeout := time.After(f.timeout)
	var last int64
	lastT := start
	var srtt float64
	var end time.Time
	for finished := 0; finished < f.conns; {
		select {
		case d := <-done:
			finished++
			if d.err != nil {
				res.Errors = append(res.Errors, d.err.Error())
			} else {
				res.Completed++
			}
			res.BytesSent += d.bytes
			srtt += float64(d.srtt)
			end = d.at
		case now := <-tick:
			a := acked.Load()
			t := st.TCPCounters()
			fmt.Fprintf(stderr, "%6.1fs  goodput %sbit/s  conns done %d/%d  retransmits %d\n",
				now.Sub(start).Seconds(), si(float64(a-last)*8/now.Sub(lastT).Seconds()), finished, f.conns, t[tcp.Retransmits])
			last, lastT = a, now
		case <-timeout:
			res.Errors = append(res.Errors, fmt.Sprintf("timed out after %v with %d of %d connections open", f.timeout, f.conns-finished, f.conns))
			finished = f.conns
			end = time.Now()
		case <-ctx.Done():
			res.Errors = append(res.Errors, "interrupted")
			finished = f.conns
			end = time.Now()
		}
	}
	st.Stop()
	werr := st.Wait()
	t := st.TCPCounters()
	res.TCP = t.Map()
	res.Retransmits = t[tcp.Retransmits]
	res.DurationS = end.Sub(start).Seconds()
	if res.DurationS > 0 {
		res.GoodputBPS = float64(res.BytesSent) * 8 / res.DurationS
	}
	if f.conns > 0 {
		res.RTTUs = srtt / float64(f.conns) / 1e3
	}
	res.MSS = min(tc.MSS, 1460)
	if f.json {
		if err := json.NewEncoder(cmd.OutOrStdout()).Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stderr, "sent %d bytes on %d of %d connections in %.2fs: %sbit/s goodput, %d retransmits, srtt %.0f µs\n",
			res.BytesSent, res.Completed, f.conns, res.DurationS, si(res.GoodputBPS), res.Retransmits, res.RTTUs)
		for _, e := range res.Errors {
			fmt.Fprintln(stderr, "error:", e)
		}
	}
	if werr != nil {
		return werr
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("tcp: %d of %d connections failed", len(res.Errors), f.conns)
	}
	return nil
}
