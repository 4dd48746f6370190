package tcp

// RTO bounds. DefaultMinRTO is Linux's 200 ms, not RFC 6298's 1 s: on
// the links fastpath drives, a 1 s floor turns every tail loss into a
// second of silence.
const (
	DefaultMinRTO     = 200 * millisecond
	DefaultMaxRTO     = 120 * second
	DefaultInitialRTO = second
)

// clockGranularity is G of RFC 6298 2.
const clockGranularity = millisecond

// RTTEstimator keeps SRTT and RTTVAR and computes the retransmission
// timeout (RFC 6298). Karn's rule is the caller's: feed no sample from a
// retransmitted segment unless a timestamp tells which copy was acked.
// It is a value to embed; the zero value is not ready (its RTO is 0): use
// NewRTT.
type RTTEstimator struct {
	srtt, rttvar   int64
	minRTT         int64
	min, max, init int64
	backoff        uint
	has            bool
}

// NewRTT returns an estimator with the given bounds and initial RTO (ns).
func NewRTT(min, max, initial int64) RTTEstimator {
	return RTTEstimator{min: min, max: max, init: initial}
}

// Sample feeds one round-trip measurement (ns).
func (r *RTTEstimator) Sample(rtt int64) {
	if rtt <= 0 {
		rtt = 1
	}
	if !r.has || rtt < r.minRTT {
		r.minRTT = rtt
	}
	if !r.has {
		// RFC 6298 2.2.
		r.srtt, r.rttvar, r.has = rtt, rtt/2, true
		return
	}
	// RFC 6298 2.3: beta 1/4, alpha 1/8; RTTVAR first.
	d := r.srtt - rtt
	if d < 0 {
		d = -d
	}
	r.rttvar += (d - r.rttvar) / 4
	r.srtt += (rtt - r.srtt) / 8
}

// RTO is the retransmission timeout, backoff included, within the bounds.
func (r *RTTEstimator) RTO() int64 {
	rto := r.init
	if r.has {
		rto = r.srtt + max(clockGranularity, 4*r.rttvar)
	}
	rto = max(rto, r.min)
	for i := uint(0); i < r.backoff && rto < r.max; i++ {
		rto *= 2
	}
	return min(rto, r.max)
}

// Backoff doubles the RTO (RFC 6298 5.5), up to the maximum.
func (r *RTTEstimator) Backoff() {
	if r.backoff < 32 {
		r.backoff++
	}
}

// ResetBackoff ends the backoff once new data is acknowledged.
func (r *RTTEstimator) ResetBackoff() { r.backoff = 0 }

func (r *RTTEstimator) SRTT() int64     { return r.srtt }
func (r *RTTEstimator) RTTVar() int64   { return r.rttvar }
func (r *RTTEstimator) MinRTT() int64   { return r.minRTT }
func (r *RTTEstimator) HasSample() bool { return r.has }

// sampleRTT feeds one round-trip sample: from the echoed timestamp when
// there is one (valid across retransmissions, RFC 7323 4.1), else the
// timed segment's (Karn's rule applied by the caller).
func (c *Conn) sampleRTT(seg *Segment, now, timed int64) {
	if c.tsOK && seg.Opts.HasTimestamps && seg.Opts.TSEcr != 0 {
		ms := int64(c.tsNow(now) - seg.Opts.TSEcr)
		if ms >= 0 && ms < 1<<20 {
			// Millisecond ticks: at least one tick.
			c.rtt.Sample(max(ms, 1) * 1e6)
			return
		}
	}
	if timed > 0 {
		c.rtt.Sample(timed)
	}
}
