package load

import (
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Percentiles summarise a latency histogram, in microseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// PercentilesOf reads h (values in µs).
func PercentilesOf(h *hdrhistogram.Histogram) Percentiles {
	if h.TotalCount() == 0 {
		return Percentiles{}
	}
	return Percentiles{
		Count: h.TotalCount(),
		P50:   float64(h.ValueAtQuantile(50)), P90: float64(h.ValueAtQuantile(90)),
		P99: float64(h.ValueAtQuantile(99)), P999: float64(h.ValueAtQuantile(99.9)),
		Max: float64(h.Max()), Mean: h.Mean(),
	}
}

// Summary is a run's result: what the --json output and the control
// API's stats spell.
type Summary struct {
	DurationS float64 `json:"duration_s"`
	// ConnectionsOpened: handshakes completed; ConnectionsFailed: those
	// that ended with an error (Errors says which).
	ConnectionsOpened    uint64 `json:"connections_opened"`
	ConnectionsFailed    uint64 `json:"connections_failed"`
	ConnectionsCompleted uint64 `json:"connections_completed"`
	ConnectionsOpen      uint64 `json:"connections_open"`
	// CPS is handshakes completed per second; AskedCPS the rate asked (0:
	// none, Conns paced it).
	CPS      float64 `json:"cps"`
	AskedCPS float64 `json:"asked_cps"`
	Requests uint64  `json:"requests"`
	// ResponsesOK: responses complete and correct; RPS of them per second.
	ResponsesOK uint64  `json:"responses_ok"`
	RPS         float64 `json:"rps"`
	// GoodputBps: response bytes received per second, in bits.
	GoodputBps float64 `json:"goodput_bps"`
	// Errors by kind: refused, reset, timeout, bad_response,
	// closed_early, local.
	Errors       map[string]uint64 `json:"errors"`
	AbortedAtEnd uint64            `json:"aborted_at_end"`
	// Latency in µs: connect, first_byte, response.
	Latency  map[string]Percentiles `json:"latency_us"`
	Counters map[string]uint64      `json:"counters"`
}

// Summarize makes the Summary of counts c and the total histograms over
// elapsed.
func Summarize(c Counters, total *[NumLatencies]*hdrhistogram.Histogram, elapsed time.Duration, askedCPS float64) Summary {
	s := Summary{
		DurationS:         elapsed.Seconds(),
		ConnectionsOpened: c[Established], ConnectionsFailed: c[Failed], ConnectionsCompleted: c[Completed],
		ConnectionsOpen: c.Open(), AskedCPS: askedCPS,
		Requests: c[Requests], ResponsesOK: c[Responses], AbortedAtEnd: c[Aborted],
		Errors: map[string]uint64{}, Latency: map[string]Percentiles{}, Counters: map[string]uint64{},
	}
	if sec := elapsed.Seconds(); sec > 0 {
		s.CPS = float64(c[Established]) / sec
		s.RPS = float64(c[Responses]) / sec
		s.GoodputBps = float64(c[ResponseBytes]) * 8 / sec
	}
	for k := Counter(0); k < numCounters; k++ {
		s.Counters[k.String()] = c[k]
		if k.IsError() {
			s.Errors[k.String()] = c[k]
		}
	}
	for l := Latency(0); l < NumLatencies; l++ {
		s.Latency[l.String()] = PercentilesOf(total[l])
	}
	return s
}

// Summary is the run's Summary as of its last Sample (or Finish), over
// elapsed.
func (r *Run) Summary(elapsed time.Duration) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Summarize(r.counters, &r.total, elapsed, r.cfg.CPS)
}
