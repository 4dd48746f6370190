package stack

// wheel is a hashed timing wheel of fixed capacity: timers are kinds with
// a due time, fired by advance in due order within a slot's granularity.
// The engine's timers are few and periodic (ARP ticks, counter
// publication), so a small wheel is enough; it never allocates after
// newWheel.
type wheel struct {
	tick  int64 // slot width, ns
	slots [][]timer
	cur   int64 // index of the slot for time cur*tick
	fired []timer
}

type timer struct {
	due  int64
	kind int
}

func newWheel(tick int64, nslots, capacity int, now int64) *wheel {
	w := &wheel{tick: tick, slots: make([][]timer, nslots), cur: now / tick, fired: make([]timer, 0, capacity)}
	for i := range w.slots {
		w.slots[i] = make([]timer, 0, capacity)
	}
	return w
}

// schedule adds a timer of kind due at due. It returns false when the
// slot is full (the caller counts it; the engine's own timers never fill
// a slot).
func (w *wheel) schedule(kind int, due int64) bool {
	slot := due / w.tick
	if slot < w.cur {
		slot = w.cur
	}
	s := &w.slots[slot%int64(len(w.slots))]
	if len(*s) == cap(*s) {
		return false
	}
	*s = append(*s, timer{due: due, kind: kind})
	return true
}

// advance fires, through fire, every timer due at or before now, slot by
// slot. Timers scheduled further than one turn of the wheel ahead stay in
// their slot until their turn.
func (w *wheel) advance(now int64, fire func(kind int, now int64)) {
	end := now / w.tick
	if end-w.cur > int64(len(w.slots)) {
		w.cur = end - int64(len(w.slots)) // a long pause: visit each slot once
	}
	for ; w.cur <= end; w.cur++ {
		s := &w.slots[w.cur%int64(len(w.slots))]
		kept, fired := (*s)[:0], w.fired[:0]
		for _, t := range *s {
			if t.due <= now {
				fired = append(fired, t)
			} else {
				kept = append(kept, t)
			}
		}
		*s = kept
		// Fire after the slot is settled: fire may schedule again.
		for _, t := range fired {
			fire(t.kind, now)
		}
	}
	w.cur = end
}
