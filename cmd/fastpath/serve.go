package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
	"github.com/spf13/cobra"
)

type serveFlags struct {
	hugePages bool
	dev       string
	netns     string
	addrs     []string
	shared    bool
	gw        []string
	dad       int
	noRA      bool
	routes    bool
	udpEcho   []int
	tcpEcho   []int
	tcpDisc   []int
	http      []int
	httpBody  string
	rr        []int
	metrics   string
	control   string
	queues    string
	idle      string
	mode      string
	checksum  string
	partial   bool
	duration  time.Duration
	interval  time.Duration
	json      bool

	// --request-size and --response-size as given (sizes reads them),
	// and whether --http-body and --request-size were given at all.
	requestSize, responseSize   string
	httpBodySet, requestSizeSet bool
}

func newServeCommand() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --dev IFACE (--addr CIDR | --shared)",
		Short: "Run the engine on a device: answer ARP and ping for its addresses, echo UDP",
		Long: `serve brings the engine up on a device. In dedicated mode (--addr) it owns
addresses the kernel does not hold, answers ARP and ping for them, and echoes
UDP (RFC 862) on the --udp-echo ports. In shared mode (--shared) it uses the
kernel's addresses on the device and takes only the --udp-echo ports and,
with a TCP server, its ports and the ephemeral range 61000-65535; ARP and
ping stay with the kernel, whose routes and neighbours it uses. Everything
else keeps flowing through the kernel. It prints counters every --interval
on stderr and a summary at exit, and stops cleanly on SIGINT or SIGTERM.

Its TCP servers, targets for load generators:
--tcp-echo (RFC 862) and --tcp-discard (RFC 863); --http, an HTTP/1.1
responder with keep-alive that answers every request with --http-body, or
with --response-size bytes of the pattern (byte i is i mod 251; a body
larger than the send buffer streams; 64 B to 1 MiB); and --rr, a
request/response server as netperf's TCP_RR and TCP_CRR: both sides know
the sizes, and every --request-size bytes a client sends (not looked at)
are answered with --response-size bytes of the pattern (1 B to 1 MiB each).
After the client's FIN, --rr answers the complete requests it has, then
closes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f.httpBodySet, f.requestSizeSet = cmd.Flags().Changed("http-body"), cmd.Flags().Changed("request-size")
			return serve(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device to run on (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device (as in ip netns exec)")
	fl.StringSliceVar(&f.addrs, "addr", nil, "address the engine owns, CIDR, IPv4 or IPv6 (repeatable); with --shared, which of the kernel's to use")
	fl.BoolVar(&f.shared, "shared", false, "shared mode: use the kernel's addresses, routes and neighbours; take only the --udp-echo ports")
	fl.StringSliceVar(&f.gw, "gw", nil, "gateway for off-link destinations: one IPv4, one IPv6 (on-link or link-local), or both")
	fl.IntVar(&f.dad, "dad-transmits", 1, "duplicate address detection probes per IPv6 address before it is used, one a second (0: none)")
	fl.BoolVar(&f.noRA, "no-ra", false, "IPv6: do not take the default route from router advertisements (without a --gw of IPv6)")
	fl.BoolVar(&f.routes, "import-routes", false, "also route by the kernel's routes through the device, and follow their changes")
	fl.IntSliceVar(&f.udpEcho, "udp-echo", nil, "UDP port to echo (repeatable)")
	fl.IntSliceVar(&f.tcpEcho, "tcp-echo", nil, "TCP port to echo, RFC 862 (repeatable)")
	fl.IntSliceVar(&f.tcpDisc, "tcp-discard", nil, "TCP port to discard, RFC 863 (repeatable)")
	fl.IntSliceVar(&f.http, "http", nil, "TCP port of a small HTTP/1.1 responder with keep-alive, for load tests (repeatable)")
	fl.StringVar(&f.httpBody, "http-body", "hello from fastpath\n", "the body --http answers every request with (text/plain); --response-size gives bodies of the pattern instead")
	fl.IntSliceVar(&f.rr, "rr", nil, "TCP port of a request/response server, as netperf's TCP_RR: every --request-size bytes received are answered with --response-size bytes (repeatable)")
	fl.StringVar(&f.requestSize, "request-size", "64", "--rr: the bytes of every request, 1 B to 1 MiB (a number, or with a KiB or MiB suffix)")
	fl.StringVar(&f.responseSize, "response-size", "0", "the bytes of every response of the pattern (byte i is i mod 251): --rr's, 1 B to 1 MiB (required with --rr); --http's body instead of --http-body, 64 B to 1 MiB (application/octet-stream); 0: none, --http answers with --http-body")
	fl.StringVar(&f.queues, "queues", "0", "queues to run engines on: a list such as 0,1 (one engine each), or all (every queue in use)")
	fl.StringVar(&f.idle, "idle", "adaptive", "idle policy: busy (spin) or adaptive (spin, then sleep in poll)")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.StringVar(&f.checksum, "tx-checksum", "auto", txChecksumUsage)
	fl.BoolVar(&f.partial, "accept-partial-checksum", false, acceptPartialUsage)
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print counters (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.BoolVar(&f.hugePages, "huge-pages", false, hugePagesUsage)
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage)
	return cmd
}

// parseQueues reads the --queues of the engine's commands (serve, sink,
// tcp): a list, or all, which is nil: stack.New then takes every queue in
// use.
func parseQueues(s string) ([]int, error) {
	if s == "all" {
		return nil, nil
	}
	qs, err := parseList("queues", s)
	if err != nil {
		return nil, fmt.Errorf("%w, or all", err)
	}
	for i, q := range qs {
		if slices.Contains(qs[:i], q) {
			// Two sockets on one queue would fight over its rings: the
			// second bind fails with EBUSY after seconds of retries.
			return nil, fmt.Errorf("--queues %s: queue %d is given twice; give each queue once (one engine or sender per queue)", s, q)
		}
	}
	return qs, nil
}

func serveConfig(f serveFlags) (stack.Config, error) {
	cfg := stack.DefaultConfig()
	cfg.XSK.UMEMOptions.HugePages = f.hugePages
	if f.dev == "" {
		return cfg, fmt.Errorf("--dev is required: the device to run on")
	}
	cfg.Device = f.dev
	cfg.Shared = f.shared
	if len(f.addrs) == 0 && !f.shared {
		return cfg, fmt.Errorf("--addr is required: an address for the engine to own, such as 198.18.0.10/24 (one the kernel does not hold); or --shared to use the kernel's")
	}
	for _, a := range f.addrs {
		p, err := netip.ParsePrefix(a)
		if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
			return cfg, fmt.Errorf("--addr %q: use an address with its prefix length, such as 198.18.0.10/24 or 2001:db8::10/64", a)
		}
		cfg.Addrs = append(cfg.Addrs, p)
	}
	for _, g := range f.gw {
		gw, err := netip.ParseAddr(g)
		switch {
		case err != nil || gw.Is4In6():
			return cfg, fmt.Errorf("--gw %q: use an IPv4 or IPv6 address", g)
		case gw.Is4() && cfg.Gateway.IsValid() || gw.Is6() && cfg.Gateway6.IsValid():
			return cfg, fmt.Errorf("--gw %s: one gateway per family", g)
		case gw.Is4():
			cfg.Gateway = gw
		default:
			cfg.Gateway6 = gw
		}
	}
	if f.dad < 0 || f.dad > 10 {
		return cfg, fmt.Errorf("--dad-transmits %d: use 0 (none) to 10", f.dad)
	}
	cfg.DADTransmits, cfg.AcceptRA = f.dad, !f.noRA
	for name, ports := range map[string][]int{"udp-echo": f.udpEcho, "tcp-echo": f.tcpEcho, "tcp-discard": f.tcpDisc, "http": f.http, "rr": f.rr} {
		for _, p := range ports {
			if p < 1 || p > 65535 {
				return cfg, fmt.Errorf("--%s %d: use a port from 1 to 65535", name, p)
			}
		}
	}
	if _, _, err := f.sizes(); err != nil {
		return cfg, err
	}
	cfg.ImportRoutes = f.routes
	cfg.AcceptPartialChecksum = f.partial
	var err error
	if cfg.Queues, err = parseQueues(f.queues); err != nil {
		return cfg, err
	}
	if cfg.Idle, err = stack.ParseIdle(f.idle); err != nil {
		return cfg, fmt.Errorf("--idle %q: use busy or adaptive", f.idle)
	}
	if cfg.XSK.Mode, err = port.ParseMode(f.mode); err != nil {
		return cfg, fmt.Errorf("--mode %q: use auto, copy or zerocopy", f.mode)
	}
	if cfg.TXChecksum, err = parseTXChecksum(f.checksum); err != nil {
		return cfg, err
	}
	if f.duration < 0 || f.interval < 0 {
		return cfg, fmt.Errorf("--duration and --interval must not be negative")
	}
	return cfg, nil
}

// serveResult is the summary, also printed with --json.
type serveResult struct {
	Device   string   `json:"device"`
	Addrs    []string `json:"addrs"`
	AddrMode string   `json:"addr_mode"`
	Queues   []int    `json:"queues"`
	Mode     string   `json:"mode"`
	XDPMode  string   `json:"xdp_mode"`
	// TXChecksum: who computes the TCP checksums, offload (the device or
	// the kernel, on request through TX metadata) or engine.
	TXChecksum string            `json:"tx_checksum"`
	DurationS  float64           `json:"duration_s"`
	Counters   map[string]uint64 `json:"counters"`
	Drops      uint64            `json:"drops"`
	TCP        map[string]uint64 `json:"tcp,omitempty"`
	// ControlPlane: the netlink route (and neighbour) sync, with
	// --shared or --import-routes.
	ControlPlane *stack.ControlStatus `json:"control_plane,omitempty"`
	// TCPBytesPerConn is the memory one TCP connection takes (state,
	// send and receive buffers), with a TCP server on.
	TCPBytesPerConn int `json:"tcp_bytes_per_conn,omitempty"`
}

// sizes reads --request-size and --response-size (0 or empty: not
// given) and checks them against the servers that use them: --rr's
// requests and responses, --http's bodies.
func (f serveFlags) sizes() (request, response int, err error) {
	read := func(name, v string) (int, error) {
		if v = strings.TrimSpace(v); v == "" || v == "0" {
			return 0, nil
		}
		n, err := parseSize(v)
		if err != nil {
			return 0, fmt.Errorf("--%s %w", name, err)
		}
		return int(min(n, tcpapp.MaxMessage+1)), nil
	}
	if request, err = read("request-size", f.requestSize); err != nil {
		return 0, 0, err
	}
	if response, err = read("response-size", f.responseSize); err != nil {
		return 0, 0, err
	}
	switch {
	case response > 0 && f.httpBodySet:
		return 0, 0, fmt.Errorf("--http-body and --response-size are exclusive: --http-body gives --http a fixed body, --response-size a body of that many bytes of the pattern (and --rr its responses); give one")
	case response > 0 && len(f.http)+len(f.rr) == 0:
		return 0, 0, fmt.Errorf("--response-size %s: it sizes the responses of --http and --rr; give one of them", f.responseSize)
	case f.requestSizeSet && len(f.rr) == 0:
		return 0, 0, fmt.Errorf("--request-size %s: it sizes the requests of --rr; give --rr PORT", f.requestSize)
	}
	const bulk = "past 1 MiB an exchange is a bulk transfer (fastpath tcp)"
	if len(f.rr) > 0 {
		switch {
		case response == 0:
			return 0, 0, fmt.Errorf("--rr needs --response-size: the bytes it answers every --request-size bytes with, 1 B to 1 MiB")
		case request < 1 || request > tcpapp.MaxMessage:
			return 0, 0, fmt.Errorf("--request-size %s: use 1 B to 1 MiB with --rr: a request has at least one byte, and %s", f.requestSize, bulk)
		case response > tcpapp.MaxMessage:
			return 0, 0, fmt.Errorf("--response-size %s: use 1 B to 1 MiB with --rr: %s", f.responseSize, bulk)
		}
	}
	if len(f.http) > 0 && response > 0 && (response < tcpapp.MinHTTPPatternSize || response > tcpapp.MaxMessage) {
		return 0, 0, fmt.Errorf("--response-size %s: use 64 B to 1 MiB with --http: a smaller body is --http-body's (a fixed text), and %s", f.responseSize, bulk)
	}
	return request, response, nil
}

// serveTCP enables TCP and starts the --tcp-echo, --tcp-discard, --http
// and --rr servers, if any.
func serveTCP(st *stack.Stack, f serveFlags) error {
	if !f.tcpOn() {
		return nil
	}
	request, response, err := f.sizes()
	if err != nil {
		return err
	}
	if err := st.EnableTCP(tcp.DefaultConfig()); err != nil {
		return err
	}
	for _, p := range f.tcpEcho {
		if err := tcpapp.ListenEcho(st, uint16(p)); err != nil {
			return err
		}
	}
	for _, p := range f.tcpDisc {
		if err := tcpapp.ListenDiscard(st, uint16(p)); err != nil {
			return err
		}
	}
	for _, p := range f.http {
		if response > 0 {
			err = tcpapp.ListenHTTPPattern(st, uint16(p), response)
		} else {
			err = tcpapp.ListenHTTP(st, uint16(p), f.httpBody)
		}
		if err != nil {
			return err
		}
	}
	for _, p := range f.rr {
		if err := tcpapp.ListenRR(st, uint16(p), tcpapp.RRConfig{RequestSize: request, ResponseSize: response}); err != nil {
			return err
		}
	}
	return nil
}

// tcpOn reports whether serve runs a TCP server.
func (f serveFlags) tcpOn() bool { return len(f.tcpEcho)+len(f.tcpDisc)+len(f.http)+len(f.rr) > 0 }

func serve(cmd *cobra.Command, f serveFlags) error {
	cfg, err := serveConfig(f)
	if err != nil {
		return err
	}
	// The stack's notices, its control plane's log lines and the live
	// lines share stderr (noticesTo makes it safe to).
	cfg.Notice = noticesTo(cmd)
	stderr := cmd.ErrOrStderr()
	cfg.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	ctx, ctl, end, err := listenControl(cmd, f.control, stderr)
	if err != nil {
		return err
	}
	defer end()
	st, err := openServe(cfg, f)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			st.Close()
		}
	}()
	defer ctl.Close() // before the stack closes
	hugePagesNote(f.hugePages, st.Port().Modes(), stderr)
	res := announceServe(st, cfg, f, stderr)
	if err := st.Start(); err != nil {
		return err
	}
	ms, err := serveMetrics(f.metrics, metrics.Stack(st, f.dev), stderr)
	if err != nil {
		return err
	}
	defer ms.Close()
	start := time.Now()
	ctl.Attach(controls{Stats: func() any { return serveStats(st, f, start) }, Ready: stackReady(st)})
	serveLoop(ctx, st, f, start, stderr)
	st.Stop()
	if err := st.Wait(); err != nil {
		return err
	}
	c := st.Counters()
	res.ControlPlane = controlPlane(st)
	ctl.Close()
	closed = true
	if err := st.Close(); err != nil {
		return fmt.Errorf("serve: shutting down: %w", err)
	}
	res.DurationS = time.Since(start).Seconds()
	res.Counters = c.Map()
	if f.tcpOn() {
		res.TCP = st.TCPCounters().Map()
	}
	res.Drops = c.Drops()
	return printServeResult(cmd, f, res, c)
}

// openServe opens the stack in --netns and binds the --udp-echo ports and
// the TCP servers.
func openServe(cfg stack.Config, f serveFlags) (*stack.Stack, error) {
	var st *stack.Stack
	err := port.InNetns(f.netns, func() (err error) {
		if st, err = stack.New(cfg); err != nil {
			return err
		}
		for _, p := range f.udpEcho {
			// RFC 862: send back what came in; Reply turns the frame
			// around in place.
			if err := st.BindUDP(uint16(p), func(d *stack.Datagram) { d.Reply(d.Payload) }); err != nil {
				return err
			}
		}
		return serveTCP(st, f)
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return nil, err
	}
	return st, nil
}

// announceServe prints what serve runs (on stderr with --json too:
// scripts wait for it) and a warning for queues without an engine, and
// returns the summary's first fields.
func announceServe(st *stack.Stack, cfg stack.Config, f serveFlags, stderr io.Writer) serveResult {
	addrMode := "dedicated"
	if cfg.Shared {
		addrMode = "shared"
	}
	var addrs []string
	for _, a := range st.Addrs() {
		addrs = append(addrs, a.String())
	}
	modes := st.Port().Modes()
	res := serveResult{Device: f.dev, Addrs: addrs, AddrMode: addrMode, Queues: st.Queues(), Mode: modes.AFXDP.String(), XDPMode: modes.XDP,
		TXChecksum: txChecksumOf(st.Engines()[0])}
	tcpMem := ""
	if h := st.Engines()[0].TCP(); h != nil {
		cfg := h.Config()
		res.TCPBytesPerConn = cfg.BytesPerConn()
		tcpMem = fmt.Sprintf(" (%s per connection, up to %d per queue)", sizeString(int64(res.TCPBytesPerConn)), cfg.MaxConns)
	}
	request, response, _ := f.sizes() // checked by serveConfig
	httpLine, rrLine := "", ""
	if len(f.http) > 0 && response > 0 {
		httpLine = fmt.Sprintf(" (bodies of %s)", sizeString(int64(response)))
	}
	if len(f.rr) > 0 {
		rrLine = fmt.Sprintf(" (requests of %s, responses of %s)", sizeString(int64(request)), sizeString(int64(response)))
	}
	fmt.Fprintf(stderr, "serving %v (%s) on %s queues %v (%s AF_XDP, %s XDP, TCP checksums by %s); udp echo %v; tcp echo %v discard %v http %v%s rr %v%s%s; ctrl-c stops\n",
		addrs, addrMode, f.dev, st.Queues(), res.Mode, res.XDPMode, res.TXChecksum, f.udpEcho, f.tcpEcho, f.tcpDisc, f.http, httpLine, f.rr, rrLine, tcpMem)
	if q := st.UnservedQueues(); len(q) > 0 && !cfg.Shared {
		fmt.Fprintf(stderr, "warning: %s queues %v have no engine: flows that RSS puts there go to the kernel, which does not hold %v; run an engine on every queue (--queues) or steer the flows with ethtool -N\n",
			f.dev, q, f.addrs)
	}
	return res
}

// serveStats is the control API's view of a running serve.
func serveStats(st *stack.Stack, f serveFlags, start time.Time) any {
	c := st.Counters()
	v := map[string]any{"elapsed_s": time.Since(start).Seconds(), "counters": c.Map(), "drops": c.Drops()}
	if f.tcpOn() {
		v["tcp"] = st.TCPCounters().Map()
	}
	if cp := controlPlane(st); cp != nil {
		v["control_plane"] = cp
	}
	return v
}

// controlPlane is the stack's control plane status, nil when it has none.
func controlPlane(st *stack.Stack) *stack.ControlStatus {
	cs := st.ControlStatus()
	if cs.State == stack.ControlOff {
		return nil
	}
	return &cs
}

// controlLine says, for the live lines, what is wrong with the control
// plane; "" when it follows the kernel (or there is none).
func controlLine(cs stack.ControlStatus, now time.Time) string {
	switch cs.State {
	case stack.ControlFailing:
		return fmt.Sprintf("        control plane: failing for %v (%d attempts; next in %v): %s; the engines keep the routes they have",
			now.Sub(cs.Since).Round(time.Millisecond), cs.Failures, max(cs.Retry.Sub(now), 0).Round(time.Millisecond), cs.Error)
	case stack.ControlResyncing:
		return fmt.Sprintf("        control plane: resyncing with the kernel for %v", now.Sub(cs.Since).Round(time.Millisecond))
	}
	return ""
}

// serveLoop prints the counters every --interval until ctx ends,
// --duration passes or an engine stops.
func serveLoop(ctx context.Context, st *stack.Stack, f serveFlags, start time.Time, stderr io.Writer) {
	var last stack.Counters
	// An engine that stops on its own failed: Wait says why.
	live(ctx, f.duration, every(f.interval, f.json), []<-chan struct{}{st.Done()}, nil, func(now time.Time) {
		c := st.Counters()
		fmt.Fprintf(stderr, "%6.1fs  rx %d  tx %d  arp in %d out %d  icmp echo %d  udp %d  drops %d\n",
			now.Sub(start).Seconds(), c[stack.RXFrames]-last[stack.RXFrames], c[stack.TXFrames]-last[stack.TXFrames],
			c[stack.ARPRequestsIn]-last[stack.ARPRequestsIn], c[stack.ARPRepliesOut]-last[stack.ARPRepliesOut],
			c[stack.ICMPEchoOut]-last[stack.ICMPEchoOut], c[stack.UDPIn]-last[stack.UDPIn], c.Drops()-last.Drops())
		last = c
		if line := controlLine(st.ControlStatus(), now); line != "" {
			fmt.Fprintln(stderr, line)
		}
		if f.tcpOn() {
			t := st.TCPCounters()
			fmt.Fprintf(stderr, "        tcp: conns %d open, %d established total, segs in %d out %d, retransmits %d, resets in %d out %d\n",
				t.Open(), t[tcp.Established], t[tcp.SegsIn], t[tcp.SegsOut], t[tcp.Retransmits], t[tcp.ResetsIn], t[tcp.ResetsOut])
		}
	})
}

// printServeResult prints the summary: JSON on stdout with --json, else
// the totals and every non-zero counter on stderr.
func printServeResult(cmd *cobra.Command, f serveFlags, res serveResult, c stack.Counters) error {
	if f.json {
		return json.NewEncoder(cmd.OutOrStdout()).Encode(res)
	}
	stderr := cmd.ErrOrStderr()
	fmt.Fprintf(stderr, "served %.1fs: %d frames in, %d out, %d dropped\n", res.DurationS, c[stack.RXFrames], c[stack.TXFrames], res.Drops)
	if cp := res.ControlPlane; cp != nil {
		fmt.Fprintf(stderr, "  control plane %s, %d snapshots of the kernel's tables", cp.State, cp.Snapshots)
		if cp.Error != "" {
			fmt.Fprintf(stderr, "; last error at %s: %s", cp.ErrorAt.Format(time.TimeOnly), cp.Error)
		}
		fmt.Fprintln(stderr)
	}
	for i := stack.Counter(0); i < stack.NumCounters; i++ {
		if c[i] != 0 {
			fmt.Fprintf(stderr, "  %-22s %d\n", i, c[i])
		}
	}
	return nil
}

const txChecksumUsage = "who computes TCP checksums: auto (the device or the kernel on request through AF_XDP TX metadata where it can, else the engine), engine, offload (fail where it cannot), or kernel (copy mode: the kernel computes them in software)"

func parseTXChecksum(v string) (stack.ChecksumMode, error) {
	m, err := stack.ParseChecksumMode(v)
	if err != nil {
		return 0, fmt.Errorf("--tx-checksum %q: use auto, engine, offload or kernel", v)
	}
	return m, nil
}

// txChecksumOf names who computes an engine's TCP checksums.
func txChecksumOf(e *stack.Engine) string {
	if e.ChecksumOffload() {
		return "offload"
	}
	return "engine"
}
