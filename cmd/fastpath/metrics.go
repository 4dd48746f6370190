package main

import (
	"fmt"
	"io"

	"github.com/fastpathnet/fastpath/internal/metrics"
)

// Metric names (internal/metrics) follow Prometheus's conventions: fastpath_ prefix, snake
// case, _total on counters, labels device, queue and mode (copy or
// zerocopy) on everything per queue.

// serveMetrics starts the metrics server when addr is set, and says where
// on w.
func serveMetrics(addr string, collect metrics.Collect, w io.Writer) (*metrics.Server, error) {
	if addr == "" {
		return nil, nil
	}
	ms, err := metrics.Serve(addr, collect)
	if err != nil {
		return nil, fmt.Errorf("--metrics: %w", err)
	}
	fmt.Fprintf(w, "metrics: http://%s/metrics\n", ms.Addr())
	return ms, nil
}

const metricsUsage = "serve Prometheus metrics on this host:port (such as 127.0.0.1:9100) at /metrics"
