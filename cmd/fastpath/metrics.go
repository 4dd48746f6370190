package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/fastpathnet/fastpath/internal/metrics"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// Metric names follow Prometheus's conventions: fastpath_ prefix, snake
// case, _total on counters, labels device, queue and mode (copy or
// zerocopy) on everything per queue.

// with returns labels plus one more pair, in a new slice.
func with(labels []string, kv ...string) []string {
	return append(append(make([]string, 0, len(labels)+len(kv)), labels...), kv...)
}

// kernelStats reads a socket's XDP_STATISTICS from any goroutine: a
// port.Queue, or an engine's socket.
type kernelStats interface {
	KernelStats() (port.Stats, error)
}

// queueMetrics emits a socket's XDP_STATISTICS.
func queueMetrics(emit metrics.Emit, q kernelStats, lbl []string) {
	st, err := q.KernelStats()
	if err != nil {
		return
	}
	for _, m := range []struct {
		name, help string
		v          uint64
	}{
		{"rx_dropped", "Frames the kernel dropped for the socket (XDP_STATISTICS rx_dropped).", st.RXDropped},
		{"rx_ring_full", "Frames dropped because the RX ring was full.", st.RXRingFull},
		{"rx_fill_ring_empty", "Times the kernel found the fill ring empty.", st.RXFillRingEmpty},
		{"tx_ring_empty", "Times the kernel found the TX ring empty.", st.TXRingEmpty},
		{"rx_invalid_descs", "RX descriptors the kernel rejected.", st.RXInvalidDescs},
		{"tx_invalid_descs", "TX descriptors the kernel rejected.", st.TXInvalidDescs},
	} {
		emit("fastpath_xsk_"+m.name+"_total", m.help, metrics.Counter, float64(m.v), lbl...)
	}
}

// stackMetrics emits every engine's counters, its socket's statistics and,
// with TCP on, its TCP counters.
func stackMetrics(st *stack.Stack, device string) metrics.Collect {
	return func(emit metrics.Emit) {
		for _, e := range st.Engines() {
			lbl := []string{"device", device, "queue", strconv.Itoa(e.Queue()), "mode", e.Socket().Info().Mode.String()}
			c := e.Counters()
			for i := stack.Counter(0); i < stack.NumCounters; i++ {
				name, v := i.String(), float64(c[i])
				switch {
				case i == stack.RXFrames || i == stack.TXFrames:
					emit("fastpath_engine_frames_total", "Frames the engine received and sent.", metrics.Counter, v, with(lbl, "direction", name[:2])...)
				case i == stack.RXBytes || i == stack.TXBytes:
					emit("fastpath_engine_bytes_total", "Bytes the engine received and sent.", metrics.Counter, v, with(lbl, "direction", name[:2])...)
				case strings.HasPrefix(name, "drop_"):
					emit("fastpath_engine_drops_total", "Frames the engine dropped, by reason.", metrics.Counter, v, with(lbl, "reason", name[len("drop_"):])...)
				default:
					emit("fastpath_engine_"+name+"_total", "Engine counter "+name+".", metrics.Counter, v, lbl...)
				}
			}
			queueMetrics(emit, e.Socket(), lbl)
			if e.TCP() == nil {
				continue
			}
			t := e.TCPCounters()
			for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
				name, v := i.String(), float64(t[i])
				if strings.HasPrefix(name, "drop_") {
					emit("fastpath_tcp_drops_total", "TCP segments dropped, by reason.", metrics.Counter, v, with(lbl, "reason", name[len("drop_"):])...)
					continue
				}
				emit("fastpath_tcp_"+name+"_total", "TCP counter "+name+".", metrics.Counter, v, lbl...)
			}
			emit("fastpath_tcp_connections", "TCP connections in the engine's table.", metrics.Gauge, float64(openConns(t)), lbl...)
		}
	}
}

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
