package gen

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/rings"
)

// kernel plays the kernel's side of a TXQueue in Go memory: it consumes the
// TX ring (an RX view of its memory), checks the frames, and returns them
// on the completion ring (a Fill view of its memory), holding up to hold
// frames back while more arrive, as a driver completes lazily. Its
// methods do not allocate unless a check fails.
type kernel struct {
	tx        *rings.RX
	comp      *rings.Fill
	area      []byte
	frameSize uint64
	inFlight  []bool
	queue     []uint64 // taken off TX, not yet completed: a circular FIFO
	qHead     int
	qLen      int
	hold      int

	// checkEvery > 0 checks every checkEvery-th frame against want, and
	// the stamps of all when want.stamp is set.
	checkEvery uint64
	want       frameWant
	nextSeq    uint64

	taken, completed uint64
	err              error
	nap              time.Duration
}

// newPort returns a TXQueue over rings of ringSize entries and frames frames
// of 2048 bytes, all in Go memory, and the kernel that serves it.
func newPort(t testing.TB, ringSize uint32, frames int) (TXQueue, *kernel) {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	off, n := rings.Layout(ringSize, rings.DescSize)
	txMem := make([]byte, n)
	tx, err := rings.NewTX(txMem, off, ringSize)
	must(err)
	ktx, err := rings.NewRX(txMem, off, ringSize)
	must(err)
	off, n = rings.Layout(ringSize, rings.AddrSize)
	compMem := make([]byte, n)
	comp, err := rings.NewCompletion(compMem, off, ringSize)
	must(err)
	kcomp, err := rings.NewFill(compMem, off, ringSize)
	must(err)
	const frameSize = 2048
	p := TXQueue{TX: tx, Completion: comp, Area: make([]byte, frames*frameSize), FrameSize: frameSize}
	for i := range frames {
		p.Frames = append(p.Frames, uint64(i*frameSize))
	}
	k := &kernel{
		tx: ktx, comp: kcomp, area: p.Area, frameSize: frameSize,
		inFlight: make([]bool, frames), queue: make([]uint64, frames),
	}
	return p, k
}

func (k *kernel) fail(err error) {
	if k.err == nil {
		k.err = err
	}
}

// service takes what the TX ring holds and completes frames: all but hold
// of them while frames arrive, all of them when none did. It returns the
// descriptors taken and the frames completed.
func (k *kernel) service() (taken, completed int) {
	idx, n := k.tx.Peek(k.tx.Size())
	for i := range n {
		k.take(k.tx.Desc(idx + i))
	}
	k.tx.Release(n)
	keep := k.hold
	if n == 0 {
		keep = 0
	}
	for k.qLen > keep {
		cidx, m := k.comp.Reserve(uint32(k.qLen - keep))
		if m == 0 {
			break
		}
		for j := range m {
			a := k.queue[k.qHead]
			k.qHead = (k.qHead + 1) % len(k.queue)
			k.qLen--
			k.inFlight[a/k.frameSize] = false
			k.comp.Set(cidx+j, a)
		}
		k.comp.Submit(m)
		k.completed += uint64(m)
		completed += int(m)
	}
	return int(n), completed
}

func (k *kernel) take(d rings.Desc) {
	k.taken++
	if d.Addr%k.frameSize != 0 || d.Addr >= uint64(len(k.area)) || d.Options != 0 {
		k.fail(fmt.Errorf("descriptor %d: %+v is not a frame of the area", k.taken, d))
		return
	}
	i := d.Addr / k.frameSize
	if k.inFlight[i] {
		k.fail(fmt.Errorf("descriptor %d: frame %#x submitted again before it was completed", k.taken, d.Addr))
		return
	}
	k.inFlight[i] = true
	if k.qLen == len(k.queue) {
		k.fail(fmt.Errorf("more frames in flight than the area has"))
		return
	}
	k.queue[(k.qHead+k.qLen)%len(k.queue)] = d.Addr
	k.qLen++
	if k.checkEvery == 0 {
		return
	}
	f := k.area[d.Addr : d.Addr+k.frameSize]
	if int(d.Len) < HeaderLen+StampLen || int(d.Len) > len(f) {
		k.fail(fmt.Errorf("descriptor %d: length %d", k.taken, d.Len))
		return
	}
	if k.want.stamp {
		stream, seq, sent, ok := ParseStamp(f[HeaderLen:d.Len])
		if !ok || stream != k.want.stream || seq != k.nextSeq || sent <= 0 {
			k.fail(fmt.Errorf("descriptor %d: stamp %v stream %d seq %d sent %d, want stream %d seq %d",
				k.taken, ok, stream, seq, sent, k.want.stream, k.nextSeq))
		}
		k.nextSeq++
	}
	if k.taken%k.checkEvery == 0 {
		if _, err := checkFrame(&k.want, f, int(d.Len)); err != nil {
			k.fail(fmt.Errorf("descriptor %d: %w", k.taken, err))
		}
	}
}

// run serves until stop is set. When there is nothing to do it yields,
// or sleeps if k.nap is set.
func (k *kernel) run(stop *atomic.Bool) {
	for !stop.Load() {
		if n, m := k.service(); n == 0 && m == 0 {
			if k.nap > 0 {
				time.Sleep(k.nap)
			} else {
				runtime.Gosched()
			}
		}
	}
}

// loop is run stripped for the benchmarks: every descriptor taken off TX
// goes straight back on the completion ring, unchecked.
func (k *kernel) loop(stop *atomic.Bool) {
	for !stop.Load() {
		if k.once() == 0 {
			runtime.Gosched()
		}
	}
}

// once moves what is on the TX ring to the completion ring, unchecked.
func (k *kernel) once() uint32 {
	idx, n := k.tx.Peek(k.tx.Size())
	if n == 0 {
		return 0
	}
	cidx, m := k.comp.Reserve(n)
	for i := range m {
		k.comp.Set(cidx+i, k.tx.Desc(idx+i).Addr)
	}
	k.comp.Submit(m)
	k.tx.Cancel(n - m)
	k.tx.Release(m)
	return m
}

// inFlightNow counts the frames the kernel holds.
func (k *kernel) inFlightNow() int {
	n := 0
	for _, b := range k.inFlight {
		if b {
			n++
		}
	}
	return n
}

func mustSender(t testing.TB, p TXQueue, b *Builder, rate Rate, batch int, limit uint64) *Sender {
	t.Helper()
	s, err := NewSender(p, b, rate, batch, limit)
	if err != nil {
		t.Fatalf("NewSender: %v", err)
	}
	return s
}

func TestSenderLimit(t *testing.T) {
	limit := uint64(1_000_000)
	if testing.Short() {
		limit = 100_000
	}
	for _, tc := range []struct {
		name   string
		spec   func(*Spec)
		stream int
		ring   uint32
		frames int
		batch  int
		hold   int
		limit  uint64
		every  uint64
	}{
		{name: "64 stamped flows", spec: func(s *Spec) {
			s.Stamp = true
			s.SrcPorts, s.DstPorts = Range[uint16]{1024, 1087}, Range[uint16]{9, 12}
		}, stream: 2, ring: 2048, frames: 4096, batch: 64, hold: 100, limit: limit, every: 1},
		{name: "imix stamped, few frames", spec: func(s *Spec) {
			s.Stamp, s.Sizes = true, imix(t, "64:7,594:4,1518:1")
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.100")}
		}, stream: 7, ring: 64, frames: 96, batch: 48, hold: 40, limit: limit / 10, every: 1},
		{name: "batch 1", spec: func(s *Spec) {}, ring: 16, frames: 16, batch: 1, hold: 3, limit: limit / 100, every: 1},
		{name: "odd limit", spec: func(s *Spec) { s.Stamp = true }, ring: 256, frames: 300, batch: 64, limit: 12345, every: 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec()
			tc.spec(&spec)
			b := mustBuilder(t, spec, tc.stream)
			p, k := newPort(t, tc.ring, tc.frames)
			k.hold, k.checkEvery, k.want = tc.hold, tc.every, wantOf(spec, tc.stream)
			s := mustSender(t, p, b, Rate{}, tc.batch, tc.limit)

			var stop, kstop atomic.Bool
			kdone := make(chan struct{})
			go func() {
				defer close(kdone)
				k.run(&kstop)
			}()
			watchdog := time.AfterFunc(60*time.Second, func() { stop.Store(true) })
			err := s.Run(&stop)
			watchdog.Stop()
			kstop.Store(true)
			<-kdone
			if err != nil {
				t.Fatal(err)
			}
			if k.err != nil {
				t.Fatal(k.err)
			}
			st := s.Stats()
			if !s.Done() || s.Outstanding() != 0 {
				t.Errorf("Done %v, %d outstanding, stats %+v", s.Done(), s.Outstanding(), st)
			}
			if k.taken != tc.limit || k.completed != tc.limit || k.inFlightNow() != 0 {
				t.Errorf("kernel took %d, completed %d, holds %d; want %d", k.taken, k.completed, k.inFlightNow(), tc.limit)
			}
			if spec.Stamp && k.nextSeq != tc.limit {
				t.Errorf("stamps up to %d, want %d", k.nextSeq, tc.limit)
			}
			// A static builder writes each frame once, at NewSender.
			built := tc.limit
			if b.Static() {
				built = uint64(len(p.Frames))
			}
			if st.Sent != tc.limit || st.Completed != tc.limit || b.Sent() != built {
				t.Errorf("stats %+v, builder built %d; want %d sent and completed, %d built", st, b.Sent(), tc.limit, built)
			}
			if len(spec.Sizes) == 0 && st.Bytes != 60*tc.limit {
				t.Errorf("%d bytes, want %d", st.Bytes, 60*tc.limit)
			}
			if st.Kicks != 0 {
				t.Errorf("%d kicks without a Kick function", st.Kicks)
			}
			t.Logf("%+v", st)
		})
	}
}

// TestSenderPaced drives Poll with simulated time, the kernel serviced
// between polls: the rate is met to 1%.
func TestSenderPaced(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sizes string
		rate  Rate
		batch int
		step  int64
	}{
		{"1Mpps", "64", Rate{1e6, false}, 64, 10e3},
		{"200kpps polls 1us", "64", Rate{200e3, false}, 64, 1e3},
		{"300pps batch 2", "1518", Rate{300, false}, 2, 100e3},
		{"1Gbps imix", "64:7,594:4,1518:1", Rate{1e9, true}, 64, 5e3},
		{"10Gbps 1518", "1518", Rate{10e9, true}, 32, 20e3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := baseSpec()
			spec.Sizes = imix(t, tc.sizes)
			b := mustBuilder(t, spec, 0)
			p, k := newPort(t, 2048, 4096)
			s := mustSender(t, p, b, tc.rate, tc.batch, 0)
			const dur = int64(1e9)
			start := monotonic() + 1e6
			for now := start; now < start+dur; now += tc.step {
				s.Poll(now)
				k.service()
			}
			if k.err != nil {
				t.Fatal(k.err)
			}
			got := float64(s.stats.Sent)
			if tc.rate.Bits {
				got = float64(s.stats.Bytes+s.stats.Sent*(FCSLen+L1Overhead)) * 8
			}
			want := tc.rate.Value * float64(dur) / 1e9
			if math.Abs(got-want) > want/100 {
				t.Errorf("%.0f in a second, want %.0f ±1%% (%+v)", got, want, s.stats)
			}
		})
	}
}

// TestSenderPacedIMIXSmallBatch paces a bit rate with an IMIX whose large
// frame costs more than a batch of its first (small) frame.
func TestSenderPacedIMIXSmallBatch(t *testing.T) {
	spec := baseSpec()
	spec.Sizes = imix(t, "64:7,1518:1")
	b := mustBuilder(t, spec, 0)
	p, k := newPort(t, 64, 64)
	s := mustSender(t, p, b, Rate{1e9, true}, 4, 0)
	start := monotonic() + 1e6
	for now := start; now < start+10e6; now += 5e3 {
		s.Poll(now)
		k.service()
	}
	// 10 ms at 1 Gbit/s of this IMIX: 1e7 bits / ((7*672+12304)/8) =
	// 4703 frames, plus what accrued before the first poll (at most
	// BurstTime's worth: 2e6 bits, 940 frames).
	if want := uint64(4703); s.stats.Sent < want*99/100 || s.stats.Sent > want+940+8 {
		t.Fatalf("sent %d frames in 10 ms, want %d to %d", s.stats.Sent, want, want+948)
	}
}

// runFor runs s in real time for d with a kernel goroutine and returns
// the frames sent per second.
func runFor(t *testing.T, s *Sender, k *kernel, d time.Duration) float64 {
	t.Helper()
	var stop, kstop atomic.Bool
	kdone := make(chan struct{})
	go func() {
		defer close(kdone)
		k.run(&kstop)
	}()
	done := make(chan error)
	start := time.Now()
	go func() { done <- s.Run(&stop) }()
	time.Sleep(d)
	stop.Store(true)
	elapsed := time.Since(start)
	err := <-done
	kstop.Store(true)
	<-kdone
	if err != nil {
		t.Fatal(err)
	}
	if k.err != nil {
		t.Fatal(k.err)
	}
	st := s.Stats()
	if st.Completed != st.Sent || s.Outstanding() != 0 || k.inFlightNow() != 0 {
		t.Errorf("after Run: %+v, %d outstanding", st, s.Outstanding())
	}
	if s.Done() {
		t.Error("Done without a limit")
	}
	return float64(st.Sent) / elapsed.Seconds()
}

// TestSenderRate runs senders in real time for half a second: at 200k
// frames/s (Run spins) and at 2000 frames/s (Run sleeps between frames;
// with batch 1 too, where a sleep that overshoots must not lower the rate).
// The precise rate tests use simulated time (TestSenderPaced,
// TestBucketRate); this one shows that Run paces, sleeps and stops. The
// bucket makes up for at most BurstTime the sender's thread was
// descheduled (by design), and a virtual machine can lose tens of
// milliseconds: each case has three tries, and a try that falls short
// must have counted the shortfall as time behind (never go faster).
func TestSenderRate(t *testing.T) {
	if testing.Short() {
		t.Skip("real time: half a second per case")
	}
	for _, tc := range []struct {
		rate  float64
		batch int
	}{{200e3, 64}, {2000, 64}, {2000, 1}} {
		var got []float64
		for range 3 {
			spec := baseSpec()
			spec.Stamp = true
			b := mustBuilder(t, spec, 0)
			p, k := newPort(t, 2048, 4096)
			k.checkEvery, k.want = 64, wantOf(spec, 0)
			k.nap = 100 * time.Microsecond // leave the sender a core
			s := mustSender(t, p, b, Rate{tc.rate, false}, tc.batch, 0)
			r := runFor(t, s, k, 500*time.Millisecond)
			got = append(got, r)
			if r > tc.rate*1.05 {
				t.Fatalf("%.0f frames/s, batch %d: %.0f", tc.rate, tc.batch, r)
			}
			if r >= tc.rate*0.95 {
				break
			}
			// Over the sender's own span, first frame to last: a
			// goroutine started late is not behind, it had not begun.
			st := s.Stats()
			if st.Sent == 0 || st.Last <= st.First {
				t.Fatalf("%.0f frames/s, batch %d: the sender barely ran: %+v", tc.rate, tc.batch, st)
			}
			elapsed := float64(st.Last-st.First) / 1e9
			if acc := (float64(st.Sent)/tc.rate + float64(st.Behind)/1e9) / elapsed; acc < 0.95 || acc > 1.05 {
				t.Fatalf("%.0f frames/s, batch %d: %.0f, and %v behind accounts for it only to %.1f%%",
					tc.rate, tc.batch, r, time.Duration(st.Behind), 100*acc)
			}
		}
		t.Logf("%.0f frames/s, batch %d: got %.0f", tc.rate, tc.batch, got)
	}
}

// TestSenderKick: Kick hears of every frame submitted and completed, and
// the kicks it reports are counted.
func TestSenderKick(t *testing.T) {
	spec := baseSpec()
	b := mustBuilder(t, spec, 0)
	p, k := newPort(t, 256, 512)
	var submitted, completed, calls uint64
	p.Kick = func(s, c uint32) bool {
		submitted += uint64(s)
		completed += uint64(c)
		calls++
		return calls%3 == 0
	}
	s := mustSender(t, p, b, Rate{}, 64, 100_000)
	polls := uint64(0)
	for !s.Done() {
		s.Poll(0)
		polls++
		k.service()
		if polls > 1e6 {
			t.Fatal("not done after a million polls")
		}
	}
	if submitted != 100_000 || completed != 100_000 || calls != polls {
		t.Errorf("Kick saw %d submitted, %d completed in %d calls; want 100000, 100000 in %d", submitted, completed, calls, polls)
	}
	if s.stats.Kicks != polls/3 {
		t.Errorf("Kicks = %d, want %d", s.stats.Kicks, polls/3)
	}
}

// TestSenderNoFrame: with every frame in flight the sender counts NoFrame
// rounds and sends nothing until frames come back; a full TX ring counts
// RingFull.
func TestSenderNoFrame(t *testing.T) {
	b := mustBuilder(t, baseSpec(), 0)
	p, k := newPort(t, 64, 32)
	s := mustSender(t, p, b, Rate{}, 16, 0)
	if n := s.Poll(0) + s.Poll(0); n != 32 || s.Outstanding() != 32 {
		t.Fatalf("sent %d, %d outstanding; want all 32 frames", n, s.Outstanding())
	}
	if n := s.Poll(0); n != 0 || s.stats.NoFrame != 1 {
		t.Fatalf("with no frame free: sent %d, NoFrame %d", n, s.stats.NoFrame)
	}
	k.service()
	if n := s.Poll(0); n != 16 || s.stats.Completed != 32 {
		t.Fatalf("after completion: sent %d, stats %+v", n, s.stats)
	}

	b = mustBuilder(t, baseSpec(), 0)
	p, _ = newPort(t, 16, 64)
	s = mustSender(t, p, b, Rate{}, 12, 0)
	s.Poll(0) // 12 on the ring, 4 entries left
	if n := s.Poll(0); n != 4 || s.stats.RingFull != 1 {
		t.Fatalf("into a ring with 4 free entries: sent %d, RingFull %d", n, s.stats.RingFull)
	}
}

// TestSenderStop: Run stopped at once sends nothing more and returns with
// nothing in flight.
func TestSenderStop(t *testing.T) {
	b := mustBuilder(t, baseSpec(), 0)
	p, k := newPort(t, 256, 512)
	k.hold = 200
	s := mustSender(t, p, b, Rate{}, 64, 0)
	for range 10 {
		s.Poll(0)
		k.service()
	}
	var stop, kstop atomic.Bool
	stop.Store(true)
	kdone := make(chan struct{})
	go func() {
		defer close(kdone)
		k.run(&kstop)
	}()
	sent := s.stats.Sent
	if err := s.Run(&stop); err != nil {
		t.Fatal(err)
	}
	kstop.Store(true)
	<-kdone
	if st := s.Stats(); st.Sent != sent || st.Completed != sent || s.Outstanding() != 0 {
		t.Errorf("stopped Run: %+v, %d outstanding; want %d sent and completed", st, s.Outstanding(), sent)
	}
}

func TestNewSenderErrors(t *testing.T) {
	spec := baseSpec()
	spec.Sizes = imix(t, "64,1518")
	b := mustBuilder(t, spec, 0)
	p, _ := newPort(t, 64, 64)
	for _, tc := range []struct {
		name  string
		port  func(TXQueue) TXQueue
		batch int
	}{
		{"batch 0", func(p TXQueue) TXQueue { return p }, 0},
		{"batch negative", func(p TXQueue) TXQueue { return p }, -1},
		{"batch above the ring", func(p TXQueue) TXQueue { return p }, 65},
		{"no frames", func(p TXQueue) TXQueue { p.Frames = nil; return p }, 64},
		{"frames too small", func(p TXQueue) TXQueue { p.FrameSize = 1024; return p }, 64},
	} {
		if _, err := NewSender(tc.port(p), b, Rate{}, tc.batch, 0); err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if errors.Is(err, ErrSpec) || len(err.Error()) < 10 {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := NewSender(p, b, Rate{}, 64, 0); err != nil {
		t.Errorf("batch = ring size: %v", err)
	}
}

// benchSend measures a sender's cost per frame: b.N frames built and
// enqueued in batches of 64 while a goroutine plays the kernel (on the
// other core, given two), consuming and completing them.
func benchSend(b *testing.B, spec Spec) {
	builder := mustBuilder(b, spec, 0)
	p, k := newPort(b, 2048, 4096)
	s := mustSender(b, p, builder, Rate{}, 64, uint64(b.N))
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		k.loop(&stop)
	}()
	n, _ := builder.NextLen()
	b.ReportAllocs()
	b.SetBytes(int64(n))
	b.ResetTimer()
	for i := 0; i < b.N; {
		i += s.Poll(0)
	}
	b.StopTimer()
	stop.Store(true)
	<-done
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/frame")
	b.ReportMetric(1e9/ns, "pkts/s")
}

func BenchmarkSend64(b *testing.B) { benchSend(b, baseSpec()) }

// BenchmarkSendSmallest sends each family's smallest frame in one run
// (-count alternates them): IPv4/UDP's 64 bytes and IPv6/UDP's 66, with
// the FCS; plain, then stamped with ranges of flows (82 bytes over
// IPv6, the stamp's least).
func BenchmarkSendSmallest(b *testing.B) {
	flows := func(s *Spec) {
		s.Stamp = true
		s.SrcPorts, s.DstPorts = Range[uint16]{1024, 2047}, Range[uint16]{9, 24}
	}
	for _, tc := range []struct {
		name string
		spec func() Spec
	}{
		{"ipv4-64", baseSpec},
		{"ipv6-66", baseSpec6},
		{"ipv4-64-stamp-flows", func() Spec { s := baseSpec(); flows(&s); return s }},
		{"ipv6-82-stamp-flows", func() Spec { s := baseSpec6(); flows(&s); return s }},
	} {
		b.Run(tc.name, func(b *testing.B) { benchSend(b, tc.spec()) })
	}
}

// BenchmarkSend64OneCore is BenchmarkSend64 with the kernel's side done
// inline, on the sender's goroutine, after every round: no cache line
// crosses cores, so this is the sender's own cost per frame (plus the
// few nanoseconds of the stripped kernel loop), which is what a core
// spends in zero-copy mode, where the NIC does the kernel's part.
func BenchmarkSend64OneCore(b *testing.B) {
	builder := mustBuilder(b, baseSpec(), 0)
	p, k := newPort(b, 2048, 4096)
	s := mustSender(b, p, builder, Rate{}, 64, uint64(b.N))
	b.ReportAllocs()
	b.SetBytes(60)
	b.ResetTimer()
	for i := 0; i < b.N; {
		i += s.Poll(0)
		k.once()
	}
	b.StopTimer()
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(ns, "ns/frame")
	b.ReportMetric(1e9/ns, "pkts/s")
}

func BenchmarkSend64Stamp(b *testing.B) {
	spec := baseSpec()
	spec.Stamp = true
	benchSend(b, spec)
}

func BenchmarkSendFlows(b *testing.B) {
	spec := baseSpec()
	spec.SrcPorts, spec.DstPorts = Range[uint16]{1024, 2047}, Range[uint16]{9, 24}
	benchSend(b, spec)
}

// BenchmarkBuilderNext is the building alone, without the rings.
func BenchmarkBuilderNext(b *testing.B) {
	for _, tc := range []struct {
		name string
		spec func(*Spec)
	}{
		{"64", func(*Spec) {}},
		{"64Stamp", func(s *Spec) { s.Stamp = true }},
		{"Flows", func(s *Spec) {
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.254")}
			s.SrcPorts, s.DstPorts = Range[uint16]{1024, 2047}, Range[uint16]{9, 24}
		}},
		{"Random", func(s *Spec) { s.SrcPorts, s.Random = Range[uint16]{1024, 2047}, true }},
		{"IPv6-66", six},
		{"IPv6-Flows", func(s *Spec) {
			six(s)
			s.SrcIPs = Range[netip.Addr]{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::fe")}
			s.SrcPorts, s.DstPorts = Range[uint16]{1024, 2047}, Range[uint16]{9, 24}
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			spec := baseSpec()
			tc.spec(&spec)
			builder := mustBuilder(b, spec, 0)
			frames := make([]byte, 64*2048)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				o := (i & 63) * 2048
				builder.Next(frames[o:o+2048:o+2048], int64(i))
			}
		})
	}
}

// TestSenderControl: SetRate and Pause from another goroutine take effect
// at the next round.
func TestSenderControl(t *testing.T) {
	b := mustBuilder(t, baseSpec(), 0)
	p, k := newPort(t, 256, 1024)
	s := mustSender(t, p, b, Rate{}, 32, 0)
	now := int64(1e9)
	if n := s.Poll(now); n != 32 {
		t.Fatalf("unlimited: sent %d, want a batch", n)
	}
	k.service()
	s.Pause(true)
	if n := s.Poll(now); n != 0 || !s.Paused() {
		t.Fatalf("paused: sent %d", n)
	}
	s.Pause(false)
	s.SetRate(Rate{Value: 1000}) // 1 frame per ms
	if n := s.Poll(now); n != 0 {
		t.Fatalf("right after SetRate(1000): sent %d, the bucket starts empty", n)
	}
	if n := s.Poll(now + int64(5e6)); n < 4 || n > 6 {
		t.Fatalf("5 ms at 1000/s: sent %d, want about 5", n)
	}
}
