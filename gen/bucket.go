package gen

// Bucket is a token bucket that paces one sender. Tokens are packets, or
// bits on the wire for a bit rate; they accrue with the time passed in
// (never read inside), up to a burst of a batch of the largest frames or
// BurstTime's worth, whichever is more: a sender that loses the CPU (or
// oversleeps) for up to BurstTime catches up, and keeps its rate over each
// second; a longer stall is not followed by a burst, and the schedule it
// missed is counted (Behind). Time is in nanoseconds.
type Bucket struct {
	perNs  float64 // tokens per nanosecond; 0: unlimited
	bits   bool
	tokens float64
	burst  float64
	last   int64
	behind float64 // ns of the schedule dropped past the burst
}

// BurstTime is the time a Bucket lets a sender catch up on.
const BurstTime = 2e6 // 2 ms

// NewBucket paces rate; maxBits is the largest frame's size in bits on the
// wire (for a bit rate).
func NewBucket(rate Rate, batch int, maxBits uint64, now int64) *Bucket {
	b := &Bucket{perNs: rate.Value / 1e9, bits: rate.Bits, last: now}
	cost := 1.0
	if rate.Bits {
		cost = float64(maxBits)
	}
	// One frame more than a batch: a fraction accrued past a full batch is
	// kept for the next.
	b.burst = max(float64(batch+1)*cost, b.perNs*BurstTime)
	return b
}

// Reset paces rate from now on, as NewBucket would, in place; the tokens
// accrued are dropped, the time behind is kept.
func (b *Bucket) Reset(rate Rate, batch int, maxBits uint64, now int64) {
	behind := b.behind
	*b = *NewBucket(rate, batch, maxBits, now)
	b.behind = behind
}

// Unlimited reports whether the bucket lets everything through.
func (b *Bucket) Unlimited() bool { return b.perNs == 0 }

// Refill adds the tokens accrued up to now. What overflows the burst is
// schedule the sender missed: it lost the CPU, or the ring and the device
// did not take frames as fast as the rate asks.
func (b *Bucket) Refill(now int64) {
	if now > b.last {
		t := b.tokens + float64(now-b.last)*b.perNs
		if t > b.burst {
			b.behind += (t - b.burst) / b.perNs
			t = b.burst
		}
		b.tokens = t
		b.last = now
	}
}

// Skip drops the time up to now without counting it behind: a paused or
// finished sender is not late.
func (b *Bucket) Skip(now int64) {
	if now > b.last {
		b.last = now
	}
}

// Behind is the time, in nanoseconds, of the schedule the sender missed
// (and will not catch up on): rate x Behind is what it fell short by.
func (b *Bucket) Behind() int64 { return int64(b.behind) }

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
	// At most an hour: a rate of a frame a century is not worth an
	// overflow.
	return int64(min((cost-b.tokens)/b.perNs, 3600e9)) + 1
}
