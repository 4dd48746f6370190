package load_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/load"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
)

// BenchmarkLoad: fastpath load against wrk, the same run, alternating,
// on the same core budget: the client (the engine, busy-polling; or wrk
// -t1) pinned to core 0 in A, the server pinned to core 1 in B. Each round
// runs each client for 3 s against
//
//   - nginx, one request per connection (wrk: -H "Connection: close";
//     load: --conns 64 --requests 1): connections per second;
//   - nginx, keep-alive, 64 connections: requests per second;
//   - serve --http (the engine as the server, core 1), one request per
//     connection and keep-alive: a server that is not the bottleneck.
//
// and reports the medians and the ratios load/wrk. Every load response is
// checked (status 200); wrk counts non-2xx responses and socket errors,
// which fail the benchmark. Then, against nginx, load's connect-and-
// request latency at 50% and 90% of the highest rate it reached, paced
// (--cps). Kernel 6.x, veth, copy-mode AF_XDP, native XDP, one queue,
// two vCPUs. Needs nginx and wrk (apt-get install nginx-light wrk).
func BenchmarkLoad(b *testing.B) {
	for _, bin := range []string{"nginx", "wrk", "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("%s is not installed", bin)
		}
	}
	l := lab.NewT(b, lab.Options{})
	bAddr := l.B.Addr.Addr()
	startNginx(b, l.B, bAddr, 8080, 64)
	// serve --http on an engine in B, on an address of its own, core 1.
	serveAddr := netip.MustParsePrefix("198.18.0.20/24")
	// Its table holds the TIME-WAIT of a run of one request per
	// connection (it closes first): 64,512 ports' worth, and wrk's.
	startServe(b, l.B, serveAddr, func(st *stack.Stack) error { return tcpapp.ListenHTTP(st, 8081, "hello from nginx!!!\n") },
		func(c *tcp.Config) { c.MaxConns = 1 << 17 })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rate := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	bad := regexp.MustCompile(`Non-2xx or 3xx responses|Socket errors: connect [1-9]|read [1-9]|timeout [1-9]`)
	wrk := func(url string, close bool) float64 {
		args := []string{"-c", "0", "wrk", "-t1", "-c64", "-d3s"}
		if close {
			args = append(args, "-H", "Connection: close")
		}
		out, err := l.A.Command(ctx, "taskset", append(args, url)...).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk %s: %v\n%s", url, err, out)
		}
		if bad.Match(out) {
			b.Fatalf("wrk %s had errors:\n%s", url, out)
		}
		m := rate.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk %s: no rate in\n%s", url, out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	pin := func(c *stack.Config) { c.Cores, c.Idle = []int{0}, stack.IdleBusy }
	loadRun := func(dst netip.AddrPort, requests int, cps float64, conns int) result {
		cfg := load.DefaultConfig()
		cfg.Dst, cfg.HTTP, cfg.Path, cfg.Requests, cfg.CPS, cfg.Conns = dst, true, "/small", requests, cps, conns
		r := runLoad(b, l.A, clientAddr, netip.Addr{}, cfg, 3*time.Second, &runOpts{stack: pin})
		if conns > 0 && (r.c.Errors() != 0 || r.c[load.Failed] != 0) {
			b.Fatalf("load to %v: errors %v", dst, counts(r.c))
		}
		return r
	}
	nginx, serve := netip.AddrPortFrom(bAddr, 8080), netip.AddrPortFrom(serveAddr.Addr(), 8081)
	// busy measures core 1's (the server's) busy share over fn, from
	// /proc/stat: near 100%, the server sets the rate, not the client.
	var busyLoad, busyWrk []float64
	busy := func(into *[]float64, fn func()) {
		a := coreTimes(b, 1)
		fn()
		z := coreTimes(b, 1)
		*into = append(*into, 1-float64(z[1]-a[1])/float64(z[0]-a[0]))
	}
	var cpsLoad, cpsWrk, rpsLoad, rpsWrk, rpsServe, rpsServeWrk, cpsServe, cpsServeWrk []float64
	var lastClose result
	for i := 0; i < b.N; i++ {
		var r result
		busy(&busyLoad, func() { r = loadRun(nginx, 1, 0, 64) })
		lastClose = r
		cpsLoad = append(cpsLoad, float64(r.atEnd[load.Established])/r.elapsed.Seconds())
		busy(&busyWrk, func() { cpsWrk = append(cpsWrk, wrk(fmt.Sprintf("http://%s/small", nginx), true)) })
		r = loadRun(nginx, 1<<30, 0, 64)
		rpsLoad = append(rpsLoad, float64(r.atEnd[load.Responses])/r.elapsed.Seconds())
		rpsWrk = append(rpsWrk, wrk(fmt.Sprintf("http://%s/small", nginx), false))
		r = loadRun(serve, 1, 0, 64)
		cpsServe = append(cpsServe, float64(r.atEnd[load.Established])/r.elapsed.Seconds())
		cpsServeWrk = append(cpsServeWrk, wrk(fmt.Sprintf("http://%s/small", serve), true))
		r = loadRun(serve, 1<<30, 0, 64)
		rpsServe = append(rpsServe, float64(r.atEnd[load.Responses])/r.elapsed.Seconds())
		rpsServeWrk = append(rpsServeWrk, wrk(fmt.Sprintf("http://%s/small", serve), false))
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	b.ReportMetric(med(cpsLoad), "load-conn/s")
	b.ReportMetric(med(cpsWrk), "wrk-conn/s")
	b.ReportMetric(med(cpsLoad)/med(cpsWrk), "conn-ratio")
	b.ReportMetric(100*med(busyLoad), "nginx-busy%-load")
	b.ReportMetric(100*med(busyWrk), "nginx-busy%-wrk")
	b.ReportMetric(med(rpsLoad), "load-req/s")
	b.ReportMetric(med(rpsWrk), "wrk-req/s")
	b.ReportMetric(med(rpsLoad)/med(rpsWrk), "req-ratio")
	b.ReportMetric(med(cpsServe), "load-serve-conn/s")
	b.ReportMetric(med(cpsServeWrk), "wrk-serve-conn/s")
	b.ReportMetric(med(cpsServe)/med(cpsServeWrk), "serve-conn-ratio")
	b.ReportMetric(med(rpsServe), "load-serve-req/s")
	b.ReportMetric(med(rpsServeWrk), "wrk-serve-req/s")
	b.ReportMetric(med(rpsServe)/med(rpsServeWrk), "serve-req-ratio")
	b.Logf("connect latency at the maximum (64 open): %+v", lastClose.lat[load.ConnectLatency])
	// Latency at 50% and 90% of the connection rate reached (the
	// median), paced: an open loop, so past what nginx takes, SYNs
	// queue and fail (counted, reported).
	top := med(cpsLoad)
	for _, frac := range []float64{0.5, 0.9} {
		r := loadRun(nginx, 1, frac*top, 0)
		got := float64(r.atEnd[load.Established]) / r.elapsed.Seconds()
		b.Logf("at %.0f%% of %.0f conn/s (asked %.0f, got %.0f; errors %d, reset at the end %d): connect %+v, response %+v", 100*frac, top, frac*top, got,
			r.c.Errors(), r.c[load.Aborted], r.lat[load.ConnectLatency], r.lat[load.ResponseLatency])
		b.ReportMetric(got, fmt.Sprintf("conn/s@%.0f%%", 100*frac))
		b.ReportMetric(float64(r.c.Errors()+r.c[load.Aborted]), fmt.Sprintf("failed-or-open@%.0f%%", 100*frac))
		b.ReportMetric(r.lat[load.ConnectLatency].P99, fmt.Sprintf("connect-p99-us@%.0f%%", 100*frac))
		b.ReportMetric(r.lat[load.ResponseLatency].P50, fmt.Sprintf("p50-us@%.0f%%", 100*frac))
		b.ReportMetric(r.lat[load.ResponseLatency].P99, fmt.Sprintf("p99-us@%.0f%%", 100*frac))
	}
	cfg := load.TCPConfig(load.Config{HTTP: true, CPS: top, Timeout: 5 * time.Second}, tcp.DefaultConfig(), 1)
	b.ReportMetric(float64(cfg.BytesPerConn()), "bytes/conn")
}

// coreTimes reads core's total and idle (idle + iowait) jiffies from
// /proc/stat.
func coreTimes(tb testing.TB, core int) [2]uint64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != fmt.Sprintf("cpu%d", core) {
			continue
		}
		var t [2]uint64
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			t[0] += n
			if i == 3 || i == 4 {
				t[1] += n
			}
		}
		return t
	}
	tb.Fatalf("no cpu%d in /proc/stat", core)
	return [2]uint64{}
}
