package tcp

import "math"

// CUBIC constants (RFC 9438 4.1, 4.3).
const (
	cubicC     = 0.4
	cubicBeta  = 0.7
	cubicAlpha = 3 * (1 - cubicBeta) / (1 + cubicBeta)
)

// Cubic is CUBIC (RFC 9438): the window grows as a cubic function of the
// time since the last congestion event, concave up to the window where
// loss happened (W_max), then convex, never slower than Reno would grow
// (the Reno-friendly region). The window is kept in segments, as a float
// (the unit of RFC 9438's C), and reported in bytes.
type Cubic struct {
	mss       int
	cwnd      float64 // segments
	ssthresh  float64 // segments
	wMax      float64 // segments, before the last reduction (4.7 may lower it)
	cwndPrior float64 // segments, cwnd when ssthresh was last set (4.3)
	k         float64 // seconds from the epoch to W_max
	epoch     int64   // ns, when started
	inEpoch   bool    // a congestion avoidance epoch is under way
	wEst      float64 // the Reno-friendly estimate, segments
	afterRTO  bool    // the next epoch is the first after a timeout (4.8)
	timedOut  bool    // OnRTO with no new data acknowledged since
}

func (c *Cubic) Name() string { return "cubic" }
func (c *Cubic) Cwnd() int    { return int(c.cwnd * float64(c.mss)) }
func (c *Cubic) Ssthresh() int {
	return int(min(c.ssthresh, 1<<30/float64(max(c.mss, 1))) * float64(c.mss))
}

// SetMSS keeps the windows in bytes and starts a new epoch in the new
// unit.
func (c *Cubic) SetMSS(m int) {
	if m > 0 && c.mss > 0 && m != c.mss {
		f := float64(c.mss) / float64(m)
		c.cwnd *= f
		c.ssthresh *= f // infinity stays infinity
		c.wMax *= f
		c.cwndPrior *= f
		c.inEpoch = false
	}
	c.mss = m
}

func (c *Cubic) Init(mss int, now int64) {
	*c = Cubic{mss: mss, cwnd: float64(initialWindow(mss)) / float64(mss), ssthresh: math.Inf(1)}
}

// wCubic is W_cubic(t) (RFC 9438 eq. 1), t in seconds since the epoch.
func (c *Cubic) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.wMax
}

func (c *Cubic) OnAck(acked int, rtt int64, inflight int, now int64) {
	c.timedOut = false
	seg := float64(acked) / float64(c.mss)
	if c.cwnd < c.ssthresh {
		// Slow start, byte counted up to 2 segments per ACK (RFC 3465).
		c.cwnd += min(seg, 2)
		return
	}
	if !c.inEpoch {
		// A congestion avoidance epoch starts (RFC 9438 4.2).
		c.epoch, c.inEpoch = now, true
		c.wEst = c.cwnd
		switch {
		case c.afterRTO:
			// The first epoch after a timeout (4.8): K = 0 and W_max is
			// the window now, so the curve is convex from here.
			c.k, c.wMax, c.afterRTO = 0, c.cwnd, false
		case c.cwnd < c.wMax:
			c.k = math.Cbrt((c.wMax - c.cwnd) / cubicC)
		default:
			c.k, c.wMax = 0, c.cwnd
		}
	}
	t := float64(now-c.epoch) / 1e9
	r := float64(rtt) / 1e9
	// The target one RTT ahead, within [cwnd, 1.5 cwnd] (RFC 9438 4.2).
	target := min(max(c.wCubic(t+r), c.cwnd), 1.5*c.cwnd)
	// The Reno-friendly estimate (RFC 9438 4.3), at Reno's own rate of one
	// segment per RTT once it is back at the window of the last loss.
	alpha := cubicAlpha
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst += alpha * seg / c.cwnd
	if c.wCubic(t) < c.wEst {
		c.cwnd = max(c.cwnd, c.wEst)
		return
	}
	// Concave or convex (4.4, 4.5): close (target-cwnd)/cwnd per segment.
	c.cwnd += (target - c.cwnd) / c.cwnd * seg
}

// reduce is the multiplicative decrease (RFC 9438 4.6) with fast
// convergence (4.7). ssthresh comes from the flight, not cwnd: a flow
// limited by its application keeps growing cwnd, and 4.6 allows cwnd
// only where that growth is stopped.
func (c *Cubic) reduce(inflight int) {
	if c.cwnd < c.wMax {
		c.wMax = c.cwnd * (1 + cubicBeta) / 2
	} else {
		c.wMax = c.cwnd
	}
	c.cwndPrior = c.cwnd
	c.ssthresh = max(float64(inflight)/float64(c.mss)*cubicBeta, 2)
	c.inEpoch = false
}

func (c *Cubic) OnCongestion(inflight int, now int64) {
	c.reduce(inflight)
	c.cwnd = c.ssthresh
	c.afterRTO, c.timedOut = false, false
}

func (c *Cubic) OnRecoveryExit(now int64) { c.cwnd = c.ssthresh }

// OnRTO: ssthresh as for a loss, then the loss window of one segment (RFC
// 9438 4.8). A timeout again before any new data is acknowledged keeps
// ssthresh and W_max (RFC 5681 3.1).
func (c *Cubic) OnRTO(inflight int, now int64) {
	if !c.timedOut {
		c.reduce(inflight)
	}
	c.cwnd = 1
	c.inEpoch, c.afterRTO, c.timedOut = false, true, true
}
