package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestServeRRAndHTTPPattern runs `fastpath serve --rr --http
// --response-size` in shared mode: the kernel in B exchanges 100-byte
// requests for 64 KiB responses with --rr on one connection, and fetches
// 64 KiB bodies from --http on one kept-alive connection, every byte
// checked.
func TestServeRRAndHTTPPattern(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	type result struct {
		out, errOut string
		err         error
	}
	done := make(chan result, 1)
	go func() {
		out, errOut, err := run(t, "serve", "--dev", l.A.Link, "--netns", l.A.Name, "--shared",
			"--rr", "9000", "--request-size", "100", "--http", "8080", "--response-size", "64KiB",
			"--duration", "120s", "--json", "--interval", "0", "--control", "19331")
		done <- result{out, errOut, err}
	}()
	stopped := false
	stop := func() result {
		if !stopped {
			stopped = true
			http.Post("http://127.0.0.1:19331/v1/stop", "application/json", nil)
		}
		select {
		case r := <-done:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
			return result{}
		}
	}
	t.Cleanup(func() {
		if !stopped {
			stop()
		}
	})
	// Once its control API answers ready, serve runs. (A stop posted
	// before would be taken too: the API listens before the engines
	// open; TestStopWhileStarting.)
	for end := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := httpGet("http://127.0.0.1:19331/v1/ready"); code == 200 {
			break
		}
		if time.Now().After(end) {
			r := stop()
			t.Fatalf("serve's control API never answered ready\nserve: %v\n%s", r.err, r.errOut)
		}
	}
	addr := l.A.Addr.Addr().String()
	dial := func(a string) (net.Conn, error) {
		var c net.Conn
		var err error
		for range 40 { // serve is starting
			l.B.Do(func() error {
				c, err = net.DialTimeout("tcp4", a, time.Second)
				return nil
			})
			if err == nil {
				return c, nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return nil, err
	}
	checkPattern := func(what string, b []byte) {
		t.Helper()
		for i, c := range b {
			if c != byte(i%251) {
				t.Fatalf("%s: byte %d is %d, want %d", what, i, c, i%251)
			}
		}
	}

	// --rr: three rounds, then the client's FIN and the server's.
	c, err := dial(addr + ":9000")
	if err != nil {
		r := stop()
		t.Fatalf("%v\nserve: %v\n%s", err, r.err, r.errOut)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64<<10)
	for i := range 3 {
		if _, err := c.Write(make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("rr response %d: %v", i, err)
		}
		checkPattern(fmt.Sprintf("rr response %d", i), buf)
	}
	c.(*net.TCPConn).CloseWrite()
	if b, err := io.ReadAll(c); err != nil || len(b) != 0 {
		t.Errorf("rr after the client's FIN: %d bytes, %v", len(b), err)
	}
	c.Close()

	// --http with --response-size: bodies of the pattern, kept alive.
	var dials atomic.Int32
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableCompression: true,
		DialContext: func(_ context.Context, _, a string) (net.Conn, error) {
			dials.Add(1)
			return dial(a)
		},
	}}
	for i := range 3 {
		resp, err := client.Get(fmt.Sprintf("http://%s:8080/", addr))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || resp.ContentLength != 64<<10 || len(b) != 64<<10 {
			t.Fatalf("http response %d: %d, Content-Length %d, %d bytes, %v", i, resp.StatusCode, resp.ContentLength, len(b), err)
		}
		checkPattern(fmt.Sprintf("http body %d", i), b)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("3 keep-alive requests took %d connections", n)
	}
	client.CloseIdleConnections()

	r := stop()
	if r.err != nil {
		t.Fatalf("serve: %v\n%s", r.err, r.errOut)
	}
	for _, want := range []string{"http [8080] (bodies of 64 KiB)", "rr [9000] (requests of 100 B, responses of 64 KiB)"} {
		if !strings.Contains(r.errOut, want) {
			t.Errorf("the announce line lacks %q:\n%s", want, r.errOut)
		}
	}
	var res serveResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("summary: %v\n%s", err, r.out)
	}
	// A dial while serve was starting may have timed out: at least two.
	if res.TCP["established"] < 2 || res.TCP["drop_checksum"] != 0 {
		t.Errorf("tcp counters %v", res.TCP)
	}
}

// TestServeRRBadFlags: --rr, --request-size and --response-size refuse
// what they cannot serve, and say what to give instead.
func TestServeRRBadFlags(t *testing.T) {
	base := []string{"serve", "--dev", "x", "--addr", "198.18.0.10/24"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--rr", "9000"}, "--rr needs --response-size"},
		{[]string{"--rr", "70000", "--response-size", "100"}, "--rr 70000: use a port"},
		{[]string{"--rr", "9000", "--response-size", "2MiB"}, "--response-size 2MiB: use 1 B to 1 MiB with --rr"},
		{[]string{"--rr", "9000", "--response-size", "100", "--request-size", "0"}, "--request-size 0: use 1 B to 1 MiB with --rr"},
		{[]string{"--rr", "9000", "--response-size", "100", "--request-size", "1048577"}, "--request-size 1048577: use 1 B to 1 MiB"},
		{[]string{"--rr", "9000", "--response-size", "-1"}, `--response-size "-1": give a positive size`},
		{[]string{"--http", "80", "--response-size", "10"}, "--response-size 10: use 64 B to 1 MiB with --http: a smaller body is --http-body's"},
		{[]string{"--http", "80", "--response-size", "1025K"}, "--response-size 1025K: use 64 B to 1 MiB with --http"},
		{[]string{"--http", "80", "--rr", "90", "--response-size", "10"}, "use 64 B to 1 MiB with --http"},
		{[]string{"--http", "80", "--response-size", "abc"}, `--response-size "abc"`},
		{[]string{"--http", "80", "--http-body", "hi", "--response-size", "100"}, "--http-body and --response-size are exclusive"},
		{[]string{"--response-size", "100"}, "it sizes the responses of --http and --rr; give one of them"},
		{[]string{"--http", "80", "--request-size", "100"}, "--request-size 100: it sizes the requests of --rr; give --rr PORT"},
	} {
		_, _, err := run(t, append(base, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

// TestServeSizes: what the servers get from --request-size and
// --response-size.
func TestServeSizes(t *testing.T) {
	for _, tc := range []struct {
		f             serveFlags
		request, resp int
	}{
		{serveFlags{}, 0, 0}, // flags not parsed: no sizes
		{serveFlags{http: []int{80}, requestSize: "64", responseSize: "0"}, 64, 0},
		{serveFlags{http: []int{80}, requestSize: "64", responseSize: "64"}, 64, 64},
		{serveFlags{http: []int{80}, requestSize: "64", responseSize: "1MiB"}, 64, 1 << 20},
		{serveFlags{rr: []int{90}, requestSize: "1", responseSize: "1"}, 1, 1},
		{serveFlags{rr: []int{90}, requestSize: "100", responseSize: "1M", requestSizeSet: true}, 100, 1 << 20},
		{serveFlags{rr: []int{90}, http: []int{80}, requestSize: "64", responseSize: "16KiB", httpBodySet: false}, 64, 16 << 10},
	} {
		req, resp, err := tc.f.sizes()
		if err != nil || req != tc.request || resp != tc.resp {
			t.Errorf("%+v: %d, %d, %v; want %d, %d", tc.f, req, resp, err, tc.request, tc.resp)
		}
	}
}
