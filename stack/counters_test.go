package stack

import (
	"maps"
	"testing"
)

// TestDropReasons: every drop counter and nothing else, by name, only
// those not zero; and their sum is Drops.
func TestDropReasons(t *testing.T) {
	var c Counters
	if m := c.DropReasons(); m != nil {
		t.Errorf("no drops: %v", m)
	}
	c[RXFrames], c[DropMalformedEther], c[DropHandoverFull], c[DropICMP6Type], c[UnreachLimited] = 9, 1, 2, 3, 4
	want := map[string]uint64{"drop_malformed_ether": 1, "drop_handover_full": 2, "drop_icmp6_type": 3}
	if m := c.DropReasons(); !maps.Equal(m, want) {
		t.Errorf("DropReasons = %v, want %v", m, want)
	}
	if c.Drops() != 6 {
		t.Errorf("Drops = %d, want 6", c.Drops())
	}
}
