package tcpapp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// BulkConfig is a bulk transfer: Conns connections to Dst, each sending
// Bytes (or Content) and closing, spread over the engines.
type BulkConfig struct {
	Dst   netip.AddrPort
	Conns int
	// Bytes and Content as in SenderConfig.
	Bytes   int64
	Content []byte
	// Timeout ends the transfer with the connections still open counted
	// as failed; 0: none.
	Timeout time.Duration
}

// BulkResult is a bulk transfer's outcome, as fastpath tcp --json prints it
// (with the command's own fields beside).
type BulkResult struct {
	Connections int     `json:"connections"`
	Completed   int     `json:"completed"`
	BytesSent   int64   `json:"bytes_sent"` // acknowledged
	DurationS   float64 `json:"duration_s"`
	GoodputBPS  float64 `json:"goodput_bps"`
	Retransmits uint64  `json:"retransmits"`
	// RTTUs is the mean of the connections' smoothed RTT at their end.
	RTTUs  float64           `json:"rtt_us"`
	Errors []string          `json:"errors"`
	TCP    map[string]uint64 `json:"tcp"`
}

// Bulk is a running bulk transfer.
type Bulk struct {
	cfg      BulkConfig
	st       *stack.Stack
	acked    atomic.Int64
	finished atomic.Int64
	done     chan SenderResult
	start    time.Time
}

// StartBulk dials the connections on a running stack with TCP enabled,
// one Sender each, round robin over the engines (a full command queue is
// waited out).
func StartBulk(st *stack.Stack, c BulkConfig) (*Bulk, error) {
	if c.Conns < 1 {
		return nil, fmt.Errorf("tcpapp: bulk of %d connections: give at least one", c.Conns)
	}
	b := &Bulk{cfg: c, st: st, done: make(chan SenderResult, c.Conns), start: time.Now()}
	sc := SenderConfig{Bytes: c.Bytes, Content: c.Content, Acked: &b.acked, Done: b.done}
	engines := st.Engines()
	for i := range c.Conns {
		s := NewSender(engines[i%len(engines)], sc)
		for {
			err := s.Dial(c.Dst)
			if err == nil {
				break
			}
			if !errors.Is(err, stack.ErrBusy) {
				return nil, fmt.Errorf("tcpapp: bulk: %w", err)
			}
			time.Sleep(time.Millisecond) // the command queue is full: let it drain
		}
	}
	return b, nil
}

// Progress returns the bytes acknowledged so far and the connections
// ended; safe from any goroutine.
func (b *Bulk) Progress() (acked int64, finished int) {
	return b.acked.Load(), int(b.finished.Load())
}

// Started is when the first connection was dialled.
func (b *Bulk) Started() time.Time { return b.start }

// Wait collects the connections' ends until all have ended, the timeout
// passes or ctx ends (each counted as an error), then stops the stack's
// engines and sums up.
func (b *Bulk) Wait(ctx context.Context) BulkResult {
	res := BulkResult{Connections: b.cfg.Conns, Errors: []string{}}
	var timeout <-chan time.Time
	if b.cfg.Timeout > 0 {
		t := time.NewTimer(b.cfg.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var srtt float64
	end := time.Now()
	for n := 0; n < b.cfg.Conns; {
		select {
		case d := <-b.done:
			n++
			b.finished.Add(1)
			if d.Err != nil {
				res.Errors = append(res.Errors, d.Err.Error())
			} else {
				res.Completed++
			}
			res.BytesSent += d.Bytes
			srtt += float64(d.SRTT)
			end = d.At
		case <-timeout:
			res.Errors = append(res.Errors, fmt.Sprintf("timed out after %v with %d of %d connections open", b.cfg.Timeout, b.cfg.Conns-n, b.cfg.Conns))
			n, end = b.cfg.Conns, time.Now()
		case <-ctx.Done():
			res.Errors = append(res.Errors, "interrupted")
			n, end = b.cfg.Conns, time.Now()
		}
	}
	b.st.Stop()
	if err := b.st.Wait(); err != nil {
		res.Errors = append(res.Errors, err.Error())
	}
	t := b.st.TCPCounters()
	res.TCP, res.Retransmits = t.Map(), t[tcp.Retransmits]
	res.DurationS = end.Sub(b.start).Seconds()
	if res.DurationS > 0 {
		res.GoodputBPS = float64(res.BytesSent) * 8 / res.DurationS
	}
	res.RTTUs = srtt / float64(b.cfg.Conns) / 1e3
	return res
}
