package gen

import (
	"fmt"
	"time"
)

// Summary is a run's summary, as gen --json prints it. Bytes count what is
// handed to the NIC (no FCS); bps counts the frames with their FCS, l1_bps
// the wire (preamble and gap too).
type Summary struct {
	Kernel      string  `json:"kernel"`
	Device      string  `json:"device"`
	Queues      []int   `json:"queues"`
	Cores       []int   `json:"cores,omitempty"`
	Mode        string  `json:"mode"`
	XDPMode     string  `json:"xdp_mode"`
	Rate        string  `json:"rate"`
	Sizes       string  `json:"sizes"`
	Flows       uint64  `json:"flows"`
	SentPackets uint64  `json:"sent_packets"`
	SentBytes   uint64  `json:"sent_bytes"`
	Completed   uint64  `json:"completed_packets"`
	DurationS   float64 `json:"duration_s"`
	PPS         float64 `json:"pps"`
	BPS         float64 `json:"bps"`
	L1BPS       float64 `json:"l1_bps"`
	RingFull    uint64  `json:"ring_full"`
	Kicks       uint64  `json:"kicks"`
	// BehindS is how far a paced run fell behind its rate's schedule, in
	// seconds (the mean over queues): rate x behind_s is the shortfall.
	// Stalls longer than BurstTime (the CPU taken by something else)
	// or a device slower than the rate put it above zero.
	BehindS         float64 `json:"behind_s"`
	TXInvalid       uint64  `json:"tx_invalid_descs"`
	Errors          uint64  `json:"errors"`
	Interrupted     bool    `json:"interrupted"`
	DstMAC          string  `json:"dst_mac"`
	ResolvedThrough string  `json:"resolved_through,omitempty"`
	// HugePages is whether the UMEMs are on 2 MiB huge pages.
	HugePages bool `json:"huge_pages"`
	// Shard is "I/N" when the run was one of N shards; Started, when the
	// senders started (RFC 3339, the wall clock): with Config.StartAt,
	// how close to it.
	Shard   string `json:"shard,omitempty"`
	Started string `json:"started"`
}

// Finish stops the senders, waits for them, sums up the run and closes its
// queues. The error is the first sender's, if one failed.
func (r *Run) Finish(interrupted bool) (Summary, error) {
	s, err := r.Summarize(interrupted)
	r.Close()
	return s, err
}

// Summarize stops the senders, waits for them and sums up the run, its
// queues left open (their statistics still readable, as a command's
// metrics serve them while it lingers) until Close.
func (r *Run) Summarize(interrupted bool) (Summary, error) {
	serr := r.Stop()
	d := time.Since(r.Started()).Seconds()
	st := r.Stats()
	in := r.info
	s := Summary{Kernel: in.Kernel, Device: in.Device, Queues: in.Queues, Cores: in.Cores, Mode: in.Modes.AFXDP.String(),
		XDPMode: in.Modes.XDP, Rate: r.Rate().String(), Sizes: in.Spec.SizesString(), Flows: in.Flows, DstMAC: in.DstMAC.String(),
		SentPackets: st.Sent, SentBytes: st.Bytes, Completed: st.Completed, RingFull: st.RingFull, Kicks: st.Kicks,
		BehindS: r.Behind(st), DurationS: d, Interrupted: interrupted, HugePages: in.Modes.HugePages}
	if in.ResolvedThrough.IsValid() {
		s.ResolvedThrough = in.ResolvedThrough.String()
	}
	if in.Spec.Shards > 1 {
		s.Shard = fmt.Sprintf("%d/%d", in.Spec.Shard, in.Spec.Shards)
	}
	s.Started = r.Started().UTC().Format(time.RFC3339Nano)
	s.PPS = float64(st.Sent) / d
	s.BPS = float64(st.Bytes+FCSLen*st.Sent) * 8 / d
	s.L1BPS = float64(st.Bytes+(FCSLen+L1Overhead)*st.Sent) * 8 / d
	for _, q := range r.Queues() {
		if x, err := q.Stats(); err == nil {
			s.TXInvalid += x.TXInvalidDescs
			s.Errors += x.TXInvalidDescs + x.Counters.KickErrors
		}
	}
	if serr != nil {
		s.Errors++
	}
	return s, serr
}
