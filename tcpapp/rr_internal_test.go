package tcpapp

import (
	"fmt"
	"testing"
)

// TestRRInMemory: an RR server and a client on two Hosts in memory (16 KiB
// buffers), for request and response sizes smaller and larger than the
// buffers, one request at a time and pipelined, the client closing after
// the last response or right after the last request (the server then
// writes what it owes before it closes). Every byte of every response is
// checked; after each connection the server's handler is back in its free
// list, which the next connection takes again.
func TestRRInMemory(t *testing.T) {
	for _, tc := range []struct {
		req, resp, rounds, depth int
		closeEarly               bool
	}{
		{100, 1000, 5, 1, false},
		{100, 1000, 20, 4, false},
		{100, 1000, 20, 20, true},
		{1, 1, 50, 1, false},
		{100, 64 << 10, 4, 1, false},
		{100, 1 << 20, 2, 2, true},
		{64 << 10, 100, 3, 1, false},
		{40 << 10, 40 << 10, 3, 3, true},
	} {
		t.Run(fmt.Sprintf("req=%d,resp=%d,rounds=%d,depth=%d,closeEarly=%v", tc.req, tc.resp, tc.rounds, tc.depth, tc.closeEarly), func(t *testing.T) {
			m := newMemPair(t, memConfig())
			s := newMemRR(t, m, RRConfig{RequestSize: tc.req, ResponseSize: tc.resp})
			k := &memClient{m: m, req: make([]byte, tc.req), body: tc.resp, rounds: tc.rounds, depth: tc.depth, closeEarly: tc.closeEarly}
			for conn := range 3 {
				k.reset()
				if !m.run(k, 20000) {
					t.Fatalf("connection %d: not over after 20 s", conn)
				}
				if !k.ok() {
					t.Fatalf("connection %d: %v", conn, k)
				}
				checkFree(t, &s.conns)
				if a := s.Allocs(); a != 1 {
					t.Errorf("connection %d: %d handlers allocated, want 1", conn, a)
				}
			}
			if m.p.dropped != 0 {
				t.Errorf("%d segments dropped", m.p.dropped)
			}
		})
	}
}

// TestRRCutShort: a request the client's FIN cuts short gets no response;
// the server closes after the responses it owes.
func TestRRCutShort(t *testing.T) {
	m := newMemPair(t, memConfig())
	s := newMemRR(t, m, RRConfig{RequestSize: 100, ResponseSize: 300})
	// The client's two writes are a request, then another and half a
	// third: two responses come back.
	k := &memClient{m: m, req: make([]byte, 100), lastReq: make([]byte, 150), body: 300, rounds: 2, depth: 2, closeEarly: true}
	if !m.run(k, 1000) || !k.ok() {
		t.Fatalf("%v", k)
	}
	checkFree(t, &s.conns)
}

// TestRRConfig: sizes outside 1 byte to 1 MiB are refused, saying which.
func TestRRConfig(t *testing.T) {
	for _, cfg := range []RRConfig{{0, 1}, {1, 0}, {MaxMessage + 1, 1}, {1, MaxMessage + 1}, {-1, 1}} {
		if _, err := newRR(nil, 1, cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	for _, cfg := range []RRConfig{{1, 1}, {MaxMessage, MaxMessage}} {
		if _, err := newRR(nil, 1, cfg); err != nil {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
}
