package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/tcp"
)

// TestServeTCP runs `fastpath serve` with --tcp-echo, --tcp-discard and
// --http in shared mode; the kernel in B is the client (net.Dial, curl).
func TestServeTCP(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	type result struct {
		out, errOut string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, err := run(t, "serve", "--dev", l.A.Link, "--netns", l.A.Name, "--shared",
			"--tcp-echo", "7", "--tcp-discard", "9", "--http", "8080", "--duration", "120s", "--json", "--metrics", "127.0.0.1:19320", "--control", "19321")
		done <- result{out, errOut, err}
	}()
	// A failed test still ends the run (and frees its ports).
	t.Cleanup(func() { http.Post("http://127.0.0.1:19321/v1/stop", "application/json", nil) })
	addr := l.A.Addr.Addr().String()
	dial := func(port int) net.Conn {
		t.Helper()
		var c net.Conn
		var err error
		for i := 0; i < 40; i++ { // serve is starting
			l.B.Do(func() error {
				c, err = net.DialTimeout("tcp4", fmt.Sprintf("%s:%d", addr, port), time.Second)
				return nil
			})
			if err == nil {
				return c
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("dial %d: %v", port, err)
		return nil
	}
	// Echo.
	start := time.Now()
	c := dial(7)
	t.Logf("connected after %v", time.Since(start))
	msg := strings.Repeat("echo me ", 20000)
	go func() { io.WriteString(c, msg); c.(*net.TCPConn).CloseWrite() }()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != msg {
		t.Fatalf("echo: %d of %d bytes back, %v", len(b), len(msg), err)
	}
	c.Close()
	t.Logf("echoed after %v", time.Since(start))
	// Discard: everything taken, nothing back.
	c = dial(9)
	io.WriteString(c, msg)
	c.(*net.TCPConn).CloseWrite()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Fatalf("discard answered %q, %v", b, err)
	}
	c.Close()
	t.Logf("discarded after %v", time.Since(start))
	// HTTP with curl: three requests on one kept-alive connection.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := fmt.Sprintf("http://%s:8080/", addr)
	out, err := l.B.Command(ctx, "curl", "-sS", "-v", url, url, url).CombinedOutput()
	if err != nil {
		r := <-done
		t.Fatalf("curl: %v\n%s\nserve: %s", err, out, r.out)
	}
	if n := strings.Count(string(out), "hello from fastpath"); n != 3 {
		t.Fatalf("curl got %d bodies:\n%s", n, out)
	}
	if !strings.Contains(string(out), "Re-using existing connection") && !strings.Contains(string(out), "Reusing existing") {
		t.Errorf("curl did not keep the connection alive:\n%s", out)
	}
	// Metrics and the control API of a running serve.
	resp, err := http.Get("http://127.0.0.1:19320/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"fastpath_tcp_passive_opens_total{", `fastpath_engine_frames_total{device="` + l.A.Link + `",direction="rx"`, "fastpath_tcp_connections{", `fastpath_engine_drops_total{`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	resp, err = http.Post("http://127.0.0.1:19321/v1/stop", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	r := <-done
	if r.err != nil {
		t.Fatalf("serve: %v\n%s", r.err, r.errOut)
	}
	var res serveResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("summary: %v\n%s", err, r.out)
	}
	if res.TCP["passive_opens"] < 3 || res.TCP["drop_checksum"] != 0 {
		t.Errorf("tcp counters %v", res.TCP)
	}
	if want := tcp.DefaultConfig().BytesPerConn(); res.TCPBytesPerConn != want {
		t.Errorf("tcp_bytes_per_conn %d, want %d", res.TCPBytesPerConn, want)
	}
}

// TestTCPCommand runs `fastpath tcp` against a kernel server in B that
// checks the pattern.
func TestTCPCommand(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var ln net.Listener
	if err := l.B.Do(func() (err error) {
		ln, err = net.Listen("tcp4", l.B.Addr.Addr().String()+":5201")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const conns, n = 4, 4 << 20
	bad := make(chan error, conns)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 65536)
				var off int64
				for {
					k, err := c.Read(buf)
					for i := 0; i < k; i++ {
						if buf[i] != byte((off+int64(i))%251) {
							bad <- fmt.Errorf("byte %d wrong", off+int64(i))
							return
						}
					}
					off += int64(k)
					if err != nil {
						if off != n {
							bad <- fmt.Errorf("got %d bytes, want %d", off, n)
						} else {
							bad <- nil
						}
						return
					}
				}
			}()
		}
	}()
	out, errOut, err := run(t, "tcp", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":5201",
		"--bytes", fmt.Sprint(n), "--conns", fmt.Sprint(conns), "--json")
	if err != nil {
		t.Fatalf("tcp: %v\n%s", err, errOut)
	}
	for i := 0; i < conns; i++ {
		if err := <-bad; err != nil {
			t.Fatal(err)
		}
	}
	var res tcpResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("summary: %v\n%s", err, out)
	}
	if want := tcp.DefaultConfig().BytesPerConn(); res.BytesPerConn != want {
		t.Errorf("bytes_per_conn %d, want %d", res.BytesPerConn, want)
	}
	if res.BytesSent != conns*n || res.Connections != conns || res.Completed != conns || len(res.Errors) != 0 || res.GoodputBPS <= 0 || res.RTTUs <= 0 {
		t.Errorf("summary %+v", res)
	}
	// veth in copy mode on 6.18: checksums requested from the kernel; no
	// RSS to compute.
	if res.Mode != "copy" || res.TXChecksum != "offload" || res.RSSPorts || !strings.HasPrefix(res.PortSelection, "stride: ") {
		t.Errorf("mode %q, tx_checksum %q, rss_ports %v, port_selection %q", res.Mode, res.TXChecksum, res.RSSPorts, res.PortSelection)
	}
}

func TestTCPBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tcp", "--dst", "1.2.3.4:5"}, "--dev is required"},
		{[]string{"tcp", "--dev", "x", "--dst", "nope", "--bytes", "1"}, "--dst"},
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5"}, "--bytes"},
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5", "--bytes", "1", "--conns", "0"}, "--conns"},
		// One destination: one ephemeral port per connection.
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5", "--bytes", "1", "--conns", "4537"}, "use --conns 4536 or fewer"},
		// 2000 connections of 256 KiB buffers each way are about 1 GiB.
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5", "--bytes", "1", "--conns", "2000", "--max-memory", "512MiB"}, "more than --max-memory 512 MiB; give --max-memory"},
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5", "--bytes", "1", "--max-memory", "lots"}, `--max-memory: "lots": give a positive size`},
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5", "--bytes", "1", "--cc", "vegas"}, "--cc"},
		{[]string{"tcp", "--dev", "x", "--dst", "1.2.3.4:5", "--bytes", "1", "--tx-checksum", "nic"}, "--tx-checksum"},
		{[]string{"serve", "--dev", "x", "--shared", "--tcp-echo", "0"}, "--tcp-echo 0"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{{"4096", 4096}, {"64KiB", 64 << 10}, {"512MiB", 512 << 20}, {"4GiB", 4 << 30}, {"2G", 2 << 30}, {"3M", 3 << 20}, {"1K", 1024},
		{"", 0}, {"0", 0}, {"-1GiB", 0}, {"1.5GiB", 0}, {"GiB", 0}, {"9999999999GiB", 0}, {"4TiB", 0}} {
		got, err := parseSize(tc.in)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// TestTCPConnsFit: the most connections --max-memory allows fit, one more
// does not, and the error says both ways out; the ephemeral range bounds
// them too.
func TestTCPConnsFit(t *testing.T) {
	cfg := tcp.DefaultConfig()
	per := int64(cfg.BytesPerConn())
	const limit = 512 << 20
	most := int(limit / per)
	if err := tcpConnsFit(most, cfg, limit); err != nil {
		t.Fatalf("%d connections of %d bytes in %d: %v", most, per, limit, err)
	}
	err := tcpConnsFit(most+1, cfg, limit)
	need := (int64(most+1)*per + 1<<20 - 1) >> 20
	if want := fmt.Sprintf("give --max-memory %dMiB or more, or --conns %d or fewer", need, most); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%d connections: %v, want it to say %q", most+1, err, want)
	}
	if err := tcpConnsFit(most+1, cfg, need<<20); err != nil {
		t.Errorf("the --max-memory the error asks for is not enough: %v", err)
	}
	cfg.EphemeralLo, cfg.EphemeralHi = 60000, 60009
	if err := tcpConnsFit(10, cfg, limit); err != nil {
		t.Errorf("10 connections, 10 ports: %v", err)
	}
	if err := tcpConnsFit(11, cfg, limit); err == nil || !strings.Contains(err.Error(), "use --conns 10 or fewer") {
		t.Errorf("11 connections, 10 ports: %v", err)
	}
}
