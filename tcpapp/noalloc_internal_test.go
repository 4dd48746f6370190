//go:build !race

package tcpapp

import (
	"testing"

	"github.com/fastpathnet/fastpath/tcp"
)

// TestNoAllocs: after warm-up, connections to RR and HTTPPattern opened,
// used and closed one after another, with responses small and streamed,
// closed by either side, allocate nothing: the servers' handlers come
// from their free lists, and the Hosts' connections and buffers from
// their pools. Both Hosts run on this goroutine (mem_internal_test.go),
// so that every allocation of the servers, the Hosts and the client
// counts.
func TestNoAllocs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conns int
		setup func(*memPair) (*memClient, func() uint64)
	}{
		{"RR 100/1000, 3 rounds", 300, func(m *memPair) (*memClient, func() uint64) {
			s := newMemRR(t, m, RRConfig{RequestSize: 100, ResponseSize: 1000})
			return &memClient{m: m, req: make([]byte, 100), body: 1000, rounds: 3, depth: 1}, s.Allocs
		}},
		{"RR 100/1000, 10 pipelined, client closes first", 100, func(m *memPair) (*memClient, func() uint64) {
			s := newMemRR(t, m, RRConfig{RequestSize: 100, ResponseSize: 1000})
			return &memClient{m: m, req: make([]byte, 100), body: 1000, rounds: 10, depth: 10, closeEarly: true}, s.Allocs
		}},
		{"RR 100/1MiB", 3, func(m *memPair) (*memClient, func() uint64) {
			s := newMemRR(t, m, RRConfig{RequestSize: 100, ResponseSize: 1 << 20})
			return &memClient{m: m, req: make([]byte, 100), body: 1 << 20, rounds: 2, depth: 1}, s.Allocs
		}},
		{"HTTP 64 B, keep-alive", 300, func(m *memPair) (*memClient, func() uint64) {
			s := newMemHTTP(t, m, 64)
			return &memClient{m: m, req: []byte(getKeepAlive), head: []byte(patternHead(64, false)), body: 64, rounds: 3, depth: 1}, s.Allocs
		}},
		{"HTTP 64 KiB, pipelined, server closes", 30, func(m *memPair) (*memClient, func() uint64) {
			s := newMemHTTP(t, m, 64<<10)
			return &memClient{m: m, req: []byte(getKeepAlive), lastReq: []byte(getClose), head: []byte(patternHead(64<<10, false)),
				lastHead: []byte(patternHead(64<<10, true)), body: 64 << 10, rounds: 3, depth: 3, waitFIN: true}, s.Allocs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMemPair(t, memConfig())
			k, allocs := tc.setup(m)
			failed := 0
			// AllocsPerRun runs the function once to warm up, then once
			// to count: every allocation of the second run counts.
			n := testing.AllocsPerRun(1, func() {
				for range tc.conns {
					k.reset()
					if !m.run(k, 20000) || !k.ok() {
						failed++
					}
				}
			})
			if failed > 0 || m.p.dropped > 0 {
				t.Fatalf("%d of %d connections failed (the last: %v), %d segments dropped", failed, 2*tc.conns, k, m.p.dropped)
			}
			if n != 0 {
				t.Errorf("%v allocations in %d connections", n, tc.conns)
			}
			c := m.p.hosts[0].Counters()
			if c[tcp.PassiveOpens] != uint64(2*tc.conns) || c[tcp.ConnAllocs] != 1 || c[tcp.BufferAllocs] != 1 || allocs() != 1 {
				t.Errorf("%d connections; %d Conns, %d buffer pairs, %d handlers allocated, want 1 each",
					c[tcp.PassiveOpens], c[tcp.ConnAllocs], c[tcp.BufferAllocs], allocs())
			}
		})
	}
}
