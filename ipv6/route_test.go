package ipv6

import (
	"errors"
	"net/netip"
	"testing"
)

func TestTable(t *testing.T) {
	tb := NewTable(4)
	gw := netip.MustParseAddr("fe80::1")
	src := netip.MustParseAddr("2001:db8::10")
	for _, r := range []Route{
		{Prefix: netip.MustParsePrefix("::/0"), Gateway: gw, Src: src},
		{Prefix: netip.MustParsePrefix("2001:db8::10/64"), Src: src},
		{Prefix: netip.MustParsePrefix("fe80::/64"), Src: src},
		{Prefix: netip.MustParsePrefix("2001:db8::/48"), Gateway: netip.MustParseAddr("2001:db8::99"), Metric: 5},
	} {
		if err := tb.Add(r); err != nil {
			t.Fatalf("Add(%v): %v", r, err)
		}
	}
	for _, tc := range []struct {
		dst, hop string
		prefix   string
	}{
		{"2001:db8::2", "2001:db8::2", "2001:db8::/64"},
		{"2001:db8:0:1::2", "2001:db8::99", "2001:db8::/48"},
		{"2001:db9::2", "fe80::1", "::/0"},
		{"fe80::2%veth0", "fe80::2", "fe80::/64"},
	} {
		hop, r, ok := tb.NextHop(netip.MustParseAddr(tc.dst))
		if !ok || hop.String() != tc.hop || r.Prefix.String() != tc.prefix {
			t.Errorf("NextHop(%s) = %v %v %v, want %s via %s", tc.dst, hop, r.Prefix, ok, tc.hop, tc.prefix)
		}
	}
	// Full; a replacement still goes in; a lower metric takes over.
	if err := tb.Add(Route{Prefix: netip.MustParsePrefix("2001:db8:1::/48")}); !errors.Is(err, ErrTableFull) {
		t.Errorf("Add to a full table: %v", err)
	}
	other := netip.MustParseAddr("fe80::2")
	if err := tb.Add(Route{Prefix: netip.MustParsePrefix("::/0"), Gateway: other}); err != nil {
		t.Errorf("replace: %v", err)
	}
	if hop, _, _ := tb.NextHop(netip.MustParseAddr("2001:db9::2")); hop != other {
		t.Errorf("after the replacement: via %v", hop)
	}
	if !tb.Remove(netip.MustParsePrefix("::/0")) || tb.Remove(netip.MustParsePrefix("::/0")) || tb.Len() != 3 {
		t.Errorf("Remove: len %d", tb.Len())
	}
	if _, _, ok := tb.NextHop(netip.MustParseAddr("2001:db9::2")); ok {
		t.Error("a route after the default's removal")
	}
	for _, r := range []Route{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8")},
		{Prefix: netip.MustParsePrefix("::ffff:10.0.0.0/104")},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Gateway: netip.MustParseAddr("10.0.0.1")},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Gateway: netip.MustParseAddr("::ffff:10.0.0.1")},
		{Prefix: netip.MustParsePrefix("2001:db8::/32"), Src: netip.MustParseAddr("::ffff:10.0.0.1")},
		{},
	} {
		if err := tb.Add(r); !errors.Is(err, ErrNotIPv6) {
			t.Errorf("Add(%v): %v", r, err)
		}
	}
	if got := len(tb.Routes()); got != 3 {
		t.Errorf("Routes: %d", got)
	}
}
