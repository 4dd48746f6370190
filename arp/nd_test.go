package arp

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/fastpathnet/fastpath/ether"
)

var (
	nb6  = netip.MustParseAddr("2001:db8::2")
	nb6b = netip.MustParseAddr("fe80::2")
)

// An entry in each state, made through the public API only, at time 0:
// Incomplete with handles 1 and 2 waiting, Reachable, Stale and Probe at
// mac3.
func ndEntry(t *testing.T, c *Cache, ip netip.Addr, s State) {
	t.Helper()
	switch s {
	case StateIncomplete:
		c.Resolve(ip, 1, 0)
		c.Resolve(ip, 2, 0)
	case StateReachable:
		c.Set(ip, mac3, 0, nil)
	case StateStale:
		c.Solicitation(ip, mac3, 0, nil)
	case StateProbe:
		c.Solicitation(ip, mac3, 0, nil)
		if r := c.Resolve(ip, 9, 0); !r.OK || !r.SendRequest {
			t.Fatalf("stale use: %+v", r)
		}
	}
	if _, got := c.Lookup(ip, 0); got != s {
		t.Fatalf("set-up: %v, want %v", got, s)
	}
}

// TestAdvertisement is RFC 4861 7.2.5's table: each state against each
// kind of advertisement.
func TestAdvertisement(t *testing.T) {
	type want struct {
		mac   ether.Addr
		state State
		ready []uint64
	}
	sol, over := Advert{Solicited: true}, Advert{Override: true}
	for _, tc := range []struct {
		name string
		from State
		a    Advert
		mac  ether.Addr // the advertised MAC; zero: no option
		want want
	}{
		{"none: not learned", StateNone, Advert{Solicited: true, Override: true}, mac4, want{state: StateNone}},
		{"incomplete, no option: ignored", StateIncomplete, sol, ether.Addr{}, want{state: StateIncomplete}},
		{"incomplete, solicited", StateIncomplete, sol, mac4, want{mac4, StateReachable, []uint64{1, 2}}},
		{"incomplete, unsolicited", StateIncomplete, Advert{}, mac4, want{mac4, StateStale, []uint64{1, 2}}},
		{"reachable, other MAC, no override: stale, MAC kept", StateReachable, sol, mac4, want{mac3, StateStale, nil}},
		{"stale, other MAC, no override: ignored", StateStale, sol, mac4, want{mac3, StateStale, nil}},
		{"probe, other MAC, no override: ignored", StateProbe, sol, mac4, want{mac3, StateProbe, nil}},
		{"stale, same MAC, solicited: reachable", StateStale, sol, mac3, want{mac3, StateReachable, nil}},
		{"probe, no option, solicited: reachable", StateProbe, sol, ether.Addr{}, want{mac3, StateReachable, nil}},
		{"probe, same MAC, unsolicited: unchanged", StateProbe, Advert{}, mac3, want{mac3, StateProbe, nil}},
		{"reachable, override, other MAC, unsolicited: stale at it", StateReachable, over, mac4, want{mac4, StateStale, nil}},
		{"stale, override, other MAC, solicited: reachable at it", StateStale, Advert{Solicited: true, Override: true}, mac4, want{mac4, StateReachable, nil}},
		{"reachable, override, same MAC, unsolicited: unchanged", StateReachable, over, mac3, want{mac3, StateReachable, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCache(testConfig())
			ndEntry(t, c, nb6, tc.from)
			a := tc.a
			a.Target, a.MAC, a.HasMAC = nb6, tc.mac, !tc.mac.IsZero()
			r := c.Advertisement(a, sec, make([]uint64, 0, 4))
			mac, st := c.Lookup(nb6, sec)
			if mac != tc.want.mac || st != tc.want.state {
				t.Errorf("now %v %v, want %v %v", mac, st, tc.want.mac, tc.want.state)
			}
			if !slices.Equal(r.Ready, tc.want.ready) {
				t.Errorf("ready %v, want %v", r.Ready, tc.want.ready)
			}
			if r.Learned && r.MAC != mac {
				t.Errorf("result MAC %v, entry's %v", r.MAC, mac)
			}
		})
	}
}

// TestSolicitation is RFC 4861 7.2.3: a solicitation's source link-layer
// address creates a Stale entry, or makes one Stale when the MAC changed.
func TestSolicitation(t *testing.T) {
	for _, tc := range []struct {
		from      State
		mac       ether.Addr
		wantMAC   ether.Addr
		wantState State
		ready     []uint64
	}{
		{StateNone, mac4, mac4, StateStale, nil},
		{StateIncomplete, mac4, mac4, StateStale, []uint64{1, 2}},
		{StateReachable, mac3, mac3, StateReachable, nil},
		{StateReachable, mac4, mac4, StateStale, nil},
		{StateProbe, mac4, mac4, StateStale, nil},
	} {
		c := NewCache(testConfig())
		ndEntry(t, c, nb6b, tc.from)
		r := c.Solicitation(nb6b, tc.mac, sec, nil)
		wantState(t, c, nb6b, sec, tc.wantMAC, tc.wantState)
		if !slices.Equal(r.Ready, tc.ready) {
			t.Errorf("from %v: ready %v, want %v", tc.from, r.Ready, tc.ready)
		}
	}
}

// A Stale entry made by a solicitation is used, probed, and removed
// unused, as an ARP one: the same timers and queueing for both families.
func TestNDStaleLifecycle(t *testing.T) {
	c := NewCache(testConfig())
	c.Solicitation(nb6, mac3, 0, nil)
	r := c.Resolve(nb6, 7, sec)
	if !r.OK || r.MAC != mac3 || !r.SendRequest {
		t.Fatalf("stale use: %+v", r)
	}
	reqs, _ := tick(c, 2*sec)
	if !slices.Equal(reqs, []netip.Addr{nb6}) {
		t.Fatalf("probe retries %v", reqs)
	}
	tick(c, 3*sec)
	if _, st := c.Lookup(nb6, 4*sec); st != StateProbe {
		t.Fatalf("before the last retry: %v", st)
	}
	tick(c, 4*sec)
	if _, st := c.Lookup(nb6, 4*sec); st != StateNone {
		t.Fatalf("unanswered probe: %v", st)
	}
	// Unused: gone after StaleTime.
	c.Solicitation(nb6b, mac4, 0, nil)
	tick(c, testConfig().StaleTime+1)
	if c.Len() != 0 {
		t.Errorf("Len %d after StaleTime", c.Len())
	}
}

// Both families share one table; the IPv4-mapped form of an IPv4 address
// is no IPv6 neighbour, and ARP's and ND's entry points keep to their own.
func TestFamilies(t *testing.T) {
	c := NewCache(testConfig())
	c.Set(ip3, mac3, 0, nil)
	c.Set(nb6, mac4, 0, nil)
	c.Set(netip.MustParseAddr("fe80::3%eth0"), mac3, 0, nil)
	wantState(t, c, ip3, 0, mac3, StateReachable)
	wantState(t, c, nb6, 0, mac4, StateReachable)
	wantState(t, c, netip.MustParseAddr("fe80::3"), 0, mac3, StateReachable)
	wantState(t, c, netip.MustParseAddr("::ffff:10.0.0.3"), 0, ether.Addr{}, StateNone)
	inv := c.Counters().Invalid
	c.Solicitation(ip4, mac3, 0, nil)
	c.Advertisement(Advert{Target: ip3, MAC: mac4, HasMAC: true, Override: true}, 0, nil)
	c.Solicitation(nb6b, ether.Broadcast, 0, nil)
	if got := c.Counters().Invalid - inv; got != 3 {
		t.Errorf("Invalid +%d, want 3", got)
	}
	wantState(t, c, ip3, 0, mac3, StateReachable)
	got := c.Entries()
	if len(got) != 3 || got[0].IP != ip3 || got[1].IP != nb6 || got[2].IP != netip.MustParseAddr("fe80::3") {
		t.Errorf("Entries %+v", got)
	}
}
