package metrics

import (
	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/fastpathnet/fastpath/load"
)

// LatencyBuckets are the upper bounds, in seconds, of the latency
// histograms load exports: 10 µs to 10 s, 1-2.5-5 per decade. Summed
// across hosts, a histogram's buckets give the fleet's quantiles, which
// averaged percentiles cannot.
var LatencyBuckets = []float64{
	10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3,
	1, 2.5, 5, 10,
}

// Load emits a load run's counts, as of its last sample, under the names
// of its --json summary, and its latencies as histograms
// (fastpath_load_connect_seconds, _first_byte_seconds, _response_seconds);
// labels (name, value pairs: a shard's "shard", "2") go on every one.
func Load(r *load.Run, engine Collect, labels ...string) (Collect, CollectHist) {
	counts := func(emit Emit) {
		engine(emit)
		c := r.Counters()
		for k := load.Counter(0); int(k) < load.NumCounters; k++ {
			if k.IsError() {
				emit("fastpath_load_errors_total", "Connections that failed, by kind.", Counter, float64(c[k]), append([]string{"kind", k.String()}, labels...)...)
				continue
			}
			emit("fastpath_load_"+k.String()+"_total", "Load counter "+k.String()+".", Counter, float64(c[k]), labels...)
		}
		emit("fastpath_load_connections_open", "Connections open (dialed, not yet ended).", Gauge, float64(c.Open()), labels...)
		asked := r.Config().CPS
		if r.Stopped() {
			asked = 0 // ended: lingering for the last scrape, not asking for any
		}
		emit("fastpath_load_asked_cps", "Connections per second asked for (0: paced by the number kept open, or the run ended).", Gauge, asked, labels...)
		paused := 0.0
		if r.Paused() {
			paused = 1
		}
		emit("fastpath_load_paused", "1 while the run is paused: waiting for --start-at, or by the control API.", Gauge, paused, labels...)
	}
	hists := func(emit EmitHist) {
		r.Latencies(func(total *[load.NumLatencies]*hdrhistogram.Histogram) {
			for l := load.Latency(0); l < load.NumLatencies; l++ {
				emit("fastpath_load_"+l.String()+"_seconds", "Latency of "+l.String()+" (load's).", histOf(total[l]), labels...)
			}
		})
	}
	return counts, hists
}

// histOf turns a histogram of microseconds into Prometheus buckets of
// seconds.
func histOf(h *hdrhistogram.Histogram) Hist {
	out := Hist{Count: uint64(h.TotalCount()), Sum: h.Mean() * float64(h.TotalCount()) / 1e6, Buckets: map[float64]uint64{}}
	bars := h.Distribution()
	for _, le := range LatencyBuckets {
		var n uint64
		for _, b := range bars {
			// A bar's values are equivalent to its upper end, to the
			// histogram's precision.
			if float64(b.To)/1e6 <= le {
				n += uint64(b.Count)
			}
		}
		out.Buckets[le] = n
	}
	return out
}
