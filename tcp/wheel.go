package tcp

// The Host's timer wheel: which connections have a timer due at a Tick.
// The timers themselves (what each does when it fires) are in timers.go.

// wheelSlots is the timer wheel's span in milliseconds.
const wheelSlots = 1024

// Tick fires the connections' due timers. Call it every millisecond or
// so; a timer fires at the first Tick at or after its deadline, rounded
// up to the millisecond. Its cost follows the connections touched and
// due, not the connections held. It reclaims the connections gone since
// the last Tick for reuse (pool.go): do not call it from a Handler.
func (h *Host) Tick(now int64) {
	for _, c := range h.touched {
		c.touched = false
		if !c.removed {
			h.file(c)
		}
	}
	clear(h.touched) // no gone connection stays reachable from here
	h.touched = h.touched[:0]
	target := now / millisecond
	if !h.ticked || target < h.wheelMs {
		// The first Tick (or a clock that went back): one pass over
		// every slot.
		h.ticked, h.wheelMs = true, target-wheelSlots
	}
	steps := min(target-h.wheelMs, wheelSlots)
	for i := int64(1); i <= steps; i++ {
		slot := slotOf(h.wheelMs + i)
		for c := h.wheel[slot]; c != nil; {
			next := c.tNext
			if c.tAt <= now {
				h.unfile(c)
				h.due = append(h.due, c)
			}
			c = next
		}
	}
	h.wheelMs = target
	for _, c := range h.due {
		// A callback of an earlier one may have ended this one, or
		// filed it anew.
		if c.removed || c.tSlot >= 0 {
			continue
		}
		c.tick(now)
		if !c.removed {
			h.file(c)
		}
	}
	clear(h.due)
	h.due = h.due[:0]
	// No connection's code is running: the dead can be reused.
	h.reclaim()
}

// slotOf is the wheel's slot for millisecond ms (which may be negative
// before the first Tick's pass).
func slotOf(ms int64) int32 { return int32((ms%wheelSlots + wheelSlots) % wheelSlots) }

// touch notes that c's deadlines may have moved: it is filed anew at the
// next Tick.
func (h *Host) touch(c *Conn) {
	if !c.touched {
		c.touched = true
		h.touched = append(h.touched, c)
	}
}

// file puts c in the wheel's slot for its earliest deadline, or out of the
// wheel when it has none.
func (h *Host) file(c *Conn) {
	d := c.deadline()
	if c.tSlot >= 0 && c.tAt == d {
		return
	}
	h.unfile(c)
	if d == 0 {
		return
	}
	ms := (d + millisecond - 1) / millisecond
	if ms <= h.wheelMs {
		ms = h.wheelMs + 1
	}
	slot := slotOf(ms)
	c.tAt, c.tSlot, c.tPrev, c.tNext = d, slot, nil, h.wheel[slot]
	if c.tNext != nil {
		c.tNext.tPrev = c
	}
	h.wheel[slot] = c
}

// unfile takes c out of the wheel.
func (h *Host) unfile(c *Conn) {
	if c.tSlot < 0 {
		return
	}
	if c.tPrev != nil {
		c.tPrev.tNext = c.tNext
	} else {
		h.wheel[c.tSlot] = c.tNext
	}
	if c.tNext != nil {
		c.tNext.tPrev = c.tPrev
	}
	c.tPrev, c.tNext, c.tSlot = nil, nil, -1
}
