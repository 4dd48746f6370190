package control

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAPI(t *testing.T) {
	stopped := make(chan struct{})
	var rate string
	var ready atomic.Bool // set here, read by the server's goroutine
	s, err := Serve("127.0.0.1:0", Controls{
		Stats: func() any { return map[string]int{"sent": 7} },
		SetRate: func(v string) (any, error) {
			if v == "bad" {
				return nil, errors.New("rate bad: no")
			}
			rate = v
			return map[string]string{"rate": v}, nil
		},
		Ready: func() error {
			if ready.Load() {
				return nil
			}
			return errors.New("the engines stopped")
		},
		Stop: func() { close(stopped) },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	for _, c := range []struct {
		method, path, body string
		status             int
		want               string
		notReady           bool
	}{
		{"GET", "/v1/stats", "", 200, `{"sent":7}`, false},
		{"GET", "/v1/ready", "", 200, `{"ready":true}`, false},
		{"GET", "/v1/ready", "", 503, `{"ready":false,"reason":"the engines stopped"}`, true},
		{"POST", "/v1/ready", "", 405, "use GET", false},
		{"POST", "/v1/stats", "", 405, "use GET", false},
		{"GET", "/v1/rate", "", 405, "use POST", false},
		{"POST", "/v1/rate", `{"rate":"50k"}`, 200, `{"rate":"50k"}`, false},
		{"POST", "/v1/rate", `{"rate":"bad"}`, 400, "rate bad", false},
		{"POST", "/v1/rate", `{}`, 400, "want {", false},
		{"POST", "/v1/pause", "", 404, "cannot pause", false},
		{"POST", "/v1/nothing", "", 404, "", false},
		{"POST", "/v1/stop", "", 200, `{"stopping":true}`, false},
	} {
		ready.Store(!c.notReady)
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		resp.Body.Close()
		if resp.StatusCode != c.status || !strings.Contains(b.String(), c.want) {
			t.Errorf("%s %s: %d %q, want %d with %q", c.method, c.path, resp.StatusCode, b.String(), c.status, c.want)
		}
	}
	if rate != "50k" {
		t.Errorf("rate %q", rate)
	}
	select {
	case <-stopped:
	default:
		t.Error("stop did not call Stop")
	}
	if _, err := Serve(s.Addr(), Controls{}); err == nil {
		t.Error("a second server on the same address started")
	}
	var none *Server
	if err := none.Close(); err != nil {
		t.Error(err)
	}
}
