package metrics

import (
	"strconv"
	"strings"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/sink"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
	"github.com/fastpathnet/fastpath/xdpsock"
)

// The collectors of fastpath's runs: each reads what a run publishes
// (atomics, the kernel's XDP_STATISTICS) and names it for Prometheus.

// with returns labels plus more pairs, in a new slice.
func with(labels []string, kv ...string) []string {
	return append(append(make([]string, 0, len(labels)+len(kv)), labels...), kv...)
}

// kernelStats reads a socket's XDP_STATISTICS from any goroutine: a
// port.Queue, or an engine's socket.
type kernelStats interface {
	KernelStats() (port.Stats, error)
}

// Queue emits a socket's XDP_STATISTICS with labels lbl.
func Queue(emit Emit, q kernelStats, lbl []string) {
	st, err := q.KernelStats()
	if err != nil {
		return
	}
	for _, m := range []struct {
		name, help string
		v          uint64
	}{
		{"rx_dropped", "Frames the kernel dropped for the socket (XDP_STATISTICS rx_dropped).", st.RXDropped},
		{"rx_ring_full", "Frames dropped because the RX ring was full.", st.RXRingFull},
		{"rx_fill_ring_empty", "Times the kernel found the fill ring empty.", st.RXFillRingEmpty},
		{"tx_ring_empty", "Times the kernel found the TX ring empty.", st.TXRingEmpty},
		{"rx_invalid_descs", "RX descriptors the kernel rejected.", st.RXInvalidDescs},
		{"tx_invalid_descs", "TX descriptors the kernel rejected.", st.TXInvalidDescs},
	} {
		emit("fastpath_xsk_"+m.name+"_total", m.help, Counter, float64(m.v), lbl...)
	}
}

// Stack emits every engine's counters, its socket's statistics and, with
// TCP on, its TCP counters; the stack-wide counters of its control plane,
// and the control plane's state.
func Stack(st *stack.Stack, device string) Collect {
	modes := st.Port().Modes()
	mode := modes.AFXDP.String()
	return func(emit Emit) {
		deviceInfo(emit, device, modes)
		for _, e := range st.Engines() {
			lbl := []string{"device", device, "queue", strconv.Itoa(e.Queue()), "mode", mode}
			c := e.Counters()
			for i := stack.Counter(0); i < stack.NumCounters; i++ {
				name, v := i.String(), float64(c[i])
				switch {
				case i.StackWide():
					// Below, once: an engine's is always 0.
				case i == stack.RXFrames || i == stack.TXFrames:
					emit("fastpath_engine_frames_total", "Frames the engine received and sent.", Counter, v, with(lbl, "direction", name[:2])...)
				case i == stack.RXBytes || i == stack.TXBytes:
					emit("fastpath_engine_bytes_total", "Bytes the engine received and sent.", Counter, v, with(lbl, "direction", name[:2])...)
				case strings.HasPrefix(name, "drop_"):
					emit("fastpath_engine_drops_total", "Frames the engine dropped, by reason.", Counter, v, with(lbl, "reason", name[len("drop_"):])...)
				default:
					emit("fastpath_engine_"+name+"_total", "Engine counter "+name+".", Counter, v, lbl...)
				}
			}
			Queue(emit, e.Socket(), lbl)
			if e.TCP() != nil {
				tcpCounters(emit, e.TCPCounters(), lbl)
			}
		}
		controlPlane(emit, st, []string{"device", device})
	}
}

// controlPlane emits the stack-wide counters and, when the stack has a
// control plane, its state: 1 for the current one of subscribed,
// resyncing and failing, 0 for the others.
func controlPlane(emit Emit, st *stack.Stack, lbl []string) {
	c := st.Counters()
	for i := stack.Counter(0); i < stack.NumCounters; i++ {
		if i.StackWide() {
			emit("fastpath_stack_"+i.String()+"_total", "Stack counter "+i.String()+" (its control plane).", Counter, float64(c[i]), lbl...)
		}
	}
	cs := st.ControlStatus()
	if cs.State == stack.ControlOff {
		return
	}
	for _, state := range []string{stack.ControlSubscribed, stack.ControlResyncing, stack.ControlFailing} {
		v := 0.0
		if cs.State == state {
			v = 1
		}
		emit("fastpath_control_plane_state", "1 for the state the control plane (netlink route and neighbour sync) is in.", Gauge, v, with(lbl, "state", state)...)
	}
	emit("fastpath_control_plane_snapshots_total", "Snapshots of the kernel's tables handed to the engines.", Counter, float64(cs.Snapshots), lbl...)
}

// deviceInfo emits fastpath_device_info: 1, with the modes a run obtained
// as labels, for alerts on a NIC that gave copy mode or generic XDP where
// zero-copy and native were wanted.
func deviceInfo(emit Emit, device string, m port.Modes, labels ...string) {
	emit("fastpath_device_info", "1, labelled with the AF_XDP mode (copy or zerocopy) and XDP attach mode (native, generic or none) the run obtained.",
		Gauge, 1, with([]string{"device", device, "mode", m.AFXDP.String(), "xdp_mode", m.XDP}, labels...)...)
}

// tcpCounters emits an engine's TCP counters.
func tcpCounters(emit Emit, t tcp.Counters, lbl []string) {
	for i := tcp.Counter(0); i < tcp.NumCounters; i++ {
		name, v := i.String(), float64(t[i])
		if strings.HasPrefix(name, "drop_") {
			emit("fastpath_tcp_drops_total", "TCP segments dropped, by reason.", Counter, v, with(lbl, "reason", name[len("drop_"):])...)
			continue
		}
		emit("fastpath_tcp_"+name+"_total", "TCP counter "+name+".", Counter, v, lbl...)
	}
	emit("fastpath_tcp_connections", "TCP connections in the engine's table.", Gauge, float64(t.Open()), lbl...)
}

// Gen emits every sender's counters and its socket's statistics.
func Gen(r *gen.Run) Collect {
	in := r.Info()
	var shard []string
	if in.Spec.Shards > 1 {
		// One of a fleet's shards: its index, so that sums over the
		// fleet can tell them apart (the scrape adds instance).
		shard = []string{"shard", strconv.Itoa(in.Spec.Shard)}
	}
	return func(emit Emit) {
		deviceInfo(emit, in.Device, in.Modes, shard...)
		var pps, bps float64
		if rate := r.Rate(); rate.Bits {
			bps = rate.Value
		} else {
			pps = rate.Value
		}
		run := with([]string{"device", in.Device}, shard...)
		emit("fastpath_gen_asked_packets_per_second", "The rate asked, in packets/s (0: as fast as possible, or asked in bits/s).", Gauge, pps, run...)
		emit("fastpath_gen_asked_bits_per_second", "The rate asked, in bits/s on the wire (0: as fast as possible, or asked in packets/s).", Gauge, bps, run...)
		for i, s := range r.Senders() {
			if s == nil {
				continue
			}
			st := s.Stats()
			lbl := with([]string{"device", in.Device, "queue", strconv.Itoa(in.Queues[i]), "mode", in.Modes.AFXDP.String()}, shard...)
			emit("fastpath_gen_sent_packets_total", "Frames put on the TX ring.", Counter, float64(st.Sent), lbl...)
			emit("fastpath_gen_sent_bytes_total", "Bytes of the frames put on the TX ring (no FCS).", Counter, float64(st.Bytes), lbl...)
			emit("fastpath_gen_completions_total", "Frames the kernel completed.", Counter, float64(st.Completed), lbl...)
			emit("fastpath_gen_tx_ring_full_total", "Rounds the TX ring had less room than a batch.", Counter, float64(st.RingFull), lbl...)
			emit("fastpath_gen_no_frame_total", "Rounds every frame was in flight.", Counter, float64(st.NoFrame), lbl...)
			emit("fastpath_gen_kicks_total", "System calls made to wake the kernel's transmit path.", Counter, float64(st.Kicks), lbl...)
			emit("fastpath_gen_behind_seconds_total", "Time of a paced sender's schedule it missed (stalls, or a queue slower than the rate).", Counter, float64(st.Behind)/1e9, lbl...)
			paused := 0.0
			if s.Paused() {
				paused = 1
			}
			emit("fastpath_gen_paused", "1 while the control API has the sender paused.", Gauge, paused, lbl...)
			Queue(emit, r.Queues()[i], lbl)
		}
	}
}

// Bench emits every queue's counts and XDP_STATISTICS of a bench run.
func Bench(r *xdpsock.Run, mode, device string) Collect {
	return func(emit Emit) {
		for i, q := range r.Queues() {
			lbl := []string{"device", device, "queue", strconv.Itoa(q.ID), "mode", q.Sock.Info().Mode.String(), "bench", mode}
			p, b := r.QueueTotals(i)
			emit("fastpath_bench_packets_total", "Frames the bench loop handled (received; txonly: completed).", Counter, float64(p), lbl...)
			emit("fastpath_bench_bytes_total", "Bytes of those frames.", Counter, float64(b), lbl...)
			Queue(emit, q, lbl)
		}
	}
}

// Sink emits the sink's counts and its engines', and the one-way latency
// of stamped packets as a histogram (fastpath_sink_latency_seconds, over
// sink.LatencyBuckets: summed across sinks, the fleet's quantiles).
func Sink(s *sink.Run, device string, udpPort uint16) (Collect, CollectHist) {
	engines := Stack(s.Stack(), device)
	lbl := []string{"device", device, "port", strconv.Itoa(int(udpPort))}
	counts := func(emit Emit) {
		engines(emit)
		n, b, lost := s.Counts()
		emit("fastpath_sink_received_packets_total", "Packets the sink counted on its port.", Counter, float64(n), lbl...)
		emit("fastpath_sink_received_bytes_total", "Bytes the sink counted on its port.", Counter, float64(b), lbl...)
		emit("fastpath_sink_lost_packets", "Stamped packets missing so far (a gauge: late arrivals lower it).", Gauge, float64(lost), lbl...)
		emit("fastpath_sink_negative_latency_packets_total", "Stamped packets sent, by their stamp, after they arrived: the sender's and the sink's clocks disagree, and the latency means nothing.", Counter, float64(s.Negative()), lbl...)
	}
	hist := func(emit EmitHist) {
		l := s.Latency()
		h := Hist{Sum: l.Sum, Buckets: make(map[float64]uint64, sink.NumLatencyBuckets)}
		for i, le := range sink.LatencyBuckets {
			h.Count += l.Counts[i]
			h.Buckets[le.Seconds()] = h.Count
		}
		h.Count += l.Counts[sink.NumLatencyBuckets]
		emit("fastpath_sink_latency_seconds", "One-way latency of stamped packets (gen --stamp; sender and sink on one clock, or PTP-synchronized ones).", h, lbl...)
	}
	return counts, hist
}
