package umem

import (
	"math/rand/v2"
	"testing"
)

// TestAllocatorModel runs random Alloc, AllocN, Free and FreeN against a
// model (a set of frames held by the user): a frame is never handed out
// while held, and no frame is ever lost.
func TestAllocatorModel(t *testing.T) {
	const count, size = 300, 2048
	base := uint64(64 * size)
	a := NewAllocator(base, count, size)
	held := map[uint64]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]uint64, 64)
	take := func(addr uint64) {
		if addr%size != 0 || addr < base || addr >= base+count*size {
			t.Fatalf("allocated %#x, outside the allocator's frames", addr)
		}
		if held[addr] {
			t.Fatalf("frame %#x handed out twice", addr)
		}
		held[addr] = true
	}
	heldList := func() []uint64 {
		l := make([]uint64, 0, len(held))
		for k := range held {
			l = append(l, k)
		}
		return l
	}
	for step := 0; step < 200_000; step++ {
		switch rng.IntN(4) {
		case 0:
			if addr, ok := a.Alloc(); ok {
				take(addr)
			} else if len(held) != count {
				t.Fatalf("Alloc failed with %d of %d held", len(held), count)
			}
		case 1:
			n := a.AllocN(buf[:rng.IntN(len(buf))])
			for _, addr := range buf[:n] {
				take(addr)
			}
		case 2:
			if len(held) > 0 {
				l := heldList()
				addr := l[rng.IntN(len(l))]
				delete(held, addr)
				// Free with an offset inside the frame, as RX descriptors have.
				a.Free(addr + uint64(rng.IntN(size)))
			}
		case 3:
			l := heldList()
			l = l[:rng.IntN(len(l)+1)]
			for _, addr := range l {
				delete(held, addr)
			}
			a.FreeN(l)
		}
		if a.Len()+len(held) != count {
			t.Fatalf("step %d: %d free + %d held != %d frames: a frame was lost", step, a.Len(), len(held), count)
		}
	}
	if a.DoubleFrees != 0 || a.Foreign != 0 {
		t.Fatalf("counted %d double frees and %d foreign frees in a correct sequence", a.DoubleFrees, a.Foreign)
	}
}

func TestAllocatorRejectsBadFrees(t *testing.T) {
	a := NewAllocator(4096, 4, 4096)
	addr, _ := a.Alloc()
	if addr != 4096 {
		t.Fatalf("first frame = %#x, want 0x1000 (ascending order)", addr)
	}
	a.Free(addr)
	a.Free(addr + 100) // the same frame again
	if a.DoubleFrees != 1 || a.Len() != 4 {
		t.Fatalf("double free: DoubleFrees=%d Len=%d, want 1 and 4", a.DoubleFrees, a.Len())
	}
	a.Free(0)        // below the range
	a.Free(5 * 4096) // past the range
	a.Free(1 << 40)  // far away
	if a.Foreign != 3 || a.Len() != 4 {
		t.Fatalf("foreign frees: Foreign=%d Len=%d, want 3 and 4", a.Foreign, a.Len())
	}
	if a.Owns(0) || !a.Owns(4096+17) || a.Owns(5*4096) {
		t.Fatal("Owns is wrong at the range's edges")
	}
	dst := make([]uint64, 10)
	if n := a.AllocN(dst); n != 4 {
		t.Fatalf("AllocN took %d, want all 4", n)
	}
	if _, ok := a.Alloc(); ok {
		t.Fatal("Alloc succeeded with no free frame")
	}
}

func TestOptionsCheck(t *testing.T) {
	for _, mod := range []func(*Options){
		func(o *Options) { o.FrameSize = 3000 },
		func(o *Options) { o.FrameSize = 8192 },
		func(o *Options) { o.FrameCount = 0 },
		func(o *Options) { o.Headroom = 4096 },
		func(o *Options) { o.FillSize = 1000 },
		func(o *Options) { o.CompletionSize = 0 },
		func(o *Options) { o.TXMetadataLen = 20 },
		func(o *Options) { o.TXMetadataLen = 256 },
		func(o *Options) { o.TXSoftwareChecksum = true },
	} {
		o := DefaultOptions()
		mod(&o)
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}
