package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/fastpathnet/fastpath/internal/metrics"
)

// Metric names (internal/metrics) follow Prometheus's conventions: fastpath_ prefix, snake
// case, _total on counters, labels device, queue and mode (copy or
// zerocopy) on everything per queue.

// serveMetrics starts the metrics server when addr is set, and says where
// on w.
func serveMetrics(addr string, collect metrics.Collect, w io.Writer, hists ...metrics.CollectHist) (*metrics.Server, error) {
	if addr == "" {
		return nil, nil
	}
	ms, err := metrics.Serve(addr, collect, hists...)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	fmt.Fprintf(w, "metrics: http://%s/metrics\n", ms.Addr())
	return ms, nil
}

const metricsUsage = "serve Prometheus metrics on this host:port (such as 127.0.0.1:9100) at /metrics"

const lingerUsage = "after the run, keep serving --metrics and --control this long, so that the last scrape sees the totals (a Kubernetes Job's pod, and its metrics, are gone once fastpath exits): two scrape intervals or more"

// linger keeps the process, and so its /metrics, up for d after a run
// ended, so that the last scrape sees its totals; ctx's end (SIGINT,
// SIGTERM, the control API's stop) cuts it short.
func linger(ctx context.Context, d time.Duration, w io.Writer) {
	if d <= 0 || ctx.Err() != nil {
		return
	}
	fmt.Fprintf(w, "lingering %v for the last scrape (--linger)\n", d)
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
}
