package control

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

func TestAPI(t *testing.T) {
	stopped := make(chan struct{})
	var rate string
	var ready atomic.Bool // set here, read by the server's goroutine
	s, err := Listen("127.0.0.1:0", func() { close(stopped) })
	if err != nil {
		t.Fatal(err)
	}
	s.Attach(Controls{
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
	})
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
	if _, err := Listen(s.Addr(), nil); err == nil {
		t.Error("a second server on the same address started")
	}
	var none *Server
	if err := none.Close(); err != nil {
		t.Error(err)
	}
}

// TestStarting: listening before the run is up, the API answers every
// operation but a stop with 503 and takes a stop at once; attached, it
// serves the run's controls. Close is idempotent.
func TestStarting(t *testing.T) {
	var stops atomic.Int32
	s, err := Listen("127.0.0.1:0", func() { stops.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	call := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{"rate":"1k"}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/v1/ready", `"reason":"starting`},
		{"GET", "/v1/stats", `"error":"starting`},
		{"POST", "/v1/rate", `"error":"starting`},
		{"POST", "/v1/pause", `"error":"starting`},
	} {
		if code, body := call(c.method, c.path); code != 503 || !strings.Contains(body, c.want) {
			t.Errorf("starting: %s %s: %d %s, want 503 with %s", c.method, c.path, code, body, c.want)
		}
	}
	if code, body := call("GET", "/v1/stop"); code != 405 || stops.Load() != 0 {
		t.Errorf("starting: GET /v1/stop: %d %s, %d stops; want 405, none", code, body, stops.Load())
	}
	if code, body := call("POST", "/v1/stop"); code != 200 || !strings.Contains(body, `"stopping":true`) || stops.Load() != 1 {
		t.Errorf("starting: POST /v1/stop: %d %s, %d stops; want 200, one", code, body, stops.Load())
	}
	s.Attach(Controls{Stats: func() any { return map[string]int{"sent": 7} }})
	if code, body := call("GET", "/v1/ready"); code != 200 {
		t.Errorf("attached: /v1/ready %d %s", code, body)
	}
	if code, body := call("GET", "/v1/stats"); code != 200 || !strings.Contains(body, `"sent":7`) {
		t.Errorf("attached: /v1/stats %d %s", code, body)
	}
	call("POST", "/v1/stop")
	if n := stops.Load(); n != 2 {
		t.Errorf("a stop after Attach: %d stops in all, want 2", n)
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("closed again: %v", err)
	}
	var none *Server
	none.Attach(Controls{}) // no API: nothing to do

	// No stop: refused.
	n, err := Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	base = "http://" + n.Addr()
	if code, body := call("POST", "/v1/stop"); code != 404 {
		t.Errorf("without a stop: POST /v1/stop %d %s, want 404", code, body)
	}
}
