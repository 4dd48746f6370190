package arp

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

// FuzzPacket: if Check passes, no accessor panics, the fields re-encode to
// the same bytes, Reply and Input accept the packet; if it fails, Reply
// refuses it and Input ignores it.
func FuzzPacket(f *testing.F) {
	for _, g := range [][]byte{goldenRequest, goldenReply, goldenGratuitous} {
		f.Add(g[ether.HeaderLen:])
		f.Add(g[ether.HeaderLen : ether.HeaderLen+Len-1])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		p := Packet(b)
		c := NewCache(Config{Capacity: 2, QueueLen: 1})
		out := make([]byte, FrameLen)
		err := p.Check()
		if err != nil {
			if _, rerr := Reply(out, mac1, ip1, p, mac2); rerr == nil {
				t.Fatalf("Reply accepted a packet Check refused (%v)", err)
			}
			if res := c.Input(p, ownsIP1, 0, nil); res.Reply || res.Learned || res.Conflict {
				t.Fatalf("Input acted on a packet Check refused: %+v", res)
			}
			return
		}
		op, sha, spa, tha, tpa := p.Op(), p.SenderMAC(), p.SenderIP(), p.TargetMAC(), p.TargetIP()
		again, err := Encode(make([]byte, Len), op, sha, spa, tha, tpa)
		if err != nil || !bytes.Equal(again, b[:Len]) {
			t.Fatalf("re-encoded\n% x\nwant\n% x (%v)", again, b[:Len], err)
		}
		n, err := Reply(out, mac1, ip1, p, sha)
		if (err == nil) != (op == OpRequest) {
			t.Fatalf("Reply to op %d: %v", op, err)
		}
		if err == nil {
			r := Packet(out[ether.HeaderLen:n])
			if r.Check() != nil || r.Op() != OpReply || r.TargetMAC() != sha || r.TargetIP() != spa {
				t.Fatalf("reply % x", out[:n])
			}
		}
		res := c.Input(p, ownsIP1, 0, nil)
		bogus := sha.IsMulticast() || sha.IsZero()
		if res.Reply != (op == OpRequest && tpa == ip1 && !bogus) {
			t.Fatalf("Input Reply %v for op %d %v -> %v", res.Reply, op, spa, tpa)
		}
		if res.Conflict != (spa == ip1 && !bogus) {
			t.Fatalf("Input Conflict %v from %v", res.Conflict, spa)
		}
		if res.Learned && (res.MAC != sha || spa == ip1 || sha.IsMulticast() || sha.IsZero()) {
			t.Fatalf("Input learned %+v from %v %v", res, sha, spa)
		}
		checkInvariants(t, c)
	})
}

// cacheModel is what FuzzCache knows the cache must hold.
type cacheModel struct {
	queued map[netip.Addr][]uint64 // handles the cache keeps, per next hop, oldest first
	mac    map[netip.Addr]ether.Addr
	inFlow int // handles the cache holds in all
}

// FuzzCache drives a small cache with random Resolve, Input, Tick and Set
// calls and time steps, and checks after each that no handle is lost,
// duplicated or reordered (every handle Resolve queued comes back exactly
// once, through Input's or Set's ready slice or Tick's dropped slice), that
// OK carries the last MAC learned, that capacity holds, and that the
// table's internal structure is sound. At the end it lets time run until
// every resolution has failed: nothing may stay behind.
func FuzzCache(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 2, 1, 0x11, 0x21, 4, 9, 2})
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 4, 200, 2, 4, 200, 2})
	f.Add([]byte{3, 2, 2, 4, 250, 2, 0, 2, 1, 0x20, 0x02, 4, 3, 2})
	f.Add([]byte{0, 3, 0, 3, 0, 3, 1, 0x13, 0x30, 1, 0x03, 0x31})
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Config{Capacity: 4, QueueLen: 2, ReachableTime: 10, StaleTime: 20, RetryInterval: 3, MaxRetries: 2, MAC: mac1}
		c := NewCache(cfg)
		m := cacheModel{queued: map[netip.Addr][]uint64{}, mac: map[netip.Addr]ether.Addr{}}
		// Eight next hops; 10.0.0.1 is ours. Six MACs; 1 is ours.
		ipOf := func(b byte) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, 1 + b&7}) }
		macOf := func(b byte) ether.Addr { return ether.Addr{0x02, 0, 0, 0, 0, 1 + b%6} }
		var now int64
		var handle uint64
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		takeBack := func(what string, ip netip.Addr, got []uint64) {
			t.Helper()
			if want := m.queued[ip]; !slices.Equal(got, want) {
				t.Fatalf("%s for %v returned %v, want the queue %v", what, ip, got, want)
			}
			m.inFlow -= len(got)
			delete(m.queued, ip)
		}
		// tickDropped takes back what Tick dropped: whole queues.
		tickDropped := func(drop []uint64) {
			t.Helper()
			byIP := map[netip.Addr][]uint64{}
			for _, h := range drop {
				for ip, q := range m.queued {
					if slices.Contains(q, h) {
						byIP[ip] = append(byIP[ip], h)
					}
				}
			}
			if n := countAll(byIP); n != len(drop) {
				t.Fatalf("Tick dropped %v, %d of them unknown or twice", drop, len(drop)-n)
			}
			for ip, hs := range byIP {
				takeBack("Tick", ip, hs)
			}
		}
		for len(data) > 0 {
			op := next()
			now += int64(op >> 4) // a little time passes
			switch op % 5 {
			case 0:
				ip := ipOf(next())
				handle++
				r := c.Resolve(ip, handle, now)
				if b2i(r.OK)+b2i(r.Queued)+b2i(r.Dropped) != 1 || (r.SendRequest && r.Dropped) {
					t.Fatalf("Resolve(%v) = %+v", ip, r)
				}
				switch {
				case r.OK:
					if mac, ok := m.mac[ip]; !ok || r.MAC != mac || len(m.queued[ip]) != 0 {
						t.Fatalf("Resolve(%v) = %v, last learned %v (known %v), queue %v", ip, r.MAC, mac, ok, m.queued[ip])
					}
				case r.Queued:
					if len(m.queued[ip]) >= cfg.QueueLen {
						t.Fatalf("Resolve(%v) queued beyond QueueLen", ip)
					}
					if r.SendRequest != (len(m.queued[ip]) == 0) {
						t.Fatalf("Resolve(%v) SendRequest %v with %d queued", ip, r.SendRequest, len(m.queued[ip]))
					}
					m.queued[ip] = append(m.queued[ip], handle)
					m.inFlow++
				}
			case 1:
				a, b := next(), next()
				sha, spa, tpa := macOf(a), ipOf(a>>4), ipOf(b)
				opc := uint16(OpRequest)
				if b&0x80 != 0 {
					opc = OpReply
				}
				res := c.Input(pkt(t, opc, sha, spa, ether.Addr{}, tpa), ownsIP1, now, make([]uint64, 0, cfg.QueueLen))
				own := spa == ip1 && sha == mac1
				if res.Reply != (opc == OpRequest && tpa == ip1 && !own) || res.Conflict != (spa == ip1 && !own) {
					t.Fatalf("Input(%d %v %v -> %v) = %+v", opc, sha, spa, tpa, res)
				}
				if !res.Learned {
					if len(res.Ready) != 0 {
						t.Fatalf("Input released %v without learning", res.Ready)
					}
					break
				}
				if res.MAC != sha || spa == ip1 {
					t.Fatalf("Input learned %+v from %v %v", res, sha, spa)
				}
				m.mac[spa] = sha
				takeBack("Input", spa, res.Ready)
			case 2:
				reqs, drop := c.Tick(now, nil, nil)
				tickDropped(drop)
				for _, ip := range reqs {
					if _, st := c.Lookup(ip, now); st != StateIncomplete && st != StateProbe {
						t.Fatalf("Tick asked for a request for %v in state %v", ip, st)
					}
				}
			case 3:
				a := next()
				ip, mac := ipOf(a), macOf(a>>3)
				ready := c.Set(ip, mac, now, nil)
				if _, st := c.Lookup(ip, now); st == StateReachable {
					m.mac[ip] = mac
					takeBack("Set", ip, ready)
				} else if len(ready) != 0 || len(m.queued[ip]) != 0 {
					t.Fatalf("Set(%v) refused, returned %v, queue %v", ip, ready, m.queued[ip])
				}
			case 4:
				now += int64(next())
			}
			checkModel(t, c, &m)
			checkInvariants(t, c)
		}
		// Let every resolution run out.
		for range cfg.MaxRetries + 1 {
			now += cfg.RetryInterval
			_, drop := c.Tick(now, nil, nil)
			tickDropped(drop)
		}
		if m.inFlow != 0 {
			t.Fatalf("handles never returned: %v", m.queued)
		}
		checkModel(t, c, &m)
		checkInvariants(t, c)
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func countAll(m map[netip.Addr][]uint64) int {
	n := 0
	for _, v := range m {
		n += len(v)
	}
	return n
}

// checkModel compares the cache's queues with the model's.
func checkModel(t *testing.T, c *Cache, m *cacheModel) {
	t.Helper()
	total := 0
	for _, e := range c.Entries() {
		if e.Queued != len(m.queued[e.IP]) {
			t.Fatalf("%v holds %d handles, model %v", e.IP, e.Queued, m.queued[e.IP])
		}
		if e.Queued > 0 && e.State != StateIncomplete {
			t.Fatalf("%v holds handles in state %v", e.IP, e.State)
		}
		total += e.Queued
	}
	if total != m.inFlow {
		t.Fatalf("cache holds %d handles, model %d", total, m.inFlow)
	}
}

// checkInvariants checks the cache's internal structure: the table, the
// lists and the free list account for every entry exactly once.
func checkInvariants(t testing.TB, c *Cache) {
	t.Helper()
	if err := invariants(c); err != nil {
		t.Fatal(err)
	}
}

func invariants(c *Cache) error {
	if c.n < 0 || c.n > c.cfg.Capacity {
		return fmt.Errorf("Len %d, capacity %d", c.n, c.cfg.Capacity)
	}
	seen := make([]int, len(c.entries))
	slots := 0
	for s, sl := range c.slots {
		if sl.idx == 0 {
			continue
		}
		slots++
		i := sl.idx - 1
		if c.entries[i].ip != sl.key || c.entries[i].state == StateNone {
			return fmt.Errorf("slot %d: key %#x -> entry %d (%#x, %v)", s, sl.key, i, c.entries[i].ip, c.entries[i].state)
		}
		// No empty slot between the key's home and its slot.
		for h := c.home(sl.key); h != uint64(s); h = (h + 1) & c.mask {
			if c.slots[h].idx == 0 {
				return fmt.Errorf("slot %d: key %#x cut off from its home by empty slot %d", s, sl.key, h)
			}
		}
		if c.find(sl.key) != i {
			return fmt.Errorf("find(%#x) = %d, want %d", sl.key, c.find(sl.key), i)
		}
	}
	if slots != c.n {
		return fmt.Errorf("%d slots used, Len %d", slots, c.n)
	}
	listed := 0
	for st := StateIncomplete; st < numStates; st++ {
		l := c.lists[st]
		prev := int32(-1)
		for i := l.head; i >= 0; i = c.entries[i].next {
			e := &c.entries[i]
			if e.state != st || e.prev != prev {
				return fmt.Errorf("list %v: entry %d in state %v, prev %d want %d", st, i, e.state, e.prev, prev)
			}
			if seen[i]++; seen[i] > 1 {
				return fmt.Errorf("entry %d listed twice", i)
			}
			if e.qlen < 0 || int(e.qlen) > c.cfg.QueueLen || (e.qlen > 0 && st != StateIncomplete) {
				return fmt.Errorf("entry %d: %d handles in state %v", i, e.qlen, st)
			}
			prev = i
			listed++
		}
		if l.tail != prev {
			return fmt.Errorf("list %v: tail %d, last %d", st, l.tail, prev)
		}
	}
	if listed != c.n {
		return fmt.Errorf("%d entries listed, Len %d", listed, c.n)
	}
	free := 0
	for i := c.free; i >= 0; i = c.entries[i].next {
		if c.entries[i].state != StateNone {
			return fmt.Errorf("free entry %d in state %v", i, c.entries[i].state)
		}
		if seen[i]++; seen[i] > 1 {
			return fmt.Errorf("entry %d both free and listed", i)
		}
		free++
	}
	if free+c.n != len(c.entries) {
		return fmt.Errorf("%d free + %d used != %d", free, c.n, len(c.entries))
	}
	return nil
}
