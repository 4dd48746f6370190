package gen

// Bucket is a token bucket that paces one sender. Tokens are packets, or
// bits on the wire for a bit rate; they accrue with the time passed in
// (never read inside), up to a burst of about one batch, so a stall is
// not followed by a burst above the rate. Time is in nanoseconds.
type Bucket struct {
	perNs  float64 // tokens per nanosecond; 0: unlimited
	bits   bool
	tokens float64
	burst  float64
	last   int64
}

// NewBucket paces rate, with a burst of batch frames of the given size in
// bits (for a bit rate).
func NewBucket(rate Rate, batch int, frameBits uint64, now int64) *Bucket {
	b := &Bucket{perNs: rate.Value / 1e9, bits: rate.Bits, last: now}
	b.burst = float64(batch)
	if rate.Bits {
		b.burst = float64(batch) * float64(frameBits)
	}
	return b
}

// Unlimited reports whether the bucket lets everything through.
func (b *Bucket) Unlimited() bool { return b.perNs == 0 }

// Refill adds the tokens accrued up to now.
func (b *Bucket) Refill(now int64) {
	if now > b.last {
		b.tokens = min(b.tokens+float64(now-b.last)*b.perNs, b.burst)
		b.last = now
	}
}

// Take takes one frame of the given bits if the bucket has its tokens.
func (b *Bucket) Take(bits uint64) bool {
	if b.perNs == 0 {
		return true
	}
	cost := 1.0
	if b.bits {
		cost = float64(bits)
	}
	if b.tokens < cost {
		return false
	}
	b.tokens -= cost
	return true
}

// Wait returns how long until a frame of the given bits can be taken.
func (b *Bucket) Wait(bits uint64) int64 {
	if b.perNs == 0 {
		return 0
	}
	cost := 1.0
	if b.bits {
		cost = float64(bits)
	}
	if b.tokens >= cost {
		return 0
	}
	return int64((cost-b.tokens)/b.perNs) + 1
}
