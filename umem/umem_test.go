package umem

import (
	"errors"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
	"golang.org/x/sys/unix"
)

func TestNewRegisters(t *testing.T) {
	lab.RequireRoot(t)
	for _, huge := range []bool{false, true} {
		o := DefaultOptions()
		o.FrameCount = 1024
		if huge {
			o.FrameCount = 1000 // not a whole number of 2 MiB pages
		}
		o.HugePages = huge
		u, err := New(o)
		if err != nil {
			t.Fatalf("New(huge=%v): %v", huge, err)
		}
		if huge == false && u.HugePages() {
			t.Error("HugePages reported without being asked for")
		}
		t.Logf("huge pages asked %v, obtained %v", huge, u.HugePages())
		if len(u.Area()) != int(o.FrameCount)*4096 || u.FD() != -1 || u.Registered() {
			t.Fatalf("area %d bytes, fd %d", len(u.Area()), u.FD())
		}
		fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		r, err := u.Register(fd)
		if err != nil {
			t.Fatal(err)
		}
		if u.FD() != fd || u.Rings() != r || !u.Registered() {
			t.Fatal("Register did not record the socket and rings")
		}
		if _, err := u.Register(fd); err == nil {
			t.Fatal("second Register succeeded")
		}
		if r.Fill.Size() != 2048 || r.Completion.Size() != 2048 {
			t.Fatalf("ring sizes %d/%d, want 2048", r.Fill.Size(), r.Completion.Size())
		}
		// The fill ring accepts a full ring of frames; nothing is bound,
		// so nothing consumes them.
		frames, err := u.Allocator(0, o.FrameCount)
		if err != nil {
			t.Fatal(err)
		}
		addrs := make([]uint64, o.FrameCount)
		n := frames.AllocN(addrs)
		if put := r.Fill.Put(addrs[:n]); put != int(o.FrameCount) {
			t.Fatalf("fill ring took %d of %d", put, o.FrameCount)
		}
		if got := len(u.Frame(4096 + 300)); got != 4096-300 {
			t.Fatalf("Frame(4396) has %d bytes, want %d", got, 4096-300)
		}
		if u.RXCapacity() != 4096-256 {
			t.Fatalf("RXCapacity %d", u.RXCapacity())
		}
		// The registration belongs to the socket: it closes its rings and
		// itself and unregisters; then the UMEM can close.
		u.Acquire()
		if err := u.Close(); !errors.Is(err, ErrInUse) {
			t.Fatalf("Close with a socket bound: %v, want ErrInUse", err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		u.Unregister()
		u.Release()
		if u.Registered() || u.FD() != -1 {
			t.Fatal("still registered after Unregister")
		}
		if err := u.Close(); err != nil {
			t.Fatal(err)
		}
		if err := u.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

func TestAllocatorClaims(t *testing.T) {
	lab.RequireRoot(t)
	o := DefaultOptions()
	o.FrameCount = 100
	u, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Allocator(0, 50); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Allocator(40, 20); !errors.Is(err, ErrOptions) {
		t.Fatalf("overlapping claim: err = %v, want ErrOptions", err)
	}
	if _, err := u.Allocator(90, 20); !errors.Is(err, ErrOptions) {
		t.Fatalf("claim past the end: err = %v, want ErrOptions", err)
	}
	a, err := u.Allocator(50, 50)
	if err != nil {
		t.Fatal(err)
	}
	if addr, _ := a.Alloc(); addr != 50*4096 {
		t.Fatalf("second part starts at %#x, want %#x", addr, 50*4096)
	}
}
