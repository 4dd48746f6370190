package arp

import (
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

const sec = int64(1e9)

var (
	mac3 = ether.Addr{0x02, 0, 0, 0, 0, 0x03}
	mac4 = ether.Addr{0x02, 0, 0, 0, 0, 0x04}
	ip3  = netip.MustParseAddr("10.0.0.3")
	ip4  = netip.MustParseAddr("10.0.0.4")
	ip5  = netip.MustParseAddr("10.0.0.5")
	ip6  = netip.MustParseAddr("10.0.0.6")
	ip7  = netip.MustParseAddr("10.0.0.7")
	// We are 10.0.0.1 at 02:00:00:00:00:01.
	ownsIP1 = func(a netip.Addr) bool { return a == ip1 }
)

func testConfig() Config {
	return Config{
		Capacity:      4,
		QueueLen:      3,
		ReachableTime: 30 * sec,
		StaleTime:     60 * sec,
		RetryInterval: 1 * sec,
		MaxRetries:    3,
	}
}

// pkt builds an ARP packet.
func pkt(t testing.TB, op uint16, sha ether.Addr, spa netip.Addr, tha ether.Addr, tpa netip.Addr) Packet {
	t.Helper()
	p, err := Encode(make([]byte, Len), op, sha, spa, tha, tpa)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// replyTo is host (sha, spa)'s reply to our request.
func replyTo(t testing.TB, sha ether.Addr, spa netip.Addr) Packet {
	return pkt(t, OpReply, sha, spa, mac1, ip1)
}

func wantState(t *testing.T, c *Cache, ip netip.Addr, now int64, wantMAC ether.Addr, want State) {
	t.Helper()
	mac, s := c.Lookup(ip, now)
	if mac != wantMAC || s != want {
		t.Errorf("Lookup(%v, %v s) = %v %v, want %v %v", ip, float64(now)/1e9, mac, s, wantMAC, want)
	}
}

func tick(c *Cache, now int64) ([]netip.Addr, []uint64) {
	return c.Tick(now, nil, nil)
}

// A miss asks for a request once; Tick repeats it every RetryInterval; after
// MaxRetries requests the resolution fails and the queued handles come
// back in dropped, in order.
func TestResolveRetriesThenFails(t *testing.T) {
	c := NewCache(testConfig())
	r := c.Resolve(ip2, 101, 0)
	if r != (ResolveResult{Queued: true, SendRequest: true}) {
		t.Fatalf("first miss: %+v", r)
	}
	for i, h := range []uint64{102, 103} {
		if r := c.Resolve(ip2, h, int64(i+1)*sec/10); r != (ResolveResult{Queued: true}) {
			t.Fatalf("miss while incomplete: %+v, want Queued without a request", r)
		}
	}
	// QueueLen 3: the fourth is refused and stays the caller's.
	if r := c.Resolve(ip2, 104, sec/2); r != (ResolveResult{Dropped: true}) {
		t.Fatalf("miss with a full queue: %+v", r)
	}
	wantState(t, c, ip2, sec/2, ether.Addr{}, StateIncomplete)

	for _, step := range []struct {
		now  int64
		reqs []netip.Addr
		drop []uint64
	}{
		{sec - 1, nil, nil},
		{sec, []netip.Addr{ip2}, nil}, // request 2
		{sec + sec/2, nil, nil},
		{2*sec - 1, nil, nil},             // the interval counts from the last request
		{2 * sec, []netip.Addr{ip2}, nil}, // request 3
		{3*sec - 1, nil, nil},
		{3 * sec, nil, []uint64{101, 102, 103}}, // given up
		{4 * sec, nil, nil},
	} {
		reqs, drop := tick(c, step.now)
		if !slices.Equal(reqs, step.reqs) || !slices.Equal(drop, step.drop) {
			t.Errorf("Tick(%v s) = %v %v, want %v %v", float64(step.now)/1e9, reqs, drop, step.reqs, step.drop)
		}
	}
	wantState(t, c, ip2, 4*sec, ether.Addr{}, StateNone)
	want := Counters{Requests: 3, QueueDrops: 1, Failed: 1, FailDrops: 3}
	if got := c.Counters(); got != want {
		t.Errorf("counters %+v, want %+v", got, want)
	}
	if c.Len() != 0 {
		t.Errorf("Len %d after failure", c.Len())
	}
	// The next frame starts a new resolution.
	if r := c.Resolve(ip2, 105, 5*sec); !r.SendRequest || !r.Queued {
		t.Errorf("miss after a failure: %+v", r)
	}
}

// A reply resolves the entry: the queued handles come back oldest first,
// and later frames go straight out.
func TestReplyReleasesQueueInOrder(t *testing.T) {
	c := NewCache(testConfig())
	for h := uint64(1); h <= 3; h++ {
		c.Resolve(ip2, h, 0)
	}
	c.Resolve(ip3, 99, 0) // another neighbour's queue is not touched
	ready := make([]uint64, 0, 8)
	res := c.Input(replyTo(t, mac2, ip2), ownsIP1, sec/10, ready)
	if !res.Learned || res.MAC != mac2 || res.Reply || res.Conflict || !slices.Equal(res.Ready, []uint64{1, 2, 3}) {
		t.Fatalf("Input(reply) = %+v", res)
	}
	if &res.Ready[:1][0] != &ready[:1][0] {
		t.Error("Input did not append to the caller's slice")
	}
	wantState(t, c, ip2, sec/10, mac2, StateReachable)
	if r := c.Resolve(ip2, 4, sec/5); r != (ResolveResult{MAC: mac2, OK: true}) {
		t.Errorf("Resolve after the reply: %+v", r)
	}
	// The retry timer is gone: no request for ip2, and ip3 is still waiting.
	reqs, drop := tick(c, sec)
	if !slices.Equal(reqs, []netip.Addr{ip3}) || drop != nil {
		t.Errorf("Tick = %v %v, want a request for %v only", reqs, drop, ip3)
	}
	// A second reply releases nothing more.
	if res := c.Input(replyTo(t, mac2, ip2), ownsIP1, sec, nil); len(res.Ready) != 0 {
		t.Errorf("second reply released %v", res.Ready)
	}
	if got := c.Counters().Learned; got != 1 {
		t.Errorf("Learned = %d, want 1", got)
	}
}

// Reachable for ReachableTime, then Stale (still usable), removed
// StaleTime later if unused.
func TestAging(t *testing.T) {
	c := NewCache(testConfig())
	c.Set(ip2, mac2, 0, nil)
	wantState(t, c, ip2, 30*sec-1, mac2, StateReachable)
	// Lookup applies the timers before Tick does.
	wantState(t, c, ip2, 30*sec, mac2, StateStale)
	tick(c, 30*sec-1)
	if e := c.Entries()[0]; e.State != StateReachable {
		t.Errorf("before ReachableTime: %v", e.State)
	}
	tick(c, 30*sec)
	if e := c.Entries()[0]; e.State != StateStale {
		t.Errorf("after ReachableTime: %v", e.State)
	}
	wantState(t, c, ip2, 90*sec-1, mac2, StateStale)
	wantState(t, c, ip2, 90*sec, ether.Addr{}, StateNone)
	tick(c, 90*sec-1)
	if c.Len() != 1 {
		t.Fatal("removed before StaleTime")
	}
	tick(c, 90*sec)
	if c.Len() != 0 || c.Counters().Expired != 1 {
		t.Errorf("after StaleTime: Len %d, %+v", c.Len(), c.Counters())
	}
	// A Tick long after both times removes the entry in one go.
	c.Set(ip2, mac2, 100*sec, nil)
	tick(c, 1000*sec)
	if c.Len() != 0 || c.Counters().Expired != 2 {
		t.Errorf("late Tick: Len %d, %+v", c.Len(), c.Counters())
	}
	// Resolve on an entry expired but not yet ticked starts afresh.
	c.Set(ip2, mac2, 2000*sec, nil)
	if r := c.Resolve(ip2, 7, 2090*sec); !r.Queued || !r.SendRequest {
		t.Errorf("Resolve on an expired entry: %+v", r)
	}
}

// A Stale entry in use keeps working while it is re-confirmed: the first
// use asks for a request (Probe), an answer makes it Reachable, silence
// removes it after MaxRetries requests.
func TestStaleUseProbes(t *testing.T) {
	for _, answered := range []bool{true, false} {
		c := NewCache(testConfig())
		c.Set(ip2, mac2, 0, nil)
		now := 40 * sec // stale
		if r := c.Resolve(ip2, 1, now); r != (ResolveResult{MAC: mac2, OK: true, SendRequest: true}) {
			t.Fatalf("first use when stale: %+v", r)
		}
		wantState(t, c, ip2, now, mac2, StateProbe)
		if r := c.Resolve(ip2, 2, now+1); r != (ResolveResult{MAC: mac2, OK: true}) {
			t.Fatalf("second use while probing: %+v", r)
		}
		if reqs, _ := tick(c, now+sec); !slices.Equal(reqs, []netip.Addr{ip2}) {
			t.Errorf("probe retry: %v", reqs)
		}
		if answered {
			// The neighbour moved to another MAC and answers.
			res := c.Input(replyTo(t, mac3, ip2), ownsIP1, now+sec+1, nil)
			if !res.Learned || res.MAC != mac3 {
				t.Errorf("answer: %+v", res)
			}
			wantState(t, c, ip2, now+sec+1, mac3, StateReachable)
			if c.Counters().Changed != 1 {
				t.Errorf("Changed = %d", c.Counters().Changed)
			}
			continue
		}
		tick(c, now+2*sec)
		reqs, drop := tick(c, now+3*sec)
		if reqs != nil || drop != nil || c.Len() != 0 || c.Counters().Failed != 1 {
			t.Errorf("silent neighbour: %v %v Len %d %+v", reqs, drop, c.Len(), c.Counters())
		}
		if c.Counters().Requests != 3 {
			t.Errorf("Requests = %d, want 3", c.Counters().Requests)
		}
	}
}

// RFC 826 merge: an unknown sender is added only if the packet is for us;
// a known one is updated by any packet.
func TestLearning(t *testing.T) {
	c := NewCache(testConfig())
	type expect struct {
		res   InputResult
		state State
		mac   ether.Addr
	}
	for _, tc := range []struct {
		name string
		p    Packet
		who  netip.Addr
		want expect
	}{
		{"request for us inserts the sender", pkt(t, OpRequest, mac2, ip2, ether.Addr{}, ip1), ip2,
			expect{InputResult{Reply: true, Learned: true, MAC: mac2}, StateReachable, mac2}},
		{"request for another host does not", pkt(t, OpRequest, mac3, ip3, ether.Addr{}, ip4), ip3,
			expect{InputResult{}, StateNone, ether.Addr{}}},
		{"unsolicited reply to us inserts", pkt(t, OpReply, mac4, ip4, mac1, ip1), ip4,
			expect{InputResult{Learned: true, MAC: mac4}, StateReachable, mac4}},
		{"reply to another host does not", pkt(t, OpReply, mac3, ip3, mac4, ip4), ip3,
			expect{InputResult{}, StateNone, ether.Addr{}}},
		{"a known sender is updated by a packet for someone else", pkt(t, OpRequest, mac3, ip2, ether.Addr{}, ip5), ip2,
			expect{InputResult{Learned: true, MAC: mac3}, StateReachable, mac3}},
		{"probe (sender 0.0.0.0) is answered, not learned", pkt(t, OpRequest, mac3, netip.IPv4Unspecified(), ether.Addr{}, ip1), netip.IPv4Unspecified(),
			expect{InputResult{Reply: true}, StateNone, ether.Addr{}}},
		{"multicast sender MAC is ignored", pkt(t, OpRequest, ether.Addr{0x01, 0, 0x5e, 0, 0, 1}, ip5, ether.Addr{}, ip1), ip5,
			expect{InputResult{}, StateNone, ether.Addr{}}},
		{"zero sender MAC is ignored", pkt(t, OpRequest, ether.Addr{}, ip5, mac1, ip1), ip5,
			expect{InputResult{}, StateNone, ether.Addr{}}},
		{"broadcast sender IP is not learned", pkt(t, OpRequest, mac3, netip.MustParseAddr("255.255.255.255"), ether.Addr{}, ip1), netip.MustParseAddr("255.255.255.255"),
			expect{InputResult{Reply: true}, StateNone, ether.Addr{}}},
	} {
		res := c.Input(tc.p, ownsIP1, sec, nil)
		if res.Reply != tc.want.res.Reply || res.Learned != tc.want.res.Learned || res.Conflict || res.MAC != tc.want.res.MAC || len(res.Ready) != 0 {
			t.Errorf("%s: %+v, want %+v", tc.name, res, tc.want.res)
		}
		wantState(t, c, tc.who, sec, tc.want.mac, tc.want.state)
	}
	// owns nil: nothing is ours, nothing is inserted, nothing answered.
	if res := c.Input(pkt(t, OpRequest, mac5, ip5, ether.Addr{}, ip1), nil, sec, nil); res.Reply || res.Learned {
		t.Errorf("owns nil: %+v", res)
	}
	// A malformed packet is counted, not read.
	if res := c.Input(Packet(goldenRequest[:20]), ownsIP1, sec, nil); res.Reply || res.Learned || c.Counters().Invalid != 3 {
		t.Errorf("malformed: %+v %+v", res, c.Counters())
	}
	want := Counters{Replies: 3, Learned: 2, Changed: 1, Invalid: 3}
	if got := c.Counters(); got != want {
		t.Errorf("counters %+v, want %+v", got, want)
	}
}

var mac5 = ether.Addr{0x02, 0, 0, 0, 0, 0x05}

// A packet from one of our addresses, from another MAC, is a conflict;
// requests for our address are still answered; nothing is learned.
func TestConflict(t *testing.T) {
	cfg := testConfig()
	cfg.MAC = mac1
	c := NewCache(cfg)
	// Another host announces our address (gratuitous request).
	res := c.Input(pkt(t, OpRequest, mac3, ip1, ether.Addr{}, ip1), ownsIP1, 0, nil)
	if !res.Conflict || !res.Reply || res.Learned {
		t.Errorf("announcement of our address: %+v", res)
	}
	// Another host answers for our address.
	res = c.Input(pkt(t, OpReply, mac3, ip1, mac2, ip2), ownsIP1, 0, nil)
	if !res.Conflict || res.Reply || res.Learned {
		t.Errorf("reply from our address: %+v", res)
	}
	// Our own announcement, looped back: not a conflict, not answered.
	res = c.Input(pkt(t, OpRequest, mac1, ip1, ether.Addr{}, ip1), ownsIP1, 0, nil)
	if res.Conflict || res.Reply || res.Learned {
		t.Errorf("our own announcement: %+v", res)
	}
	wantState(t, c, ip1, 0, ether.Addr{}, StateNone)
	if got := c.Counters(); got.Conflicts != 2 || got.Replies != 1 {
		t.Errorf("counters %+v", got)
	}
	// Without Config.MAC every packet from our address is a conflict.
	c = NewCache(testConfig())
	if res := c.Input(pkt(t, OpRequest, mac1, ip1, ether.Addr{}, ip1), ownsIP1, 0, nil); !res.Conflict {
		t.Errorf("no Config.MAC: %+v", res)
	}
}

// A gratuitous ARP from a neighbour moves its entry to the new MAC, and
// does not insert a neighbour we do not know (it is not for us).
func TestGratuitousFromNeighbour(t *testing.T) {
	c := NewCache(testConfig())
	c.Set(ip2, mac2, 0, nil)
	g := make([]byte, FrameLen)
	if _, err := Gratuitous(g, mac3, ip2); err != nil {
		t.Fatal(err)
	}
	res := c.Input(Packet(g[ether.HeaderLen:]), ownsIP1, sec, nil)
	if !res.Learned || res.MAC != mac3 || res.Reply || res.Conflict {
		t.Errorf("gratuitous: %+v", res)
	}
	if r := c.Resolve(ip2, 1, 2*sec); r.MAC != mac3 || !r.OK {
		t.Errorf("Resolve after the announcement: %+v", r)
	}
	if _, err := Gratuitous(g, mac4, ip4); err != nil {
		t.Fatal(err)
	}
	c.Input(Packet(g[ether.HeaderLen:]), ownsIP1, sec, nil)
	wantState(t, c, ip4, sec, ether.Addr{}, StateNone)
}

// When full, Resolve evicts the least recently touched Stale entry, then
// Reachable, never Incomplete; Input evicts only Stale entries.
func TestEviction(t *testing.T) {
	c := NewCache(testConfig()) // capacity 4
	c.Set(ip2, mac2, 0, nil)    // stale from 30 s
	c.Set(ip3, mac3, 20*sec, nil)
	c.Set(ip4, mac4, 20*sec, nil)
	now := 35 * sec
	tick(c, now)
	c.Resolve(ip5, 500, now) // incomplete, one frame queued
	if c.Len() != 4 {
		t.Fatalf("Len %d, want a full table", c.Len())
	}
	// ip3 used more recently than ip4.
	c.Resolve(ip3, 0, now)

	// A request for us from a new host: Input may evict the stale ip2.
	if res := c.Input(pkt(t, OpRequest, mac5, ip6, ether.Addr{}, ip1), ownsIP1, now, nil); !res.Learned {
		t.Fatalf("Input into a table with a stale entry: %+v", res)
	}
	wantState(t, c, ip2, now, ether.Addr{}, StateNone)
	// Another: only in-use entries are left, so Input refuses.
	if res := c.Input(pkt(t, OpRequest, mac5, ip7, ether.Addr{}, ip1), ownsIP1, now, nil); res.Learned || !res.Reply {
		t.Fatalf("Input into a table with nothing stale: %+v", res)
	}
	// Resolve evicts the least recently touched Reachable entry: ip4.
	if r := c.Resolve(ip7, 700, now); !r.Queued || !r.SendRequest {
		t.Fatalf("Resolve into a full table: %+v", r)
	}
	wantState(t, c, ip4, now, ether.Addr{}, StateNone)
	wantState(t, c, ip3, now, mac3, StateReachable)
	// ip6 (learned at now) is younger than ip3 (used at now, before it).
	c.Resolve(netip.MustParseAddr("10.0.0.8"), 800, now)
	wantState(t, c, ip3, now, ether.Addr{}, StateNone)
	c.Resolve(netip.MustParseAddr("10.0.0.9"), 900, now)
	wantState(t, c, ip6, now, ether.Addr{}, StateNone)
	// Now four incomplete entries, each holding a frame: nothing to evict.
	if r := c.Resolve(netip.MustParseAddr("10.0.0.10"), 1000, now); r != (ResolveResult{Dropped: true}) {
		t.Fatalf("Resolve into a table of incomplete entries: %+v", r)
	}
	if got := c.Counters(); got.Evictions != 4 || got.Full != 2 {
		t.Errorf("Evictions %d Full %d, want 4 and 2", got.Evictions, got.Full)
	}
	// No handle was lost: all four come back when the resolutions fail.
	var drop []uint64
	for k := int64(1); k <= 3; k++ {
		_, drop = c.Tick(now+k*10*sec, nil, drop)
	}
	slices.Sort(drop)
	if !slices.Equal(drop, []uint64{500, 700, 800, 900}) {
		t.Errorf("dropped %v", drop)
	}
}

// Set resolves an incomplete entry and hands its queue back.
func TestSet(t *testing.T) {
	c := NewCache(testConfig())
	c.Resolve(ip2, 1, 0)
	c.Resolve(ip2, 2, 0)
	buf := make([]uint64, 0, 4)
	ready := c.Set(ip2, mac2, sec, buf)
	if !slices.Equal(ready, []uint64{1, 2}) {
		t.Errorf("Set returned %v", ready)
	}
	wantState(t, c, ip2, sec, mac2, StateReachable)
	if reqs, drop := tick(c, 10*sec); reqs != nil || drop != nil {
		t.Errorf("Tick after Set: %v %v", reqs, drop)
	}
	// Set overwrites.
	if ready := c.Set(ip2, mac3, 2*sec, nil); ready != nil {
		t.Errorf("Set on a reachable entry returned %v", ready)
	}
	wantState(t, c, ip2, 2*sec, mac3, StateReachable)
}

func TestUnusableAddresses(t *testing.T) {
	c := NewCache(testConfig())
	for _, s := range []string{"0.0.0.0", "255.255.255.255", "224.0.0.1", "239.1.2.3", "127.0.0.1",
		"::", "::1", "ff02::1", "ff02::1:ff00:2", "::ffff:10.0.0.2"} {
		ip := netip.MustParseAddr(s)
		if r := c.Resolve(ip, 1, 0); r != (ResolveResult{Dropped: true}) {
			t.Errorf("Resolve(%v) = %+v", ip, r)
		}
		c.Set(ip, mac2, 0, nil)
		if _, st := c.Lookup(ip, 0); st != StateNone {
			t.Errorf("Lookup(%v) = %v", ip, st)
		}
	}
	if r := c.Resolve(netip.Addr{}, 1, 0); !r.Dropped {
		t.Errorf("Resolve(zero Addr) = %+v", r)
	}
	if got := c.Counters(); got.Invalid != 21 || c.Len() != 0 {
		t.Errorf("Invalid %d Len %d", got.Invalid, c.Len())
	}
}

func TestEntries(t *testing.T) {
	c := NewCache(testConfig())
	c.Set(ip3, mac3, 5, nil)
	c.Resolve(ip2, 1, 7)
	c.Resolve(ip2, 2, 8)
	got := c.Entries()
	want := []Entry{
		{IP: ip2, State: StateIncomplete, Updated: 7, Retries: 1, Queued: 2},
		{IP: ip3, MAC: mac3, State: StateReachable, Updated: 5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Entries = %+v, want %+v", got, want)
	}
	j, err := json.Marshal(got[1])
	if err != nil || !strings.Contains(string(j), `"MAC":"02:00:00:00:00:03"`) || !strings.Contains(string(j), `"State":"reachable"`) {
		t.Errorf("JSON: %s %v", j, err)
	}
}

func TestDefaults(t *testing.T) {
	c := NewCache(Config{QueueLen: -1})
	if got := c.Config(); got != DefaultConfig() {
		t.Errorf("Config() = %+v, want %+v", got, DefaultConfig())
	}
	if len(c.entries) != 1024 || len(c.queue) != 1024*8 || len(c.slots) != 2048 {
		t.Errorf("sizes %d %d %d", len(c.entries), len(c.queue), len(c.slots))
	}
	for s, want := range map[State]string{StateNone: "none", StateIncomplete: "incomplete", StateReachable: "reachable", StateStale: "stale", StateProbe: "probe", 9: "State(9)"} {
		if s.String() != want {
			t.Errorf("%d: %q", s, s.String())
		}
	}
}

// TestTable drives the hash table directly against a map, in a table small
// enough for long clusters, so that backward-shift deletion is exercised
// at every position, wrap-around included.
func TestTable(t *testing.T) {
	for _, seed := range []uint64{0, 1, 0xdeadbeef} {
		c := NewCache(Config{Capacity: 8, HashSeed: seed})
		rng := rand.New(rand.NewPCG(seed, 1))
		model := map[uint32]int32{}
		for step := 0; step < 20000; step++ {
			n := 1 + rng.Uint32N(24)
			if i, ok := model[n]; ok {
				if c.find(tableKey(n)) != i {
					t.Fatalf("seed %d step %d: find(%d) = %d, want %d", seed, step, n, c.find(tableKey(n)), i)
				}
				c.remove(i)
				delete(model, n)
			} else if len(model) < 8 {
				model[n] = c.insert(tableKey(n), false)
			}
			for k := uint32(1); k <= 24; k++ {
				i, ok := model[k]
				if !ok {
					i = -1
				}
				if got := c.find(tableKey(k)); got != i {
					t.Fatalf("seed %d step %d: find(%d) = %d, want %d", seed, step, k, got, i)
				}
			}
			if c.Len() != len(model) {
				t.Fatalf("Len %d, model %d", c.Len(), len(model))
			}
		}
	}
}

// tableKey is TestTable's key n: IPv4 addresses for even n, IPv6 ones for
// odd n, so that both families share the table.
func tableKey(n uint32) key {
	if n%2 == 0 {
		k, _ := keyOf(netip.AddrFrom4([4]byte{10, 0, byte(n >> 8), byte(n)}))
		return k
	}
	k, _ := keyOf(netip.MustParseAddr("fe80::1").Next())
	k[15] = byte(n)
	return k
}
