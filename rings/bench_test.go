package rings

import (
	"runtime"
	"testing"
)

// The loops use b.N rather than b.Loop: b.Loop keeps the ring verbs from
// being inlined, which is not how they run in a datapath.

// BenchmarkBatch64 moves descriptors through a TX/RX ring pair in batches of
// 64 on one goroutine: Reserve, Set, Submit, then Peek, Desc, Release. The
// ns/desc metric is the cost per descriptor of both sides together.
func BenchmarkBatch64(b *testing.B) {
	const batch = 64
	tx, rx, _ := descPair(b, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(batch * DescSize))
	var sum uint64
	for i := 0; i < b.N; i++ {
		idx, n := tx.Reserve(batch)
		for j := uint32(0); j < n; j++ {
			tx.Set(idx+j, Desc{Addr: uint64(j) << 12, Len: 60})
		}
		tx.Submit(n)
		idx, n = rx.Peek(batch)
		for j := uint32(0); j < n; j++ {
			sum += rx.Desc(idx + j).Addr
		}
		rx.Release(n)
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*batch)
	b.ReportMetric(ns, "ns/desc")
	b.ReportMetric(1e9/ns, "desc/s")
	_ = sum
}

// BenchmarkBatch64Addr is BenchmarkBatch64 for an address ring (fill or
// completion).
func BenchmarkBatch64Addr(b *testing.B) {
	const batch = 64
	fill, comp, _ := addrPair(b, 2048)
	b.ReportAllocs()
	var sum uint64
	for i := 0; i < b.N; i++ {
		idx, n := fill.Reserve(batch)
		for j := uint32(0); j < n; j++ {
			fill.Set(idx+j, uint64(j)<<12)
		}
		fill.Submit(n)
		idx, n = comp.Peek(batch)
		for j := uint32(0); j < n; j++ {
			sum += comp.Addr(idx + j)
		}
		comp.Release(n)
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*batch)
	b.ReportMetric(ns, "ns/addr")
	_ = sum
}

// BenchmarkCrossCore runs producer and consumer on two goroutines, as user
// space and the kernel run on two cores, in batches of 64.
func BenchmarkCrossCore(b *testing.B) {
	const batch = 64
	tx, rx, _ := descPair(b, 2048)
	total := uint64(b.N) * batch
	b.ReportAllocs()
	done := make(chan uint64)
	go func() {
		var got, sum uint64
		for got < total {
			idx, n := rx.Peek(batch)
			for j := uint32(0); j < n; j++ {
				sum += rx.Desc(idx + j).Addr
			}
			rx.Release(n)
			got += uint64(n)
			if n == 0 {
				runtime.Gosched()
			}
		}
		done <- sum
	}()
	b.ResetTimer()
	var sent uint64
	for sent < total {
		idx, n := tx.Reserve(uint32(min(batch, total-sent)))
		for j := uint32(0); j < n; j++ {
			tx.Set(idx+j, Desc{Addr: sent + uint64(j), Len: 60})
		}
		tx.Submit(n)
		sent += uint64(n)
		if n == 0 {
			runtime.Gosched()
		}
	}
	<-done
	ns := float64(b.Elapsed().Nanoseconds()) / float64(total)
	b.ReportMetric(ns, "ns/desc")
}

// BenchmarkFloor is the same work as BenchmarkBatch64 on a plain array with
// no ring protocol: the machine's floor for writing and reading 64
// descriptors, to read the ring's overhead against.
func BenchmarkFloor(b *testing.B) {
	const batch = 64
	arr := make([]Desc, 2048)
	var sum uint64
	var idx uint32
	for i := 0; i < b.N; i++ {
		for j := uint32(0); j < batch; j++ {
			arr[(idx+j)&2047] = Desc{Addr: uint64(j) << 12, Len: 60}
		}
		for j := uint32(0); j < batch; j++ {
			sum += arr[(idx+j)&2047].Addr
		}
		idx += batch
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/desc")
	benchSink = sum
}

var benchSink uint64
