package tcp

import "fmt"

// CongestionControl is the sender's congestion controller (RFC 5681
// terms). Sizes are bytes; now is ns.
type CongestionControl interface {
	Name() string
	// Init starts the controller after the handshake with the send MSS:
	// the initial window of RFC 6928, min(10*MSS, max(2*MSS, 14600)).
	Init(mss int, now int64)
	Cwnd() int
	Ssthresh() int
	// OnAck is called for new data acknowledged outside recovery; rtt is
	// the smoothed RTT (0 before a sample), inflight the bytes still out.
	OnAck(acked int, rtt int64, inflight int, now int64)
	// OnCongestion is called when loss is detected by duplicate ACKs or
	// SACK: fast recovery begins.
	OnCongestion(inflight int, now int64)
	// OnRecoveryExit is called when recovery ends.
	OnRecoveryExit(now int64)
	// OnRTO is called on a retransmission timeout: ssthresh from the
	// flight (RFC 5681 eq. 4; CUBIC's beta), cwnd one MSS. A timeout again
	// with no OnAck since is the same data timing out again: ssthresh is
	// held (RFC 5681 3.1).
	OnRTO(inflight int, now int64)
	SetMSS(mss int)
}

// DefaultCongestionControl is the algorithm a Host uses unless told.
const DefaultCongestionControl = "cubic"

// NewCongestionControl returns the controller named name: "cubic" or
// "newreno".
func NewCongestionControl(name string) (CongestionControl, error) {
	switch name {
	case "cubic", "":
		return &Cubic{}, nil
	case "newreno", "reno":
		return &NewReno{}, nil
	}
	return nil, fmt.Errorf("tcp: congestion control %q: use cubic or newreno", name)
}

// initialWindow is RFC 6928's IW.
func initialWindow(mss int) int { return min(10*mss, max(2*mss, 14600)) }

// NewReno is RFC 5681's slow start and congestion avoidance with RFC
// 6582's recovery (the loss response is the sender's; this is the
// window).
type NewReno struct {
	mss, cwnd, ssthresh int
	acc                 int  // bytes acked in congestion avoidance, towards one MSS of growth
	timedOut            bool // OnRTO with no new data acknowledged since
}

func (r *NewReno) Name() string  { return "newreno" }
func (r *NewReno) Cwnd() int     { return r.cwnd }
func (r *NewReno) Ssthresh() int { return r.ssthresh }
func (r *NewReno) SetMSS(m int)  { r.mss = m }

func (r *NewReno) Init(mss int, now int64) {
	*r = NewReno{mss: mss, cwnd: initialWindow(mss), ssthresh: 1 << 30}
}

func (r *NewReno) OnAck(acked int, rtt int64, inflight int, now int64) {
	r.timedOut = false
	if r.cwnd < r.ssthresh {
		// Slow start with appropriate byte counting, L = 2*SMSS (RFC 3465).
		r.cwnd += min(acked, 2*r.mss)
		return
	}
	// Congestion avoidance: one MSS per cwnd of acknowledged bytes.
	r.acc += acked
	if r.acc >= r.cwnd {
		r.acc -= r.cwnd
		r.cwnd += r.mss
	}
}

func (r *NewReno) OnCongestion(inflight int, now int64) {
	r.ssthresh = max(inflight/2, 2*r.mss) // RFC 5681 eq. 4
	// No inflation (RFC 6582 3.2 step 2): the sender's pipe estimate
	// already counts each duplicate ACK as a segment that left.
	r.cwnd = r.ssthresh
	r.acc, r.timedOut = 0, false
}

func (r *NewReno) OnRecoveryExit(now int64) { r.cwnd = r.ssthresh }

func (r *NewReno) OnRTO(inflight int, now int64) {
	if !r.timedOut {
		r.ssthresh = max(inflight/2, 2*r.mss) // RFC 5681 eq. 4
	}
	r.cwnd = r.mss // the loss window
	r.acc, r.timedOut = 0, true
}
