//go:build !race

package gen

import (
	"net/netip"
	"testing"
)

// TestNoAllocs has a row per hot-path entry point: none may allocate. The
// senders' kernel is serviced in the same goroutine between polls.
func TestNoAllocs(t *testing.T) {
	plain := mustBuilder(t, baseSpec(), 0)
	spec := baseSpec()
	spec.Stamp, spec.Sizes = true, imix(t, "64:7,594:4,1518:1")
	spec.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.254")}
	spec.SrcPorts, spec.DstPorts = Range[uint16]{1024, 2047}, Range[uint16]{9, 24}
	full := mustBuilder(t, spec, 1)
	spec.Random = true
	random := mustBuilder(t, spec, 2)
	spec6 := baseSpec6()
	spec6.Stamp, spec6.Sizes = true, imix(t, "82:7,594:4,1518:1")
	spec6.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::fe")}
	spec6.SrcPorts = Range[uint16]{1024, 2047}
	full6 := mustBuilder(t, spec6, 3)
	buf := make([]byte, 2048)

	tr := NewTracker()
	tr.Record(0, 0, 0, 1)
	seq := uint64(1)

	bucket := NewBucket(Rate{1e6, false}, 64, bits64, 0)
	bitBucket := NewBucket(Rate{1e9, true}, 64, bits1518, 0)
	now := int64(0)

	newSender := func(spec Spec, rate Rate) (*Sender, *kernel) {
		p, k := newPort(t, 256, 512)
		k.hold = 100
		return mustSender(t, p, mustBuilder(t, spec, 0), rate, 64, 0), k
	}
	fast, fastK := newSender(baseSpec(), Rate{})
	paced, pacedK := newSender(spec, Rate{1e6, false})
	spec.Random = false
	limited, limitedK := newSender(spec, Rate{10e9, true})
	limited.limit = 1000
	start := monotonic()
	poll := func(s *Sender, k *kernel) func() {
		return func() {
			now += 10e3
			s.Poll(start + now)
			k.service()
		}
	}

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Builder.Next", func() { plain.Next(buf, 1) }},
		{"Builder.Next stamp imix ranges", func() { full.Next(buf, 1) }},
		{"Builder.Next random", func() { random.Next(buf, 1) }},
		{"Builder.Next IPv6 stamp imix ranges", func() { full6.Next(buf, 1) }},
		{"Builder.NextLen", func() { full.NextLen() }},
		{"PutStamp+ParseStamp", func() { PutStamp(buf, 1, 2, 3); ParseStamp(buf) }},
		{"Tracker.Record", func() { tr.Record(0, seq, 0, int64(seq)); seq += 1 + seq%3 }},
		{"Tracker.Record late", func() { tr.Record(0, seq-2, 0, 1) }},
		{"Tracker.Record jump", func() { seq += 100000; tr.Record(0, seq, 0, 1) }},
		{"Bucket", func() { now += 1000; bucket.Refill(now); bucket.Take(bits64); bucket.Wait(bits64) }},
		{"Bucket bits", func() { now += 1000; bitBucket.Refill(now); bitBucket.Take(bits1518); bitBucket.Wait(bits1518) }},
		{"Sender.Poll", poll(fast, fastK)},
		{"Sender.Poll paced stamped flows", poll(paced, pacedK)},
		{"Sender.Poll limited", poll(limited, limitedK)},
		{"Sender.Stats+Done+Outstanding", func() { fast.publish(); fast.Stats(); fast.Done(); fast.Outstanding() }},
	} {
		if a := testing.AllocsPerRun(1000, tc.fn); a != 0 {
			t.Errorf("%s: %v allocations per run, want 0", tc.name, a)
		}
	}
	for _, k := range []*kernel{fastK, pacedK, limitedK} {
		if k.err != nil {
			t.Error(k.err)
		}
	}
	if fast.stats.Sent == 0 || paced.stats.Sent == 0 || limited.stats.Sent != 1000 {
		t.Errorf("the senders did not send: %+v %+v %+v", fast.stats, paced.stats, limited.stats)
	}
}
