package rfc2544

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/stack"
)

// receiver counts the stamped frames of one trial at a time: it runs as a
// UDP handler on one engine of a stack on the receiving device, and
// counts into the trial's Tracker only the streams the trial's sender
// stamps. Every other datagram — a late frame of an earlier trial, a
// learning frame, anything unstamped that reaches the port — is counted
// apart and never corrupts a trial.
type receiver struct {
	st *stack.Stack

	// Owned by the engine goroutine.
	cur       *gen.Tracker // the open window's; nil: none open
	lo, hi    int          // its streams: lo <= stream < hi
	n         uint64       // datagrams to the port
	other     uint64       // stamped, of no open window
	unstamped uint64

	pubN      atomic.Uint64
	pubOther  atomic.Uint64
	pubUnstmp atomic.Uint64
	// req hands the engine a window to open (and takes back the one it
	// replaces) at its next round.
	req atomic.Pointer[window]
}

// window is a swap request: open t for streams lo to hi-1; the engine
// sends the tracker it closes on done.
type window struct {
	t      *gen.Tracker
	lo, hi int
	done   chan *gen.Tracker
}

// startReceiver opens the stack c describes in netns, binds port on its
// first queue's engine and starts it.
func startReceiver(c stack.Config, netns string, udpPort uint16) (*receiver, error) {
	r := &receiver{}
	err := port.InNetns(netns, func() (err error) {
		if r.st, err = stack.New(c); err != nil {
			return err
		}
		owner := r.st.Queues()[0]
		if err := r.st.BindUDPOn(udpPort, owner, r.handle); err != nil {
			return err
		}
		for _, e := range r.st.Engines() {
			if e.Queue() == owner {
				e.OnRound(r.round)
			}
		}
		return nil
	})
	if err == nil {
		err = r.st.Start()
	}
	if err != nil {
		if r.st != nil {
			r.st.Close()
		}
		return nil, fmt.Errorf("rfc2544: receiver on %s: %w", c.Device, err)
	}
	return r, nil
}

// handle runs on the owning engine for every datagram to the port.
func (r *receiver) handle(d *stack.Datagram) {
	r.n++
	id, seq, sent, ok := gen.ParseStamp(d.Payload)
	switch {
	case !ok:
		r.unstamped++
	case r.cur != nil && int(id) >= r.lo && int(id) < r.hi:
		r.cur.Record(id, seq, sent, d.Engine().Clock())
	default:
		r.other++
	}
}

// round runs on the owning engine every round: it publishes the counts
// and swaps the window when asked.
func (r *receiver) round(int64) bool {
	if w := r.req.Swap(nil); w != nil {
		old := r.cur
		r.cur, r.lo, r.hi = w.t, w.lo, w.hi
		w.done <- old
	}
	if r.pubN.Load() != r.n {
		r.pubN.Store(r.n)
		r.pubOther.Store(r.other)
		r.pubUnstmp.Store(r.unstamped)
	}
	return false
}

// errStopped: the receiver's engine is gone.
var errStopped = errors.New("rfc2544: the receiver's engines stopped")

// swap opens a window for streams lo to hi-1 with tracker t (nil: close
// the open one) and returns the tracker of the window it closed, which is
// the caller's from then on.
func (r *receiver) swap(t *gen.Tracker, lo, hi int) (*gen.Tracker, error) {
	w := &window{t: t, lo: lo, hi: hi, done: make(chan *gen.Tracker, 1)}
	r.req.Store(w)
	select {
	case old := <-w.done:
		return old, nil
	case <-r.st.Done():
		return nil, errStopped
	case <-time.After(2 * time.Second):
		return nil, fmt.Errorf("rfc2544: the receiver's engine did not answer in 2 s")
	}
}

// count is the datagrams to the port so far, as last published.
func (r *receiver) count() uint64 { return r.pubN.Load() }

// settle waits for frames still in flight once a sender has stopped: at
// least 50 ms, then while the count still moves, every 50 ms, for at most
// limit. It returns how long it waited.
func (r *receiver) settle(limit time.Duration) time.Duration {
	start := time.Now()
	time.Sleep(min(50*time.Millisecond, limit))
	last := r.count()
	for time.Since(start) < limit {
		time.Sleep(50 * time.Millisecond)
		n := r.count()
		if n == last {
			break
		}
		last = n
	}
	return time.Since(start)
}

// drops is what the receiver lost itself so far of what the device under
// test delivered: what the kernel could not hand its sockets
// (XDP_STATISTICS: RX ring full, fill ring empty, dropped), and what its
// engines could not hand over to the one that counts (its ring full, or
// no free frame), as last published.
func (r *receiver) drops() receiverDrops {
	var d receiverDrops
	for _, e := range r.st.Engines() {
		if x, err := e.Socket().KernelStats(); err == nil {
			d.ring += x.RXRingFull
			d.fill += x.RXFillRingEmpty
			d.other += x.RXDropped
		}
		c := e.Counters()
		d.handover += c[stack.DropHandoverFull]
		d.noFrame += c[stack.DropNoFrame]
	}
	return d
}

// receiverDrops are the receiver's own losses, by where.
type receiverDrops struct{ ring, fill, other, handover, noFrame uint64 }

func (d receiverDrops) total() uint64 { return d.ring + d.fill + d.other + d.handover + d.noFrame }

func (d receiverDrops) minus(o receiverDrops) receiverDrops {
	return receiverDrops{d.ring - o.ring, d.fill - o.fill, d.other - o.other, d.handover - o.handover, d.noFrame - o.noFrame}
}

func (d receiverDrops) String() string {
	return fmt.Sprintf("RX ring full %d, fill ring empty %d, other %d, handover ring full %d, no free frame %d", d.ring, d.fill, d.other, d.handover, d.noFrame)
}

func (r *receiver) close() error {
	r.st.Stop()
	return errors.Join(r.st.Wait(), r.st.Close())
}
