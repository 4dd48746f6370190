package xsk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/fastpathnet/fastpath/xsk"
)

func sharedOpts(t *testing.T, u *umem.UMEM, first, count uint32) xsk.Options {
	t.Helper()
	o := xsk.DefaultOptions()
	o.UMEM = u
	var err error
	if o.Frames, err = u.Allocator(first, count); err != nil {
		t.Fatal(err)
	}
	return o
}

func newUMEM(t *testing.T) *umem.UMEM {
	t.Helper()
	u, err := umem.New(umem.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := u.Close(); err != nil {
			t.Errorf("UMEM Close after every socket closed: %v", err)
		}
	})
	return u
}

// TestSharedSameQueueRefused: two sockets of one UMEM on one queue would
// share one fill and completion ring; New refuses, saying so.
func TestSharedSameQueueRefused(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	u := newUMEM(t)
	s0 := newSocket(t, l.A, 0, sharedOpts(t, u, 0, 2048))
	defer s0.Close()
	err := bindErr(t, l.A, l.A.Link, 0, sharedOpts(t, u, 2048, 2048))
	wantErr(t, err, []error{xsk.ErrOptions}, "one socket per queue")
}

// TestSharedInheritsModes: a sharer asking for another need_wakeup than
// the first socket got is refused rather than silently given the first's.
func TestSharedInheritsModes(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	u := newUMEM(t)
	s0 := newSocket(t, l.A, 0, sharedOpts(t, u, 0, 1024))
	defer s0.Close()
	o := sharedOpts(t, u, 1024, 1024)
	o.NeedWakeup = false
	wantErr(t, bindErr(t, l.A, l.A.Link, 1, o), []error{xsk.ErrOptions}, "need_wakeup")
	o.NeedWakeup, o.Mode = true, xsk.ModeZeroCopy
	wantErr(t, bindErr(t, l.A, l.A.Link, 1, o), []error{xsk.ErrOptions}, "zero-copy false")
}

// TestFailedBindUnregisters: a socket that registered a shared UMEM and
// then failed to bind leaves the UMEM unregistered, so the next socket
// registers it afresh instead of sharing a closed descriptor.
func TestFailedBindUnregisters(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	u := newUMEM(t)
	o := sharedOpts(t, u, 0, 4096)
	o.Mode = xsk.ModeZeroCopy // veth refuses
	wantErr(t, bindErr(t, l.A, l.A.Link, 0, o), []error{xsk.ErrZeroCopyUnsupported})
	if u.Registered() {
		t.Fatalf("UMEM still registered on fd %d after the failed bind", u.FD())
	}
	o.Mode = xsk.ModeCopy
	s := newSocket(t, l.A, 0, o)
	if s.Info().SharedUMEM {
		t.Fatal("retry shared the failed socket's registration")
	}
	s.Close()
}

// TestCloseReleasesQueue: closing the socket that registered a caller's
// UMEM releases its queue at once (its ring mappings no longer hold the
// socket open), and the UMEM can be registered again.
func TestCloseReleasesQueue(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	u := newUMEM(t)
	a, err := u.Allocator(0, 4096)
	if err != nil {
		t.Fatal(err)
	}
	o := xsk.DefaultOptions()
	o.UMEM, o.Frames = u, a
	s := newSocket(t, l.A, 0, o)
	if err := u.Close(); !errors.Is(err, umem.ErrInUse) {
		t.Fatalf("UMEM Close with a socket bound: %v, want ErrInUse", err)
	}
	s.Close()
	if u.Registered() {
		t.Fatal("UMEM registered after its socket closed")
	}
	// The kernel frees the queue from a deferred work item once the last
	// reference to the socket is gone, so a loaded machine may answer
	// EBUSY for a moment: New retries for BindTimeout. A socket kept open
	// by a leftover ring mapping would hold the queue for good, and this
	// bind would fail with ErrBusy.
	o.BindTimeout = 2 * time.Second
	start := time.Now()
	s2 := newSocket(t, l.A, 0, o)
	t.Logf("rebound in %v", time.Since(start))
	s2.Close()
}

// TestOrphanedUMEM: once the registering socket closes, a socket that still
// shares the UMEM keeps working, and no new socket can share it.
func TestOrphanedUMEM(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	if err := l.B.AttachPass(); err != nil {
		t.Fatal(err)
	}
	conn := udpListener(t, l.B, testPort)
	u := newUMEM(t)
	s0 := newSocket(t, l.A, 0, sharedOpts(t, u, 0, 1024))
	o1 := sharedOpts(t, u, 1024, 1024)
	o1.RXSize = 0
	s1 := newSocket(t, l.A, 1, o1)
	s0.Close()
	wantErr(t, bindErr(t, l.A, l.A.Link, 0, sharedOpts(t, u, 2048, 1024)), []error{umem.ErrInUse}, "close them")
	const total = 2000
	got := newSeen(total)
	done := make(chan struct{})
	go func() { defer close(done); receiveKernel(conn, got, total, 0) }()
	recv := func() uint64 { return got.count.Load() + got.duplicates.Load() + got.bad.Load() }
	if err := sendFrames(s1, flowAB(l.A, l.B), 0, total, recv, 256); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		conn.Close()
		<-done
	}
	if n := got.count.Load(); n != total {
		t.Fatalf("sharer sent %d of %d after the registering socket closed", n, total)
	}
	s1.Close()
}
