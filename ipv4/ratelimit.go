package ipv4

import "math"

// RateLimiter is a token bucket, for ICMP error messages (RFC 1812
// 4.3.2.8, RFC 1122 3.2.2): up to burst messages at once, then perSecond
// on average. Time is passed in (nanoseconds from a monotonic clock), so
// it runs on synthetic time in tests. The arithmetic is in integer
// nanoseconds of credit: no floating point and no allocation in Allow.
//
// A RateLimiter is not safe for concurrent use: one engine owns it.
type RateLimiter struct {
	interval int64 // nanoseconds per token; 0: no limit
	capacity int64 // burst × interval: the most credit the bucket holds
	credit   int64 // in nanoseconds; a token costs interval
	last     int64 // the now of the previous Allow
	started  bool
	never    bool // burst < 1: nothing is ever allowed
	refill   bool // perSecond > 0
}

// NewRateLimiter returns a full bucket of burst tokens that refills at
// perSecond tokens a second. A rate above 1e9 a second (or +Inf) does not
// limit; a rate of 0, below or NaN never refills (only the first burst
// passes); a burst below 1 allows nothing.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	r := MakeRateLimiter(perSecond, burst)
	return &r
}

// MakeRateLimiter is NewRateLimiter returning a value, to embed.
func MakeRateLimiter(perSecond float64, burst int) RateLimiter {
	r := RateLimiter{never: burst < 1, refill: perSecond > 0}
	switch {
	case r.never:
	case !r.refill: // 0, negative, NaN
		r.interval = 1
		r.capacity = int64(burst)
	case perSecond > 1e9: // includes +Inf
		r.interval = 0
	default:
		iv := math.Round(1e9 / perSecond)
		if iv > 1e18 { // slower than one token in 30 years: clamp
			iv = 1e18
		}
		r.interval = int64(iv)
		if r.interval > math.MaxInt64/int64(burst) {
			r.capacity = math.MaxInt64
		} else {
			r.capacity = r.interval * int64(burst)
		}
	}
	r.credit = r.capacity
	return r
}

// Allow reports whether a message may be sent at now, and if so takes a
// token. A clock that steps back earns nothing for the step.
func (r *RateLimiter) Allow(now int64) bool {
	if r.never {
		return false
	}
	if r.interval == 0 {
		return true
	}
	if r.refill {
		if !r.started {
			r.started = true
		} else if now > r.last {
			// now - last as unsigned: exact even where the int64
			// difference would overflow.
			if d := uint64(now) - uint64(r.last); d >= uint64(r.capacity-r.credit) {
				r.credit = r.capacity
			} else {
				r.credit += int64(d)
			}
		}
		r.last = now
	}
	if r.credit < r.interval {
		return false
	}
	r.credit -= r.interval
	return true
}
