// Package control serves the control API of fastpath's long runs: HTTP
// and JSON on loopback unless an address says otherwise.
//
//	GET  /v1/stats   the live stats, as the --json summary spells them
//	GET  /v1/ready   200 {"ready": true} while the run is up (its queues
//	                 open, its engines running); 503 with the reason when
//	                 not: a readiness probe
//	POST /v1/rate    {"rate": "50k"} or {"rate": "800Mbps"} (gen; "0": unlimited)
//	POST /v1/pause   stop sending, keep everything set up (gen)
//	POST /v1/resume
//	POST /v1/stop    end the run as SIGINT does (once it is up: summary and exit 0)
//
// Errors are {"error": "..."} with status 400 (bad request), 404 (no such
// operation for this command), 405 (wrong method) or 503 (the run is
// still starting).
//
// A command listens before it opens its queues (Listen), so that a
// probe or a stop never meets a closed port while the run starts: until
// the run is up (Attach), /v1/ready answers 503 "starting" and the other
// operations but /v1/stop 503; a stop is taken at once (the run ends
// as soon as it can, or does not start).
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Controls are what a run lets the API do; nil funcs are refused (404).
type Controls struct {
	Stats func() any
	// Ready says why the run is not ready (nil: it is); a nil Ready is
	// ready from the moment the run attaches its controls.
	Ready   func() error
	SetRate func(string) (any, error)
	Pause   func(bool) error
}

// Server is a running control API.
type Server struct {
	srv  *http.Server
	addr net.Addr
	c    atomic.Pointer[Controls] // nil until the run attaches
	once sync.Once                // Close's
}

// starting is why a run not up yet is not ready; errStarting answers
// what needs the run.
const starting = "starting: the run is opening its queues"

var errStarting = errors.New(starting + "; ask again when /v1/ready says ready")

// Addr is the address the API listens on.
func (s *Server) Addr() string { return s.addr.String() }

// listenAddr makes a bare port a loopback address.
func listenAddr(s string) string {
	if !strings.Contains(s, ":") {
		return "127.0.0.1:" + s
	}
	return s
}

// Listen starts the control API on addr (a bare port means 127.0.0.1)
// for a run still starting; Attach its controls once it is up. /v1/stop
// calls stop, from now on (nil: refused). Close it when the run ends.
func Listen(addr string, stop func()) (*Server, error) {
	ln, err := net.Listen("tcp", listenAddr(addr))
	if err != nil {
		return nil, fmt.Errorf("control: %w (use a free port, such as 127.0.0.1:8089)", err)
	}
	s := &Server{addr: ln.Addr()}
	mux := http.NewServeMux()
	reply := func(rw http.ResponseWriter, status int, v any) {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(status)
		json.NewEncoder(rw).Encode(v)
	}
	fail := func(rw http.ResponseWriter, status int, err error) {
		reply(rw, status, map[string]string{"error": err.Error()})
	}
	// handle serves path for method once the run is up (503 before).
	handle := func(method, path string, fn func(rw http.ResponseWriter, r *http.Request, c *Controls)) {
		mux.HandleFunc(path, func(rw http.ResponseWriter, r *http.Request) {
			if r.Method != method {
				fail(rw, http.StatusMethodNotAllowed, errors.New(path+": use "+method))
				return
			}
			c := s.c.Load()
			if c == nil {
				fail(rw, http.StatusServiceUnavailable, errStarting)
				return
			}
			fn(rw, r, c)
		})
	}
	handle(http.MethodGet, "/v1/stats", func(rw http.ResponseWriter, r *http.Request, c *Controls) {
		reply(rw, http.StatusOK, c.Stats())
	})
	mux.HandleFunc("/v1/ready", func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			fail(rw, http.StatusMethodNotAllowed, errors.New("/v1/ready: use GET"))
			return
		}
		c := s.c.Load()
		var err error
		switch {
		case c == nil:
			err = errors.New(starting)
		case c.Ready != nil:
			err = c.Ready()
		}
		if err != nil {
			reply(rw, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": err.Error()})
			return
		}
		reply(rw, http.StatusOK, map[string]bool{"ready": true})
	})
	handle(http.MethodPost, "/v1/rate", func(rw http.ResponseWriter, r *http.Request, c *Controls) {
		if c.SetRate == nil {
			fail(rw, http.StatusNotFound, errors.New("this command has no rate to change"))
			return
		}
		var req struct {
			Rate string `json:"rate"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Rate == "" {
			fail(rw, http.StatusBadRequest, errors.New(`want {"rate": "50k"} (packets/s) or {"rate": "800Mbps"} (bits/s)`))
			return
		}
		v, err := c.SetRate(req.Rate)
		if err != nil {
			fail(rw, http.StatusBadRequest, err)
			return
		}
		reply(rw, http.StatusOK, v)
	})
	for path, p := range map[string]bool{"/v1/pause": true, "/v1/resume": false} {
		handle(http.MethodPost, path, func(rw http.ResponseWriter, r *http.Request, c *Controls) {
			if c.Pause == nil {
				fail(rw, http.StatusNotFound, errors.New("this command cannot pause"))
				return
			}
			if err := c.Pause(p); err != nil {
				fail(rw, http.StatusBadRequest, err)
				return
			}
			reply(rw, http.StatusOK, map[string]bool{"paused": p})
		})
	}
	mux.HandleFunc("/v1/stop", func(rw http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			fail(rw, http.StatusMethodNotAllowed, errors.New("/v1/stop: use POST"))
			return
		}
		if stop == nil {
			fail(rw, http.StatusNotFound, errors.New("this command cannot stop"))
			return
		}
		reply(rw, http.StatusOK, map[string]bool{"stopping": true})
		stop()
	})
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(ln)
	return s, nil
}

// Attach hands the API the controls of the run, now up. Call it once; a
// nil Server is none.
func (s *Server) Attach(c Controls) {
	if s == nil {
		return
	}
	s.c.Store(&c)
}

// Close shuts the API down, waiting up to a second for requests in
// flight; again, it does nothing. A nil Server is none.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
	})
	return err
}
