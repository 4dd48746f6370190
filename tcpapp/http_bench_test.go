package tcpapp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/tcpapp"
)

// BenchmarkHTTP: requests per second of the HTTP responder (serve --http's:
// the engine, dedicated address, pinned to core 1) against nginx with one
// worker pinned to core 1, serving the same 20-byte body from A, both
// driven by `wrk -t1 -c64 -d3s` pinned to core 0 in B, alternating
// within the run; medians and the ratio. Needs nginx and wrk installed
// (apt-get install nginx-light wrk); the lab is veth, copy-mode AF_XDP,
// native XDP, one queue, two vCPUs.
func BenchmarkHTTP(b *testing.B) {
	for _, bin := range []string{"nginx", "wrk", "taskset"} {
		if _, err := exec.LookPath(bin); err != nil {
			b.Skipf("%s is not installed", bin)
		}
	}
	l, err := lab.New(lab.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const body = "hello from fastpath\n" // 20 bytes
	engine := netip.MustParsePrefix("198.18.0.10/24")
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Addrs, cfg.Cores, cfg.Idle = l.A.Link, []netip.Prefix{engine}, []int{1}, stack.IdleAdaptive
	var st *stack.Stack
	if err := l.A.Do(func() (err error) {
		if st, err = stack.New(cfg); err != nil {
			return err
		}
		if err := st.EnableTCP(tcp.DefaultConfig()); err != nil {
			return err
		}
		return tcpapp.ListenHTTP(st, 8080, body)
	}); err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Start(); err != nil {
		b.Fatal(err)
	}
	// nginx in A on the kernel's address.
	dir := b.TempDir()
	conf := filepath.Join(dir, "nginx.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`daemon off;
worker_processes 1;
worker_cpu_affinity 10;
pid %s/nginx.pid;
error_log %s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	keepalive_requests 1000000;
	server {
		listen %s:8081;
		location / { default_type text/plain; return 200 %q; }
	}
}
`, dir, dir, l.A.Addr.Addr(), body)), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ngx := l.A.Command(ctx, "nginx", "-c", conf, "-p", dir)
	if out, err := l.A.Command(ctx, "nginx", "-t", "-c", conf, "-p", dir).CombinedOutput(); err != nil {
		b.Fatalf("nginx -t: %v\n%s", err, out)
	}
	if err := ngx.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { ngx.Process.Signal(os.Interrupt); ngx.Wait() }()
	time.Sleep(300 * time.Millisecond)
	reqs := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrk := func(url string) float64 {
		out, err := l.B.Command(ctx, "taskset", "-c", "0", "wrk", "-t1", "-c64", "-d3s", url).CombinedOutput()
		if err != nil {
			b.Fatalf("wrk %s: %v\n%s", url, err, out)
		}
		m := reqs.FindSubmatch(out)
		if m == nil {
			b.Fatalf("wrk %s: no rate in\n%s", url, out)
		}
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		return v
	}
	var er, nr []float64
	for i := 0; i < b.N; i++ {
		er = append(er, wrk(fmt.Sprintf("http://%s:8080/", engine.Addr())))
		nr = append(nr, wrk(fmt.Sprintf("http://%s:8081/", l.A.Addr.Addr())))
	}
	slices.Sort(er)
	slices.Sort(nr)
	em, nm := er[len(er)/2], nr[len(nr)/2]
	b.ReportMetric(em, "engine-req/s")
	b.ReportMetric(nm, "nginx-req/s")
	b.ReportMetric(em/nm, "ratio")
}
