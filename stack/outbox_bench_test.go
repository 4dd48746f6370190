package stack

import (
	"net/netip"
	"testing"
)

// BenchmarkOutbox measures the one channel the engine's hot loop reads
// per datagram, the outbox that UDPConn.WriteTo fills from application
// goroutines (any number of them: a single-producer ring would need one
// per writer), against the single-producer ring the engines use between
// themselves, with one writer on the other core:
//
//   - idle: the check every engine round makes when nothing is queued
//     (len of the channel, against the ring's empty test);
//   - datagram: one datagram queued by the writer and taken by the
//     engine's loop, a batch at a time as drainOutbox takes them.
//
// The idle check is what every round pays, busy or not (a round takes up
// to a batch of frames); a datagram's cost is mostly the cache lines it
// moves between the cores, which the ring pays too.
//
//	go test ./stack -run '^$' -bench Outbox -count 5
func BenchmarkOutbox(b *testing.B) {
	m := outbound{src: netip.MustParseAddrPort("198.18.0.1:9"), dst: netip.MustParseAddrPort("198.18.0.2:9")}
	b.Run("idle/channel", func(b *testing.B) {
		ch := make(chan outbound, 1024)
		n := 0
		for i := 0; i < b.N; i++ {
			if len(ch) == 0 {
				n++
			}
		}
		if n != b.N {
			b.Fatal("channel not empty")
		}
	})
	b.Run("idle/ring", func(b *testing.B) {
		r := newSPSC[outbound](1024)
		n := 0
		for i := 0; i < b.N; i++ {
			if r.empty() {
				n++
			}
		}
		if n != b.N {
			b.Fatal("ring not empty")
		}
	})
	b.Run("datagram/channel", func(b *testing.B) {
		ch := make(chan outbound, 1024)
		go func() {
			for i := 0; i < b.N; i++ {
				ch <- m
			}
		}()
		for got := 0; got < b.N; {
			if len(ch) == 0 {
				continue
			}
			for j := 0; j < 64; j++ {
				select {
				case <-ch:
					got++
					continue
				default:
				}
				break
			}
		}
	})
	b.Run("datagram/ring", func(b *testing.B) {
		r := newSPSC[outbound](1024)
		go func() {
			for i := 0; i < b.N; {
				if r.push(m) {
					i++
				}
			}
		}()
		for got := 0; got < b.N; {
			for j := 0; j < 64; j++ {
				if _, ok := r.pop(); !ok {
					break
				}
				got++
			}
		}
	})
}
