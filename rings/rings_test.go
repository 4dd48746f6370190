package rings

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"
)

// pair backs one ring with ordinary memory and returns its two views: a
// producer of T and a consumer, sharing the indices.
func addrPair(t testing.TB, size uint32) (*Fill, *Completion, []byte) {
	t.Helper()
	off, n := Layout(size, AddrSize)
	mem := make([]byte, n)
	p, err := NewFill(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCompletion(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	return p, c, mem
}

func descPair(t testing.TB, size uint32) (*TX, *RX, []byte) {
	t.Helper()
	off, n := Layout(size, DescSize)
	mem := make([]byte, n)
	p, err := NewTX(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewRX(mem, off, size)
	if err != nil {
		t.Fatal(err)
	}
	return p, c, mem
}

func TestDescLayout(t *testing.T) {
	// struct xdp_desc { __u64 addr; __u32 len; __u32 options; }
	if DescSize != 16 || unsafe.Offsetof(Desc{}.Len) != 8 || unsafe.Offsetof(Desc{}.Options) != 12 {
		t.Fatalf("Desc does not match struct xdp_desc: size %d", DescSize)
	}
}

func TestNewRejectsBadLayouts(t *testing.T) {
	off, n := Layout(8, DescSize)
	for _, tc := range []struct {
		name string
		mem  []byte
		off  Offsets
		size uint32
	}{
		{"size zero", make([]byte, n), off, 0},
		{"size not power of two", make([]byte, n), off, 6},
		{"entries past end", make([]byte, n-1), off, 8},
		{"producer past end", make([]byte, n), Offsets{Producer: uint64(n), Consumer: 64, Flags: 128, Desc: 192}, 8},
		{"misaligned consumer", make([]byte, n), Offsets{Producer: 0, Consumer: 65, Flags: 128, Desc: 192}, 8},
		{"misaligned entries", make([]byte, n+8), Offsets{Producer: 0, Consumer: 64, Flags: 128, Desc: 196}, 8},
		{"misaligned memory", make([]byte, n+1)[1:], off, 8},
	} {
		if _, err := NewTX(tc.mem, tc.off, tc.size); !errors.Is(err, ErrLayout) {
			t.Errorf("%s: NewTX err = %v, want ErrLayout", tc.name, err)
		}
		if _, err := NewRX(tc.mem, tc.off, tc.size); !errors.Is(err, ErrLayout) {
			t.Errorf("%s: NewRX err = %v, want ErrLayout", tc.name, err)
		}
	}
}

func TestReserveStopsWhenFull(t *testing.T) {
	p, c, _ := addrPair(t, 8)
	idx, n := p.Reserve(5)
	if idx != 0 || n != 5 {
		t.Fatalf("Reserve(5) = %d, %d; want 0, 5", idx, n)
	}
	for i := uint32(0); i < n; i++ {
		p.Set(idx+i, uint64(100+i))
	}
	p.Submit(n)
	if _, n := p.Reserve(5); n != 3 {
		t.Fatalf("second Reserve(5) got %d, want the 3 free", n)
	}
	p.Unreserve(3)
	if got := p.Free(0); got != 3 {
		t.Fatalf("Free after Unreserve = %d, want 3", got)
	}
	// Nothing is visible to the consumer beyond what was submitted.
	if got := c.Available(8); got != 5 {
		t.Fatalf("Available = %d, want 5", got)
	}
	idx, n = c.Peek(2)
	if n != 2 || c.Addr(idx) != 100 || c.Addr(idx+1) != 101 {
		t.Fatalf("Peek(2) = %d entries, %d %d", n, c.Addr(idx), c.Addr(idx+1))
	}
	c.Cancel(1)
	idx, n = c.Peek(8)
	if n != 4 || c.Addr(idx) != 101 {
		t.Fatalf("Peek after Cancel got %d entries starting %d, want 4 starting 101", n, c.Addr(idx))
	}
	c.Release(5)
	// The producer sees the slots only after it looks at the consumer index.
	if _, n := p.Reserve(8); n != 8 {
		t.Fatalf("Reserve(8) after Release got %d, want 8", n)
	}
}

func TestIndicesWrapAround(t *testing.T) {
	off, size := Offsets{}, uint32(16)
	off, n := Layout(size, DescSize)
	mem := make([]byte, n)
	start := uint32(0xffff_fff0)
	*(*uint32)(unsafe.Pointer(&mem[off.Producer])) = start
	*(*uint32)(unsafe.Pointer(&mem[off.Consumer])) = start
	p, _ := NewTX(mem, off, size)
	c, _ := NewRX(mem, off, size)
	var next, want uint64
	for round := 0; round < 10; round++ {
		idx, n := p.Reserve(11)
		for i := uint32(0); i < n; i++ {
			p.Set(idx+i, Desc{Addr: next, Len: uint32(next)})
			next++
		}
		p.Submit(n)
		idx, n = c.Peek(16)
		for i := uint32(0); i < n; i++ {
			if d := c.Desc(idx + i); d.Addr != want || d.Len != uint32(want) {
				t.Fatalf("round %d: got %+v, want addr %d", round, d, want)
			}
			want++
		}
		c.Release(n)
	}
	if want != 110 {
		t.Fatalf("consumed %d entries, want 110", want)
	}
}

func TestNeedWakeup(t *testing.T) {
	p, c, _ := addrPair(t, 4)
	if p.NeedWakeup() {
		t.Fatal("NeedWakeup set on a fresh ring")
	}
	c.SetFlags(NeedWakeup)
	if !p.NeedWakeup() {
		t.Fatal("NeedWakeup not seen after the kernel side set it")
	}
}

func TestViewContinuesRingInUse(t *testing.T) {
	p, _, mem := addrPair(t, 8)
	p.Put([]uint64{1, 2, 3})
	off, _ := Layout(8, AddrSize)
	c, err := NewCompletion(mem, off, 8)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]uint64, 8)
	if n := c.Get(dst); n != 3 || dst[0] != 1 || dst[2] != 3 {
		t.Fatalf("Get = %d %v", n, dst[:n])
	}
	p2, err := NewFill(mem, off, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := p2.Free(8); got != 8 {
		t.Fatalf("new producer view sees %d free, want 8", got)
	}
}

// TestKernelLoop runs the full AF_XDP cycle with a goroutine playing the
// kernel: user space fills frames, the "kernel" receives into them (RX),
// user space transmits them (TX), the "kernel" completes them (completion),
// and user space fills them again. Every ring carries a sequence number; each
// side checks that it sees every number exactly once, in order.
func TestKernelLoop(t *testing.T) {
	total := uint64(2_000_000)
	if testing.Short() {
		total = 100_000
	}
	const size = 256
	fill, kFill, _ := addrPair(t, size)
	kComp, comp, _ := addrPair(t, size)
	kRX, rx, _ := descPair(t, size)
	tx, kTX, _ := descPair(t, size)

	var failed atomic.Pointer[string]
	fail := func(s string) { failed.CompareAndSwap(nil, &s) }
	done := make(chan struct{})
	go func() { // the kernel
		defer close(done)
		var rxSeq, compSeq uint64
		batch := make([]Desc, 64)
		for compSeq < total && failed.Load() == nil {
			progress := false
			// Fill -> RX: receive into offered frames.
			if idx, n := kFill.Peek(64); n > 0 {
				for i := uint32(0); i < n; i++ {
					a := kFill.Addr(idx + i)
					if a != rxSeq {
						fail("kernel: fill ring out of order")
						return
					}
					batch[i] = Desc{Addr: a, Len: uint32(a) * 3, Options: uint32(a >> 32)}
					rxSeq++
				}
				put := 0
				for put < int(n) && failed.Load() == nil {
					put += kRX.Put(batch[put:n])
					runtime.Gosched()
				}
				kFill.Release(n)
				progress = true
			}
			// TX -> completion.
			if idx, n := kTX.Peek(64); n > 0 {
				widx, w := kComp.Reserve(n)
				if w < n {
					kTX.Cancel(n - w)
				}
				for i := uint32(0); i < w; i++ {
					d := kTX.Desc(idx + i)
					if d.Addr != compSeq || d.Len != uint32(compSeq)*5 {
						fail("kernel: TX ring out of order or corrupt")
						return
					}
					kComp.Set(widx+i, d.Addr)
					compSeq++
				}
				kComp.Submit(w)
				kTX.Release(w)
				progress = w > 0 || progress
			}
			if !progress {
				runtime.Gosched()
			}
		}
	}()

	var next, rxWant, compWant uint64
	descs := make([]Desc, 64)
	addrs := make([]uint64, 64)
	for compWant < total && failed.Load() == nil {
		// Fill with new sequence numbers while the ring has room.
		if next < total {
			idx, n := fill.Reserve(uint32(min(64, total-next)))
			for i := uint32(0); i < n; i++ {
				fill.Set(idx+i, next)
				next++
			}
			fill.Submit(n)
		}
		// RX -> TX.
		n := rx.Get(descs)
		for i := 0; i < n; i++ {
			d := descs[i]
			if d.Addr != rxWant || d.Len != uint32(rxWant)*3 || d.Options != uint32(rxWant>>32) {
				t.Fatalf("RX entry %d: got %+v", rxWant, d)
			}
			rxWant++
			descs[i].Len = uint32(d.Addr) * 5
		}
		for put := 0; put < n; {
			put += tx.Put(descs[put:n])
			if failed.Load() != nil {
				break
			}
		}
		// Completion: every transmitted frame comes back once, in order.
		m := comp.Get(addrs)
		for i := 0; i < m; i++ {
			if addrs[i] != compWant {
				t.Fatalf("completion %d: got %d", compWant, addrs[i])
			}
			compWant++
		}
		if n == 0 && m == 0 {
			runtime.Gosched()
		}
	}
	<-done
	if p := failed.Load(); p != nil {
		t.Fatal(*p)
	}
	if rxWant != total || compWant != total {
		t.Fatalf("received %d and completed %d of %d", rxWant, compWant, total)
	}
}
