package tcp

import (
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestTable: random puts, deletes and gets on small tables (long runs of
// full slots, wrapping past the end) agree with a Go map at every step,
// and every key stays reachable after every delete.
func TestTable(t *testing.T) {
	for _, n := range []int{1, 5, 8, 64} {
		g := NewISNGenerator([16]byte{byte(n)})
		tb := newTable(n, g)
		ref := map[key]*Conn{}
		rng := rand.New(rand.NewPCG(1, uint64(n)))
		conns := make([]Conn, 4*n)
		keys := make([]key, len(conns))
		for i := range keys {
			// Both families: IPv4 keys are IPv4-mapped, IPv6 keys
			// differ in their first and last bytes.
			var rip [16]byte
			if i%2 == 0 {
				rip = netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.IntN(4))}).As16()
			} else {
				rip[0], rip[15] = 0x20, byte(rng.IntN(4))
			}
			keys[i] = key{lip: [16]byte{15: 1}, rip: rip, lport: uint16(rng.IntN(3)), rport: uint16(i)}
		}
		for step := range 20000 {
			i := rng.IntN(len(keys))
			k := keys[i]
			switch _, in := ref[k]; {
			case !in && len(ref) < n:
				tb.put(k, &conns[i])
				ref[k] = &conns[i]
			case in && rng.IntN(2) == 0:
				tb.del(k)
				delete(ref, k)
			}
			if rng.IntN(8) == 0 {
				if k := keys[rng.IntN(len(keys))]; ref[k] == nil {
					tb.del(k) // absent: a no-op
				}
				for k := range ref {
					if rng.IntN(2) == 0 {
						tb.del(k)
						delete(ref, k)
						break
					}
				}
			}
			for j, k := range keys {
				if got, want := tb.get(k), ref[k]; got != want {
					t.Fatalf("n %d, step %d: key %d: %p, want %p", n, step, j, got, want)
				}
			}
			held := 0
			for _, s := range tb.slots {
				if s.c != nil {
					held++
				}
			}
			if held != len(ref) {
				t.Fatalf("n %d, step %d: %d slots full, want %d", n, step, held, len(ref))
			}
		}
	}
}
