package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/load"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/spf13/cobra"
)

type loadFlags struct {
	tcpFlags // the engine's: --dev, --netns, --addr, --gw, --queues, --cores, ...
	src      string
	idle     string
	mode     string
	cps      float64
	count    int64
	requests int
	http     string
	host     string
	reqSize  int
	respSize int
	status   int
	duration time.Duration
	grace    time.Duration
	shard    string
	startAt  string
	linger   time.Duration
}

func newLoadCommand() *cobra.Command {
	var f loadFlags
	cmd := &cobra.Command{
		Use:   "load --dev IFACE --dst IP:PORT (--cps N | --conns C) (--http PATH | --response-size B)",
		Short: "Open TCP connections at a rate from the engine, send requests on them, check every response",
		Long: `load is a stateful load generator: the engine opens TCP connections to --dst
at --cps per second (or keeps --conns open), sends --requests requests on each
(keep-alive), checks every response and closes. --http PATH sends HTTP/1.1 GETs
(the last with Connection: close: the server closes first and keeps
TIME-WAIT); without it each request is --request-size bytes and each response
--response-size bytes, the raw request/response of serve --rr (the client
closes; its TIME-WAIT ports are reused after 1 s, as Linux's tcp_tw_reuse,
made safe by timestamps). A response is correct when its status is --status,
and with --response-size its length is that and its body the pattern byte i =
i mod 251. Latencies (connect, first byte, whole response) are recorded in
HdrHistograms. By default the engine shares the kernel's addresses (ports
61000-65535); --addr gives it one of its own (every port), --src more.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return loadMain(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.dev, "dev", "", "device (required)")
	fl.StringVar(&f.netns, "netns", "", "named network namespace of the device")
	fl.StringVar(&f.dst, "dst", "", "server IP:PORT (required)")
	fl.Float64Var(&f.cps, "cps", 0, "new connections per second (paced); 0: as fast as --conns allows")
	fl.IntVar(&f.conns, "conns", 0, "connections to keep open, each replaced as it closes (within --cps)")
	fl.IntVar(&f.requests, "requests", 1, "requests per connection (keep-alive), one after the other")
	fl.Int64Var(&f.count, "count", 0, "connections to open in all, then stop (0: until --duration or ctrl-c)")
	fl.StringVar(&f.shard, "shard", "", "I/N: this host is shard I (0 to N-1) of N running one fleet's load: --cps, --conns and --count are the fleet's, each shard taking its share")
	fl.StringVar(&f.startAt, "start-at", "", "open the first connection at this time, RFC 3339 (2026-12-04T23:30:00Z): hosts given the same time start together; a time past is an error")
	fl.DurationVar(&f.linger, "linger", 0, lingerUsage)
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "how long to run (0: until --count or ctrl-c)")
	fl.StringVar(&f.http, "http", "", "HTTP/1.1 GET this path on each request")
	fl.StringVar(&f.host, "host", "", "the Host header (default: --dst)")
	fl.IntVar(&f.status, "status", 200, "the HTTP status every response must have")
	fl.IntVar(&f.reqSize, "request-size", 64, "raw requests: bytes per request")
	fl.IntVar(&f.respSize, "response-size", 0, "bytes per response: raw (required without --http), or the HTTP body length every response must have (then its content is checked too)")
	fl.DurationVar(&f.timeout, "timeout", 5*time.Second, "a handshake or a response not done in this long fails the connection (timeout)")
	fl.DurationVar(&f.grace, "grace", time.Second, "at the end, how long open connections get to finish before they are reset")
	fl.StringVar(&f.addr, "addr", "", "an address of the engine's own, CIDR (dedicated mode); default: the kernel's (shared mode)")
	fl.StringVar(&f.src, "src", "", "with --addr: more client addresses of the engine's own, a CIDR inside --addr's prefix (198.18.0.128/25); connections take them in turn")
	fl.StringVar(&f.gw, "gw", "", "dedicated mode: gateway for off-link destinations")
	fl.StringVar(&f.cc, "cc", tcp.DefaultCongestionControl, "congestion control: cubic or newreno")
	fl.StringVar(&f.maxMemory, "max-memory", "4GiB", "memory the connections may take at most (printed at the start), in bytes or with a KiB, MiB or GiB suffix")
	fl.StringVar(&f.checksum, "tx-checksum", "auto", txChecksumUsage)
	fl.BoolVar(&f.partial, "accept-partial-checksum", false, acceptPartialUsage)
	fl.StringVar(&f.queues, "queues", "0", "queues to run engines on (one each, each owning its connections): a list such as 0,1, or all")
	fl.StringVar(&f.cores, "cores", "", "cores to pin the engines to, a list")
	fl.StringVar(&f.idle, "idle", "busy", "idle policy: busy (spin: lowest latency) or adaptive (sleep up to 1 ms when idle)")
	fl.StringVar(&f.mode, "mode", "auto", "AF_XDP mode: auto, copy or zerocopy")
	fl.DurationVar(&f.interval, "interval", time.Second, "how often to print live stats (0: never)")
	fl.BoolVar(&f.json, "json", false, "print the summary as one JSON object on stdout")
	fl.BoolVar(&f.hugePages, "huge-pages", false, hugePagesUsage)
	fl.StringVar(&f.metrics, "metrics", "", metricsUsage)
	fl.StringVar(&f.control, "control", "", controlUsage+" (the rate: connections per second)")
	return cmd
}

// loadRun is what loadMain parsed from its flags.
type loadRun struct {
	stack  stack.Config
	base   tcp.Config // TCP's configuration before sizing (sizeTables)
	tcp    tcp.Config
	load   load.Config
	mode   string // shared or dedicated
	maxMem int64
	// shard is --shard's I/N, startAt --start-at's time (zero: at once).
	shard   string
	startAt time.Time
}

func loadRunOf(f loadFlags) (loadRun, error) {
	var r loadRun
	if f.dev == "" {
		return r, errors.New("--dev is required: the device to run on")
	}
	dst, err := netip.ParseAddrPort(f.dst)
	if err != nil || dst.Addr().Is4In6() || dst.Addr().Zone() != "" || dst.Port() == 0 {
		return r, fmt.Errorf("--dst %q: use an address and port, such as 198.18.0.2:80 or [2001:db8::2]:80", f.dst)
	}
	c := load.DefaultConfig()
	c.Dst, c.CPS, c.Conns, c.Count, c.Requests, c.Timeout = dst, f.cps, f.conns, f.count, f.requests, f.timeout
	if f.shard != "" {
		i, n, err := parseShard(f.shard)
		if err != nil {
			return r, err
		}
		// The fleet's figures, shared out as the engines share theirs.
		c = c.Share(i, n)
		if c.CPS == 0 && c.Conns == 0 {
			return r, fmt.Errorf("--shard %s: --cps %v and --conns %d over %d shards leave shard %d nothing to open", f.shard, f.cps, f.conns, n, i)
		}
		r.shard = f.shard
	}
	if f.startAt != "" {
		if r.startAt, err = parseStartAt(f.startAt); err != nil {
			return r, err
		}
		// Paused until the fleet's start: the engines run, no
		// connection opens.
		c.Paused = true
	}
	c.HTTP, c.Path, c.Host, c.Status = f.http != "", f.http, f.host, f.status
	c.RequestSize, c.ResponseSize = f.reqSize, f.respSize
	switch {
	case f.cps < 0 || f.conns < 0 || f.count < 0:
		return r, errors.New("--cps, --conns and --count must not be negative")
	case f.cps == 0 && f.conns == 0:
		return r, errors.New("give --cps (new connections per second) or --conns (connections to keep open), or both")
	case f.requests < 1:
		return r, fmt.Errorf("--requests %d: use 1 or more", f.requests)
	case f.http == "" && f.respSize == 0:
		return r, errors.New("give --http PATH for HTTP, or --response-size B (with --request-size) for raw requests to serve --rr")
	case f.http != "" && !strings.HasPrefix(f.http, "/"):
		return r, fmt.Errorf("--http %q: give a path starting with /", f.http)
	case f.duration < 0 || f.interval < 0 || f.grace < 0 || f.linger < 0:
		return r, errors.New("--duration, --interval, --grace and --linger must not be negative")
	case f.duration == 0 && f.count == 0:
		return r, errors.New("give --duration or --count: a run needs an end (ctrl-c also ends it)")
	case f.respSize < 0 || f.respSize > load.MaxMessage || f.reqSize < 1 || f.reqSize > load.MaxMessage:
		return r, fmt.Errorf("--request-size and --response-size: use 1 B to %d B (1 MiB)", load.MaxMessage)
	case f.timeout <= 0:
		return r, fmt.Errorf("--timeout %v: use a positive duration", f.timeout)
	}
	if f.http != "" {
		host := f.host
		if host == "" {
			host = dst.String()
		}
		if err := load.CheckRequest(host, f.http); err != nil {
			return r, fmt.Errorf("--http %q, --host %q: %w", f.http, host, err)
		}
	}
	if r.maxMem, err = parseSize(f.maxMemory); err != nil {
		return r, fmt.Errorf("--max-memory: %w", err)
	}
	if _, err := tcp.NewCongestionControl(f.cc); err != nil {
		return r, fmt.Errorf("--cc %q: use cubic or newreno", f.cc)
	}
	if r.stack, r.mode, err = tcpStackConfig(f.tcpFlags); err != nil {
		return r, err
	}
	if r.stack.Idle, err = stack.ParseIdle(f.idle); err != nil {
		return r, fmt.Errorf("--idle %q: use busy or adaptive", f.idle)
	}
	if r.stack.XSK.Mode, err = port.ParseMode(f.mode); err != nil {
		return r, fmt.Errorf("--mode %q: use auto, copy or zerocopy", f.mode)
	}
	if f.src != "" {
		if r.mode != "dedicated" {
			return r, errors.New("--src needs --addr: client addresses are the engine's own, in dedicated mode")
		}
		if r.stack.Addrs[0].Addr().Is4() != dst.Addr().Is4() {
			return r, fmt.Errorf("--src %s: --addr %s and --dst %s are of different families", f.src, r.stack.Addrs[0], dst)
		}
		if c.Src, err = srcAddrs(f.src, r.stack.Addrs[0]); err != nil {
			return r, err
		}
		for _, a := range c.Src {
			if a == dst.Addr() || a == r.stack.Gateway || a == r.stack.Gateway6 {
				return r, fmt.Errorf("--src %s holds %v, the server's or the gateway's address: give client addresses no other host uses", f.src, a)
			}
		}
		for _, a := range c.Src {
			if a != r.stack.Addrs[0].Addr() {
				r.stack.Addrs = append(r.stack.Addrs, netip.PrefixFrom(a, r.stack.Addrs[0].Bits()))
			}
		}
	}
	r.load = c
	base := tcp.DefaultConfig()
	base.CongestionControl = f.cc
	if r.mode == "dedicated" {
		// The address is the engine's alone: every port is its own.
		base.EphemeralLo = 1024
	}
	r.base = base
	if len(r.stack.Queues) > 0 {
		// The engines are known: check the memory before touching the
		// device (with --queues all, loadMain checks once they are).
		return r, r.sizeTables(len(r.stack.Queues))
	}
	return r, nil
}

// sizeTables sizes the TCP tables for engines engines and checks them
// against --max-memory.
func (r *loadRun) sizeTables(engines int) error {
	r.tcp = load.TCPConfig(r.load, r.base, engines)
	if need := loadMemory(r.tcp) * int64(engines); need > r.maxMem {
		return fmt.Errorf("load: the connection tables (%d engines, %d connections each at %s, in TIME-WAIT %s) may take %s, more than --max-memory %s: give --max-memory %dMiB, or a lower --cps/--conns",
			engines, r.tcp.MaxConns, sizeString(int64(r.tcp.BytesPerConn())), sizeString(int64(r.tcp.BytesPerTimeWait())), sizeString(need), sizeString(r.maxMem), (need+1<<20-1)>>20)
	}
	return nil
}

// loadMemory is what one engine's connections may take at most: the open
// ones (PoolConns bounds how many are kept with buffers) at BytesPerConn,
// the rest of the table in TIME-WAIT.
func loadMemory(t tcp.Config) int64 {
	return int64(t.PoolConns)*int64(t.BytesPerConn()) + int64(t.MaxConns-t.PoolConns)*int64(t.BytesPerTimeWait())
}

// srcAddrs expands --src, a CIDR inside the engine's prefix, into its
// addresses: at most 128, as each takes one of the XDP program's 255
// steering rules (IPv6: 32, as each takes three).
func srcAddrs(s string, own netip.Prefix) ([]netip.Addr, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4() != own.Addr().Is4() || p.Addr().Zone() != "" {
		return nil, fmt.Errorf("--src %q: use a CIDR of --addr's family such as 198.18.0.128/25 or 2001:db8::80/123", s)
	}
	p = p.Masked()
	if p.Bits() < own.Bits() || !own.Masked().Contains(p.Addr()) {
		return nil, fmt.Errorf("--src %s: give addresses inside --addr's prefix %s, where the engine answers ARP or neighbour solicitations for them", s, own.Masked())
	}
	if p.Addr().Is6() {
		if p.Bits() < 123 {
			return nil, fmt.Errorf("--src %s: at most 32 IPv6 addresses (a /123): each takes three of the XDP program's 255 steering rules (neighbour discovery, ICMPv6, TCP; and has the whole port range, 64,512 connections to one server)", s)
		}
		var out []netip.Addr
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			if a != own.Masked().Addr() { // the subnet-router anycast address (RFC 4291 2.6.1)
				out = append(out, a)
			}
		}
		return out, nil
	}
	if p.Bits() < 25 {
		return nil, fmt.Errorf("--src %s: at most 128 addresses (a /25): each takes one of the XDP program's 255 steering rules (and has the whole port range, 64,512 connections to one server)", s)
	}
	// Not the prefix's network or broadcast address: a host drops SYNs
	// from those as martians.
	network := own.Masked().Addr()
	n := network.As4()
	host := uint32(1)<<(32-own.Bits()) - 1
	broadcast := netip.AddrFrom4([4]byte{n[0] | byte(host>>24), n[1] | byte(host>>16), n[2] | byte(host>>8), n[3] | byte(host)})
	var out []netip.Addr
	for a := p.Addr(); p.Contains(a); a = a.Next() {
		if a != network && a != broadcast {
			out = append(out, a)
		}
	}
	return out, nil
}

func loadMain(cmd *cobra.Command, f loadFlags) error {
	r, err := loadRunOf(f)
	if err != nil {
		return err
	}
	r.stack.Notice = noticesTo(cmd)
	stderr := cmd.ErrOrStderr()
	r.stack.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	ctx, ctl, end, err := listenControl(cmd, f.control, stderr)
	if err != nil {
		return err
	}
	defer end()
	var st *stack.Stack
	var run *load.Run
	err = port.InNetns(f.netns, func() error {
		if st, err = stack.New(r.stack); err != nil {
			return err
		}
		if err := r.sizeTables(len(st.Engines())); err != nil {
			return err
		}
		if err := st.EnableTCP(r.tcp); err != nil {
			return err
		}
		run, err = load.New(st, r.load)
		return err
	})
	if err != nil {
		if st != nil {
			st.Close()
		}
		return err
	}
	defer st.Close()
	defer ctl.Close() // before the stack closes
	hugePagesNote(f.hugePages, st.Port().Modes(), stderr)
	res := loadResult{Kernel: st.Port().Facts.Kernel, Device: f.dev, Dst: f.dst, AddrMode: r.mode, Mode: st.Port().Modes().AFXDP.String(),
		XDPMode: st.Port().Modes().XDP, Queues: st.Queues(), PortSelection: st.PortSelection(), TXChecksum: txChecksumOf(st.Engines()[0]),
		BytesPerConn: r.tcp.BytesPerConn(), BytesPerTimeWait: r.tcp.BytesPerTimeWait(), Sources: max(1, len(r.load.Src)), Shard: r.shard}
	what := fmt.Sprintf("raw %d B requests, %d B responses", f.reqSize, f.respSize)
	if f.http != "" {
		what = "HTTP GET " + f.http
	}
	fmt.Fprintf(stderr, "load: %s to %v, %d per connection; %s; %s, %s AF_XDP, %s XDP, queues %v; %s per connection, %s in TIME-WAIT; ctrl-c stops\n",
		what, r.load.Dst, f.requests, rateString(f.cps, f.conns), r.mode, res.Mode, res.XDPMode, res.Queues,
		sizeString(int64(res.BytesPerConn)), sizeString(int64(res.BytesPerTimeWait)))
	if err := st.Start(); err != nil {
		return err
	}
	var shardLabel []string
	if r.shard != "" {
		i, _, _ := strings.Cut(r.shard, "/")
		shardLabel = []string{"shard", i}
	}
	// Metrics and the control API come up before --start-at's wait, so
	// that a fleet's scrapes and readiness probes see every host ready.
	counts, hists := metrics.Load(run, metrics.Stack(st, f.dev), shardLabel...)
	if f.metrics != "" {
		ms, err := metrics.Serve(f.metrics, counts, hists)
		if err != nil {
			return fmt.Errorf("--metrics: %w", err)
		}
		defer ms.Close()
		fmt.Fprintf(stderr, "metrics: http://%s/metrics\n", ms.Addr())
	}
	var startNs atomic.Int64 // the run's start, read by the control API
	startNs.Store(time.Now().UnixNano())
	var waiting atomic.Bool // for --start-at: no pausing or resuming before
	waiting.Store(!r.startAt.IsZero())
	ctl.Attach(controls{
		Stats: func() any {
			run.Sample()
			return run.Summary(time.Since(time.Unix(0, startNs.Load())))
		},
		SetRate: func(s string) (any, error) {
			v, err := parseRate(s)
			if err != nil {
				return nil, err
			}
			return map[string]any{"cps": v}, run.SetRate(v)
		},
		Pause: func(p bool) error {
			if waiting.Load() {
				return fmt.Errorf("waiting for --start-at %s: the run starts then", r.startAt.Format(time.RFC3339Nano))
			}
			return run.Pause(p)
		},
		Ready: stackReady(st),
	})
	if !r.startAt.IsZero() {
		if err := gen.WaitUntil(ctx, r.startAt); err != nil {
			if ctx.Err() != nil {
				// Not a success: a fleet's shard that never ran.
				return fmt.Errorf("stopped before --start-at %s: no connection opened", r.startAt.Format(time.RFC3339Nano))
			}
			return fmt.Errorf("--start-at: %w", err)
		}
		waiting.Store(false)
		if err := run.Pause(false); err != nil {
			return err
		}
	}
	start := time.Now()
	startNs.Store(start.UnixNano())
	loadLoop(ctx, run, st, f, start, stderr)
	// A shard stopped (SIGTERM, the control API) before its duration or
	// count sent less than its share: an error, after its summary, so
	// that its Job's index fails rather than succeeds.
	var short error
	if ctx.Err() != nil && r.shard != "" && !run.Done() {
		short = fmt.Errorf("shard %s interrupted before its duration or count: short of its share", r.shard)
	}
	// The rates are over the run's time; the grace only lets the open
	// connections end.
	elapsed := time.Since(start)
	run.Stop(f.grace)
	st.Stop()
	if err := st.Wait(); err != nil {
		return err
	}
	run.Finish()
	res.Summary = run.Summary(elapsed)
	res.TCP = st.TCPCounters().Map()
	if err := printLoadResult(cmd, f, res); err != nil {
		return err
	}
	linger(ctx, f.linger, stderr)
	return short
}

// parseRate reads a rate of connections per second: a number, with a k or
// M suffix.
func parseRate(s string) (float64, error) {
	num, mult := strings.TrimSpace(s), 1.0
	if n, ok := strings.CutSuffix(num, "k"); ok {
		num, mult = n, 1e3
	} else if n, ok := strings.CutSuffix(num, "M"); ok {
		num, mult = n, 1e6
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: give connections per second, such as 5000 or 5k", s)
	}
	return v * mult, nil
}

func rateString(cps float64, conns int) string {
	switch {
	case cps > 0 && conns > 0:
		return fmt.Sprintf("%s connections/s, at most %d open", si(cps), conns)
	case cps > 0:
		return fmt.Sprintf("%s connections/s", si(cps))
	}
	return fmt.Sprintf("%d connections kept open", conns)
}

// loadLoop samples the run every --interval and prints a live line (with
// --json or --interval 0, it samples every second for the metrics and
// prints nothing), and every 100 ms sees whether --count is done, until
// ctx ends, --duration passes or an engine stops.
func loadLoop(ctx context.Context, run *load.Run, st *stack.Stack, f loadFlags, start time.Time, w io.Writer) {
	var last load.Counters
	lastT := start
	tick := func(now time.Time) {
		c, err := run.Sample()
		if err != nil {
			return
		}
		if f.json || f.interval == 0 {
			return
		}
		dt := now.Sub(lastT).Seconds()
		var p50, p99 float64
		run.TakeWindow(func(interval *[load.NumLatencies]*hdrhistogram.Histogram) {
			p := load.PercentilesOf(interval[load.ResponseLatency])
			p50, p99 = p.P50, p.P99
		})
		asked := ""
		if cps := run.Config().CPS; cps > 0 {
			asked = "/" + si(cps)
		}
		fmt.Fprintf(w, "%6.1fs  cps %s%s  open %d  req/s %s  goodput %sbit/s  response p50 %s p99 %s  errors %d%s\n",
			now.Sub(start).Seconds(), si(float64(c[load.Established]-last[load.Established])/dt), asked, c.Open(),
			si(float64(c[load.Responses]-last[load.Responses])/dt), si(float64(c[load.ResponseBytes]-last[load.ResponseBytes])*8/dt),
			usString(p50), usString(p99), c.Errors()-last.Errors(), errorKinds(c, last))
		last, lastT = c, now
	}
	interval := every(f.interval, f.json)
	if interval == 0 {
		interval = time.Second
	}
	var done func() bool
	if f.count > 0 {
		next := time.Now()
		done = func() bool {
			if time.Now().Before(next) {
				return false
			}
			next = time.Now().Add(100 * time.Millisecond)
			run.Sample()
			return run.Done()
		}
	}
	live(ctx, f.duration, interval, []<-chan struct{}{st.Done()}, done, tick)
}

// errorKinds lists the error kinds that grew since last, for the live
// line.
func errorKinds(c, last load.Counters) string {
	var b strings.Builder
	for k := load.Counter(0); int(k) < load.NumCounters; k++ {
		if k.IsError() && c[k] > last[k] {
			fmt.Fprintf(&b, " %s %d", k, c[k]-last[k])
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return " (" + strings.TrimSpace(b.String()) + ")"
}

func usString(us float64) string {
	switch {
	case us >= 1e6:
		return fmt.Sprintf("%.2fs", us/1e6)
	case us >= 1e3:
		return fmt.Sprintf("%.2fms", us/1e3)
	}
	return fmt.Sprintf("%.0fµs", us)
}

// loadResult is load's summary: the run's setting, then its figures.
type loadResult struct {
	Shard         string `json:"shard,omitempty"` // --shard's I/N
	Kernel        string `json:"kernel"`
	Device        string `json:"device"`
	Dst           string `json:"dst"`
	AddrMode      string `json:"addr_mode"`
	Mode          string `json:"mode"`
	XDPMode       string `json:"xdp_mode"`
	Queues        []int  `json:"queues"`
	PortSelection string `json:"port_selection"`
	TXChecksum    string `json:"tx_checksum"`
	Sources       int    `json:"source_addresses"`
	// BytesPerConn is what an open connection takes (state and
	// buffers); BytesPerTimeWait one in TIME-WAIT (no buffers).
	BytesPerConn     int `json:"bytes_per_conn"`
	BytesPerTimeWait int `json:"bytes_per_time_wait"`
	load.Summary
	TCP map[string]uint64 `json:"tcp"`
}

func printLoadResult(cmd *cobra.Command, f loadFlags, res loadResult) error {
	if f.json {
		if err := json.NewEncoder(cmd.OutOrStdout()).Encode(res); err != nil {
			return err
		}
	} else {
		w := cmd.ErrOrStderr()
		s := res.Summary
		fmt.Fprintf(w, "load: %.2fs, %d connections opened (%.0f/s), %d completed, %d failed, %d reset at the end; %d requests, %d responses ok (%.0f/s), %sbit/s of responses\n",
			s.DurationS, s.ConnectionsOpened, s.CPS, s.ConnectionsCompleted, s.ConnectionsFailed, s.AbortedAtEnd, s.Requests, s.ResponsesOK, s.RPS, si(s.GoodputBps))
		for _, l := range []string{"connect", "first_byte", "response"} {
			p := s.Latency[l]
			fmt.Fprintf(w, "  %-10s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%d)\n", l, usString(p.P50), usString(p.P90), usString(p.P99), usString(p.P999), usString(p.Max), p.Count)
		}
		var kinds []string
		for k := load.Counter(0); int(k) < load.NumCounters; k++ {
			if k.IsError() && s.Errors[k.String()] > 0 {
				kinds = append(kinds, fmt.Sprintf("%s %d", k, s.Errors[k.String()]))
			}
		}
		if len(kinds) > 0 {
			fmt.Fprintf(w, "  errors: %s\n", strings.Join(kinds, ", "))
		}
	}
	if res.ConnectionsOpened == 0 {
		return fmt.Errorf("load: no connection to %s was established (errors: %v): is the server up and reachable from %s?", f.dst, res.Errors, f.dev)
	}
	return nil
}
