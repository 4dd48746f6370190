// Package metrics exposes a command's counters to Prometheus with the
// official client library. Nothing is counted twice: a command hands a
// function that reads its published counters at scrape time, so the hot
// path pays nothing for being watched.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Kind is a metric's Prometheus type.
type Kind int

const (
	Counter Kind = iota
	Gauge
)

// Emit reports one sample: name (with the fastpath_ prefix and, for
// counters, the _total suffix), help, kind, value, and label name/value
// pairs. The same name must always come with the same label names.
type Emit func(name, help string, kind Kind, value float64, labels ...string)

// Collect calls emit once per sample, at every scrape.
type Collect func(emit Emit)

// Hist is a histogram's sample: its count, the sum of its values, and the
// cumulative count at each bucket's upper bound (Prometheus's le), in the
// metric's unit.
type Hist struct {
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// EmitHist reports one histogram sample, as Emit does a counter's.
type EmitHist func(name, help string, h Hist, labels ...string)

// CollectHist calls emit once per histogram, at every scrape.
type CollectHist func(emit EmitHist)

// collector adapts a Collect to prometheus.Collector. It describes
// nothing up front (an "unchecked" collector): the label sets depend on
// the device's queues, known only at run time.
type collector struct {
	collect Collect
	hists   []CollectHist
}

func (c collector) Describe(chan<- *prometheus.Desc) {}

// split splits label pairs into names and values.
func split(labels []string) (names, values []string) {
	names = make([]string, 0, len(labels)/2)
	values = make([]string, 0, len(labels)/2)
	for i := 0; i+1 < len(labels); i += 2 {
		names = append(names, labels[i])
		values = append(values, labels[i+1])
	}
	return names, values
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	for _, hc := range c.hists {
		hc(func(name, help string, h Hist, labels ...string) {
			names, values := split(labels)
			m, err := prometheus.NewConstHistogram(prometheus.NewDesc(name, help, names, nil), h.Count, h.Sum, h.Buckets, values...)
			if err != nil {
				m = prometheus.NewInvalidMetric(prometheus.NewDesc(name, help, names, nil), err)
			}
			ch <- m
		})
	}
	c.collect(func(name, help string, kind Kind, value float64, labels ...string) {
		names, values := split(labels)
		t := prometheus.CounterValue
		if kind == Gauge {
			t = prometheus.GaugeValue
		}
		m, err := prometheus.NewConstMetric(prometheus.NewDesc(name, help, names, nil), t, value, values...)
		if err != nil {
			m = prometheus.NewInvalidMetric(prometheus.NewDesc(name, help, names, nil), err)
		}
		ch <- m
	})
}

// Server serves /metrics.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Serve listens on addr (host:port; ":9100" is every address, so prefer
// "127.0.0.1:9100" unless a Prometheus elsewhere scrapes it) and serves
// the samples of collect and hists, plus the Go runtime's and the
// process's, on /metrics.
func Serve(addr string, collect Collect, hists ...CollectHist) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{collect, hists}, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w (use a free host:port, such as 127.0.0.1:9100)", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go s.srv.Serve(ln)
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server. It is safe on a nil Server.
func (s *Server) Close() error {
	if s == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
