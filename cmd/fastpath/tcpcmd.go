package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/internal/control"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
	"github.com/spf13/cobra"
)

type tcpFlags struct {
	hugePages                 bool
	dev, netns, dst, addr, gw string
	file, cc, queues, cores   string
	metrics, control          string
	maxMemory                 string
	bytes                     int64
	conns                     int
	noDelay, partial          bool
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
	fl.IntVar(&f.conns, "conns", 1, "connections to open (at most one per ephemeral port, 61000-65535, and within --max-memory)")
	fl.StringVar(&f.maxMemory, "max-memory", "4GiB", "memory the connections may take (--conns × the bytes one takes, printed), in bytes or with a KiB, MiB or GiB suffix")
	fl.StringVar(&f.addr, "addr", "", "an address of the engine's own, CIDR (dedicated mode); default: the kernel's (shared mode)")
	fl.StringVar(&f.gw, "gw", "", "dedicated mode: gateway for off-link destinations")
	fl.StringVar(&f.file, "file", "", "send this file's content on each connection instead of the pattern")
	fl.StringVar(&f.cc, "cc", tcp.DefaultCongestionControl, "congestion control: cubic or newreno")
	fl.BoolVar(&f.noDelay, "no-delay", false, "turn Nagle's algorithm off")
	fl.StringVar(&f.checksum, "tx-checksum", "auto", txChecksumUsage)
	fl.BoolVar(&f.partial, "accept-partial-checksum", false, acceptPartialUsage)
	fl.StringVar(&f.queues, "queues", "0", "queues to run engines on: a list such as 0,1, or all (every queue in use)")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the engines to, a list")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up after this long")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.BoolVar(&f.hugePages, "huge-pages", false, hugePagesUsage)
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

// tcpResult is tcp's summary: the command's fields, then the transfer's.
type tcpResult struct {
	Kernel     string `json:"kernel"`
	Device     string `json:"device"`
	Dst        string `json:"dst"`
	AddrMode   string `json:"addr_mode"`
	Mode       string `json:"mode"`
	TXChecksum string `json:"tx_checksum"`
	RSSPorts   bool   `json:"rss_ports"` // local ports chosen by the device's RSS hash
	// PortSelection: how the engines split the ephemeral range, and why
	// not by RSS when not.
	PortSelection string `json:"port_selection"`
	MSS           int    `json:"mss"`
	CC            string `json:"congestion_control"`
	// BytesPerConn is the memory one connection takes (tcp.Config.BytesPerConn):
	// its state and its send and receive buffers.
	BytesPerConn int `json:"bytes_per_conn"`
	tcpapp.BulkResult
}

// tcpRun is what tcpMain parsed from its flags.
type tcpRun struct {
	cfg     stack.Config
	tcp     tcp.Config
	dst     netip.AddrPort
	mode    string // shared or dedicated
	content []byte // --file's, or nil: the pattern
}

func tcpMain(cmd *cobra.Command, f tcpFlags) error {
	r, err := tcpRunOf(&f)
	if err != nil {
		return err
	}
	// The stack's notices, its control plane's log lines and the live
	// lines share stderr (noticesTo makes it safe to).
	r.cfg.Notice = noticesTo(cmd)
	stderr := cmd.ErrOrStderr()
	r.cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	ctx, ctl, end, err := listenControl(cmd, f.control, stderr)
	if err != nil {
		return err
	}
	defer end()
	var st *stack.Stack
	err = port.InNetns(f.netns, func() error {
		if st, err = stack.New(r.cfg); err != nil {
			return err
		}
		return st.EnableTCP(r.tcp)
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return err
	}
	defer st.Close()
	defer ctl.Close() // before the stack closes
	if err := st.Start(); err != nil {
		return err
	}
	ms, err := serveMetrics(f.metrics, metrics.Stack(st, f.dev), cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer ms.Close()
	return tcpSend(ctx, cmd, st, ctl, f, r)
}

// tcpRunOf checks the flags and builds the stack's and TCP's
// configurations; with --file it reads the file and sets f.bytes.
func tcpRunOf(f *tcpFlags) (tcpRun, error) {
	var r tcpRun
	if f.dev == "" {
		return r, errors.New("--dev is required: the device to run on")
	}
	var err error
	if r.dst, err = netip.ParseAddrPort(f.dst); err != nil || r.dst.Addr().Is4In6() || r.dst.Addr().Zone() != "" {
		return r, fmt.Errorf("--dst %q: use an address and port, such as 198.18.0.2:5201 or [2001:db8::2]:5201", f.dst)
	}
	if f.file != "" {
		if r.content, err = os.ReadFile(f.file); err != nil {
			return r, fmt.Errorf("--file: %w", err)
		}
		f.bytes = int64(len(r.content))
	} else if f.bytes <= 0 {
		return r, fmt.Errorf("--bytes %d: give a positive byte count (or --file)", f.bytes)
	}
	if f.conns < 1 {
		return r, fmt.Errorf("--conns %d: open at least one", f.conns)
	}
	maxMem, err := parseSize(f.maxMemory)
	if err != nil {
		return r, fmt.Errorf("--max-memory: %w", err)
	}
	if _, err := tcp.NewCongestionControl(f.cc); err != nil {
		return r, fmt.Errorf("--cc %q: use cubic or newreno", f.cc)
	}
	if r.cfg, r.mode, err = tcpStackConfig(*f); err != nil {
		return r, err
	}
	r.tcp = tcp.DefaultConfig()
	r.tcp.CongestionControl = f.cc
	r.tcp.NoDelay = f.noDelay
	r.tcp.MaxConns = max(r.tcp.MaxConns, f.conns+64)
	return r, tcpConnsFit(f.conns, r.tcp, maxMem)
}

// tcpConnsFit checks that conns connections to one destination can be
// open at once: one ephemeral port each (every engine's share of the
// range together), and their memory within maxMem.
func tcpConnsFit(conns int, cfg tcp.Config, maxMem int64) error {
	if ports := int(cfg.EphemeralHi) - int(cfg.EphemeralLo) + 1; conns > ports {
		return fmt.Errorf("--conns %d: one destination takes at most %d connections at once, one per ephemeral port (%d-%d); use --conns %d or fewer",
			conns, ports, cfg.EphemeralLo, cfg.EphemeralHi, ports)
	}
	per := int64(cfg.BytesPerConn())
	if need := int64(conns) * per; need > maxMem {
		return fmt.Errorf("--conns %d: at %s each (state, send and receive buffers) the connections take %s, more than --max-memory %s; give --max-memory %dMiB or more, or --conns %d or fewer",
			conns, sizeString(per), sizeString(need), sizeString(maxMem), (need+1<<20-1)>>20, maxMem/per)
	}
	return nil
}

// parseSize reads a byte count: a number, or one with a KiB, MiB or GiB
// suffix (K, M, G too).
func parseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = n, u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q: give a positive size in bytes, or with a KiB, MiB or GiB suffix (4GiB)", s)
	}
	return v * mult, nil
}

// sizeString prints a byte count in the largest binary unit it fills.
func sizeString(n int64) string {
	for _, u := range []struct {
		unit string
		size int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size {
			return fmt.Sprintf("%.4g %s", float64(n)/float64(u.size), u.unit)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// tcpStackConfig is the stack's configuration for the tcp command, and its
// address mode: shared unless --addr gives the engine an address.
func tcpStackConfig(f tcpFlags) (stack.Config, string, error) {
	cfg := stack.DefaultConfig()
	cfg.XSK.UMEMOptions.HugePages = f.hugePages
	cfg.Device = f.dev
	cfg.Idle = stack.IdleBusy
	cfg.AcceptPartialChecksum = f.partial
	var err error
	if cfg.TXChecksum, err = parseTXChecksum(f.checksum); err != nil {
		return cfg, "", err
	}
	if cfg.Queues, err = parseQueues(f.queues); err != nil {
		return cfg, "", err
	}
	if f.cores != "" {
		if cfg.Cores, err = parseList("cores", f.cores); err != nil {
			return cfg, "", err
		}
	}
	if f.addr == "" {
		if f.gw != "" {
			return cfg, "", fmt.Errorf("--gw %s without --addr: in shared mode the engine routes by the kernel's routes; give --addr for an address of the engine's own, or drop --gw", f.gw)
		}
		cfg.Shared = true
		cfg.ImportRoutes = true
		return cfg, "shared", nil
	}
	p, err := netip.ParsePrefix(f.addr)
	if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return cfg, "", fmt.Errorf("--addr %q: use an address with its prefix length, such as 198.18.0.10/24 or 2001:db8::10/64", f.addr)
	}
	cfg.Addrs = []netip.Prefix{p}
	if f.gw != "" {
		gw, err := netip.ParseAddr(f.gw)
		if err != nil || gw.Is4() != p.Addr().Is4() {
			return cfg, "", fmt.Errorf("--gw %q: use an address of --addr's family", f.gw)
		}
		if gw.Is4() {
			cfg.Gateway = gw
		} else {
			cfg.Gateway6 = gw
		}
	}
	return cfg, "dedicated", nil
}

// tcpSend opens the connections on the running stack, follows them to
// the end (or ctx's), and prints the summary; ctl (nil: none) is the
// control API, listening since the start.
func tcpSend(ctx context.Context, cmd *cobra.Command, st *stack.Stack, ctl *control.Server, f tcpFlags, r tcpRun) error {
	b, err := tcpapp.StartBulk(st, tcpapp.BulkConfig{Dst: r.dst, Conns: f.conns, Bytes: f.bytes, Content: r.content, Timeout: f.timeout})
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	hugePagesNote(f.hugePages, st.Port().Modes(), stderr)
	res := tcpResult{Kernel: st.Port().Facts.Kernel, Device: f.dev, Dst: f.dst, AddrMode: r.mode, Mode: st.Port().Modes().AFXDP.String(),
		TXChecksum: txChecksumOf(st.Engines()[0]), RSSPorts: st.RSSPorts(), PortSelection: st.PortSelection(), CC: f.cc, MSS: min(r.tcp.MSS, 1460),
		BytesPerConn: r.tcp.BytesPerConn()}
	if !f.json {
		fmt.Fprintf(stderr, "tcp: %d connection(s) to %v, %d bytes each (%s, %s AF_XDP, checksums by %s; %s of memory per connection, %s in all); ctrl-c stops\n",
			f.conns, r.dst, f.bytes, r.mode, res.Mode, res.TXChecksum, sizeString(int64(res.BytesPerConn)), sizeString(int64(f.conns)*int64(res.BytesPerConn)))
	}
	ctl.Attach(controls{
		Stats: func() any {
			acked, _ := b.Progress()
			return map[string]any{"bytes_acked": acked, "elapsed_s": time.Since(b.Started()).Seconds(), "tcp": st.TCPCounters().Map()}
		},
		Ready: stackReady(st),
	})
	resc, waited := make(chan tcpapp.BulkResult, 1), make(chan struct{})
	go func() { resc <- b.Wait(ctx); close(waited) }()
	var last int64
	lastT := b.Started()
	live(ctx, 0, every(f.interval, f.json), []<-chan struct{}{waited}, nil, func(now time.Time) {
		a, finished := b.Progress()
		fmt.Fprintf(stderr, "%6.1fs  goodput %sbit/s  conns done %d/%d  retransmits %d\n", now.Sub(b.Started()).Seconds(),
			si(float64(a-last)*8/now.Sub(lastT).Seconds()), finished, f.conns, st.TCPCounters()[tcp.Retransmits])
		last, lastT = a, now
	})
	res.BulkResult = <-resc
	if err := printTCPResult(cmd, f, res); err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return fmt.Errorf("tcp: %d of %d connections failed (%d error(s), the first: %s)", f.conns-res.Completed, f.conns, len(res.Errors), res.Errors[0])
	}
	return nil
}

// printTCPResult prints the summary: JSON on stdout with --json, else a
// line and the errors on stderr.
func printTCPResult(cmd *cobra.Command, f tcpFlags, res tcpResult) error {
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "sent %d bytes on %d of %d connections in %.2fs: %sbit/s goodput, %d retransmits, srtt %.0f µs\n",
		res.BytesSent, res.Completed, f.conns, res.DurationS, si(res.GoodputBPS), res.Retransmits, res.RTTUs)
	for _, e := range res.Errors {
		fmt.Fprintln(stderr, "error:", e)
	}
	return nil
}
