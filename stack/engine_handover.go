package stack

// Handover moves a frame from the engine whose queue it arrived on to the
// engine that owns its flow (a UDP port pinned with BindUDPOn, a TCP
// connection). Each ordered pair of engines that hands frames has its own
// single-producer ring of frame-sized slots: engines share no UMEM, so the
// frame is copied into the slot, and from there into a frame of the
// receiving engine's UMEM. Nothing is locked; a full ring drops the frame,
// counted.

// handed is a handover ring's slot: a frame's bytes.
type handed struct {
	n   int
	buf []byte
}

// handoverSlots is the depth of each pair's ring when every engine may
// hand frames to every other (TCP: a connection's owner is any engine).
// A UDP port's owner (BindUDPOn) gets rings from the others as deep as its
// RX ring instead, up to ownerSlotsMax: the owner of a port takes every
// queue's traffic, and when it falls behind (descheduled, or just slower
// than the queues together) frames handed to it must wait as long as its
// own can. (Each ring holds its slots' frames: 4,096 of 1,792 bytes, the
// sink's, take 7 MiB.)
const (
	handoverSlots = 256
	ownerSlotsMax = 4096
)

func newHandoverRing(slots, frameSize int) *spsc[handed] {
	r := newSPSC[handed](slots)
	slab := make([]byte, len(r.slots)*frameSize)
	for i := range r.slots {
		r.slots[i].buf = slab[i*frameSize : (i+1)*frameSize : (i+1)*frameSize]
	}
	return r
}

// Handover copies frame (a whole Ethernet frame, as received) to the
// engine to, which handles it as if it had arrived on its own queue. Call
// it on e's goroutine, from a handler; the caller keeps (and frees) its
// frame. It reports false when to's ring from e is full or missing
// (counted as DropHandoverFull: the rings come with BindUDPOn and TCP) or
// when to is e.
func (e *Engine) Handover(to *Engine, frame []byte) bool {
	if to == nil || to == e {
		return false
	}
	r := e.framesOut[to.index]
	var slot *handed
	if r != nil {
		slot = r.reserve()
	}
	if slot == nil || len(frame) > len(slot.buf) {
		e.counters[DropHandoverFull]++
		return false
	}
	slot.n = copy(slot.buf, frame)
	r.commit()
	e.counters[HandoverOut]++
	return true
}

// receiveHandovers handles up to budget frames from each engine that
// hands frames to this one (a batch each, as its own queue gets: the owner
// of a port takes every queue's share, and no ring waits behind another's);
// it returns how many.
func (e *Engine) receiveHandovers(budget int) int {
	n := 0
	for _, r := range e.framesIn {
		if r == nil {
			continue
		}
		for i := 0; i < budget; i++ {
			slot := r.front()
			if slot == nil {
				break
			}
			if addr, b, ok := e.frame(); ok {
				copy(b, slot.buf[:slot.n])
				e.counters[HandoverIn]++
				if !e.demux(addr, b[:slot.n]) {
					e.sock.Frames.Free(addr)
				}
			}
			r.advance()
			n++
		}
	}
	return n
}
