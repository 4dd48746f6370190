//go:build !race

package tcp

import (
	"bytes"
	"testing"
)

// TestNoAllocs has one row per hot-path entry point of the building
// blocks: none may allocate.
func TestNoAllocs(t *testing.T) {
	h := Header(bytes.Clone(dataGolden))
	syn := Header(bytes.Clone(synGolden))
	var (
		o   Options
		seg Segment
	)
	out := make([]byte, MaxHeaderLen+100)
	sackOpts := Options{HasTimestamps: true, TSVal: 1, TSEcr: 2, NumSACK: 3, SACK: [4]SACKBlock{{1, 2}, {3, 4}, {5, 6}}}
	buf := NewBuffer(4096)
	chunk := make([]byte, 1000)
	into := make([]byte, 1000)
	buf.Write(chunk[:300]) // the ring's indices are not at zero
	buf.Consume(300)
	cubic := &Cubic{}
	now := int64(1e9)
	cubic.Init(1460, now)
	cubic.OnCongestion(cubic.Cwnd(), now)
	rtt := NewRTT(DefaultMinRTO, DefaultMaxRTO, DefaultInitialRTO)
	g := NewISNGenerator(isnKey)
	rs := newRanges(8)
	cookie := g.Cookie(isnLocal, isnRemote, 77, 1460, now)

	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Header.Check", func() { sinkErr = h.Check() }},
		{"Header accessors", func() {
			sinkInt = int(h.SrcPort()+h.DstPort()+h.Window()+h.Checksum()+h.Urgent()) + h.DataOffset() + int(h.Flags())
			sinkSeq = h.Seq() + h.Ack()
			sinkBytes = h.Options()
			sinkBytes = h.Payload()
		}},
		{"Header.ChecksumValid", func() { sinkBool = h.ChecksumValid(goldenSrc, goldenDst) }},
		{"Header.SetChecksum", func() { h.SetChecksum(goldenSrc, goldenDst) }},
		{"ParseOptions", func() { sinkErr = ParseOptions(syn.Options(), &o) }},
		{"OptionsLen", func() { sinkInt = OptionsLen(&sackOpts) }},
		{"EncodeOptions", func() { sinkInt = EncodeOptions(out, &sackOpts) }},
		{"Encode", func() {
			sinkInt, sinkErr = Encode(out, Fields{SrcPort: 1, DstPort: 2, Seq: 3, Ack: 4, Flags: FlagACK, Window: 5}, &sackOpts)
		}},
		{"Parse", func() { sinkErr = Parse(h, &seg) }},
		{"Segment.Len", func() { sinkInt = int(seg.Len()) }},
		{"Buffer.Write", func() { sinkInt = buf.Write(chunk); buf.Consume(len(chunk)) }},
		{"Buffer.Peek", func() {
			buf.Write(chunk)
			sinkBytes, _ = buf.Peek(10, 900)
			buf.Consume(len(chunk))
		}},
		{"Buffer.Read", func() { buf.Write(chunk); sinkInt = buf.Read(into) }},
		{"Buffer.WriteAt/Commit", func() { sinkInt = buf.WriteAt(0, chunk); buf.Commit(len(chunk)); buf.Consume(len(chunk)) }},
		{"ranges.add/trim", func() { rs.add(10, 20); rs.add(30, 40); rs.add(20, 30); rs.trim(40) }},
		{"Cubic.OnAck", func() { now += 1e5; cubic.OnAck(1460, 20e6, cubic.Cwnd(), now) }},
		{"Cubic.OnCongestion", func() { cubic.OnCongestion(cubic.Cwnd(), now); cubic.OnRecoveryExit(now) }},
		{"RTTEstimator.Sample", func() { rtt.Sample(20e6); sinkInt = int(rtt.RTO()) }},
		{"ISNGenerator.ISN", func() { sinkSeq = g.ISN(isnLocal, isnRemote, now) }},
		{"ISNGenerator.TSOffset", func() { sinkSeq = Seq(g.TSOffset(isnLocal.Addr(), isnRemote.Addr())) }},
		{"Cookie", func() { sinkSeq = g.Cookie(isnLocal, isnRemote, 77, 1460, now) }},
		{"CheckCookie", func() { _, sinkBool = g.CheckCookie(isnLocal, isnRemote, 77, cookie+1, now) }},
		{"sip24", func() { sinkSeq = Seq(sip24(1, 2, 3, 4, 5)) }},
	} {
		if n := testing.AllocsPerRun(100, tc.fn); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, n)
		}
	}
}
