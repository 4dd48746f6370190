package sink_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/port"
	"github.com/fastpathnet/fastpath/sink"
)

// TestGenToSink: gen.Start on A sends a count of stamped frames to
// sink.Start on B; the sink counts every one, none lost, duplicated or
// reordered, and stops once. (One queue each: two senders and two engines
// spinning on this machine's two cores drop frames between the engines,
// counted as engine drops; the VM suite runs four queues. At 50,000 a
// second, as TestLab: the sink's 4,096 RX slots hold 80 ms, which a
// package beside it may take from the sink's engine; at 200,000, 20 ms.) Over IPv4,
// then IPv6: the sink, in shared mode, takes the kernel's IPv6 address
// on B as it takes its IPv4 one.
func TestGenToSink(t *testing.T) {
	for _, tc := range []struct {
		name string
		v6   bool
		size int
	}{{"ipv4", false, 64}, {"ipv6", true, 82}} {
		t.Run(tc.name, func(t *testing.T) { genToSink(t, tc.v6, tc.size) })
	}
}

func genToSink(t *testing.T, v6 bool, size int) {
	l := lab.NewT(t, lab.Options{IPv6: v6})
	dst := l.B.Addr.Addr()
	if v6 {
		dst = l.B.Addr6.Addr()
	}
	const count = 20_000
	sc := sink.DefaultConfig(l.B.Link, 9)
	sc.Netns, sc.Count, sc.Stack.Queues = l.B.Name, count, nil // every queue in use
	s, err := sink.Start(sc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := s.Stop(true); err == nil {
			t.Error("a second Stop succeeded")
		}
	}()
	po := port.DefaultOptions(l.A.Link)
	po.Netns = l.A.Name
	g, err := gen.Start(context.Background(), gen.Config{Port: po, Batch: 64, Count: count, Rate: gen.Rate{Value: 50_000},
		Spec: gen.Spec{Dst: netip.AddrPortFrom(dst, 9), Sizes: []gen.SizeWeight{{Size: size, Weight: 1}}, Stamp: true, SrcPorts: gen.Range[uint16]{Lo: 1024, Hi: 1087}}})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if in := g.Info(); len(in.Queues) != 1 || in.Flows != 64 || in.DstMAC.String() != l.B.MAC.String() {
		t.Errorf("gen info %+v", in)
	}
	select {
	case <-g.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("gen did not finish its count")
	}
	for deadline := time.Now().Add(10 * time.Second); !s.Reached() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if st := g.Stats(); st.Sent != count || st.Completed != count {
		t.Errorf("gen sent %d, completed %d, want %d", st.Sent, st.Completed, count)
	}
	r, err := s.Stop(false)
	if err != nil {
		t.Fatal(err)
	}
	c := s.Stack().Counters()
	if r.Packets != count || r.Stamp.Stamped != count || r.Lost != 0 || r.Duplicates != 0 || r.Reordered != 0 {
		t.Errorf("sink: %d packets, %d stamped, lost %d, duplicated %d, reordered %d; want %d, none lost; %+v; engine %v", r.Packets, r.Stamp.Stamped, r.Lost, r.Duplicates, r.Reordered, count, r, c.Map())
	}
	checkLatency(t, s.Latency(), count, r.Latency)
	if len(r.Queues) != 1 || r.Mode != "copy" || r.XDPMode != "native" || r.Kernel == "" || r.Latency.Max <= 0 {
		t.Errorf("sink result %+v", r)
	}
}

// checkLatency holds the sink's Prometheus histogram against the HDR
// histogram behind its summary: every stamped packet in one bucket, and
// the median in the bucket the summary's p50 falls in (to the HDR
// histogram's 3 significant digits).
func checkLatency(t *testing.T, l sink.Latency, count uint64, p gen.Percentile) {
	t.Helper()
	var total uint64
	for _, n := range l.Counts {
		total += n
	}
	if total != count || l.Sum <= 0 {
		t.Fatalf("latency histogram: %d packets (sum %v), want %d: %+v", total, l.Sum, count, l)
	}
	p50 := time.Duration(p.P50 * 1e3)
	var below uint64
	for i, le := range sink.LatencyBuckets {
		below += l.Counts[i]
		switch {
		case le < p50*999/1000 && below > count/2+1:
			t.Errorf("%d of %d packets at or below %v, but the median is %v", below, count, le, p50)
		case le > p50*1001/1000 && below < count/2:
			t.Errorf("%d of %d packets at or below %v, but the median is %v", below, count, le, p50)
		}
	}
	if mean := time.Duration(l.Sum / float64(count) * 1e9); mean <= 0 || mean > time.Duration(p.Max*1e3)+time.Microsecond {
		t.Errorf("mean latency %v, max %v µs", mean, p.Max)
	}
}
