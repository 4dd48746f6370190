package xsk_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/fastpathnet/fastpath/xsk"
	"golang.org/x/sys/unix"
)

// bindErr tries to bind in h's namespace and returns the error, closing a
// socket that unexpectedly binds.
func bindErr(t *testing.T, h *lab.Host, dev string, queue int, opts xsk.Options) error {
	t.Helper()
	return h.Do(func() error {
		s, err := xsk.New(dev, queue, opts)
		if err == nil {
			s.Close()
		}
		return err
	})
}

// wantErr checks that err matches every target and that its message holds
// each hint a user needs to act on it.
func wantErr(t *testing.T, err error, targets []error, hints ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Errorf("error %q does not match %v", err, target)
		}
	}
	for _, h := range hints {
		if !strings.Contains(err.Error(), h) {
			t.Errorf("error %q does not say %q", err, h)
		}
	}
}

func TestErrNoDevice(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	err := bindErr(t, l.A, "nosuch0", 0, xsk.DefaultOptions())
	wantErr(t, err, []error{xsk.ErrNoDevice}, "nosuch0", "ip link show")
}

func TestErrDeviceDown(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	lk, err := l.A.Handle().LinkByName(l.A.Link)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.A.Handle().LinkSetDown(lk); err != nil {
		t.Fatal(err)
	}
	err = bindErr(t, l.A, l.A.Link, 0, xsk.DefaultOptions())
	wantErr(t, err, []error{xsk.ErrDeviceDown}, "ip link set dev veth0 up")
}

func TestErrQueueRange(t *testing.T) {
	l := lab.NewT(t, lab.Options{Queues: 2})
	err := bindErr(t, l.A, l.A.Link, 2, xsk.DefaultOptions())
	wantErr(t, err, []error{xsk.ErrQueueRange}, "veth0 has 2 queue(s)", "0 to 1", "queue 2")
	err = bindErr(t, l.A, l.A.Link, -1, xsk.DefaultOptions())
	wantErr(t, err, []error{xsk.ErrQueueRange})
}

// TestErrZeroCopy: veth has no zero-copy AF_XDP; the kernel refuses an
// explicit zero-copy bind, and auto mode falls back to copy (TestModeAndClose).
func TestErrZeroCopy(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	o := xsk.DefaultOptions()
	o.Mode = xsk.ModeZeroCopy
	err := bindErr(t, l.A, l.A.Link, 0, o)
	wantErr(t, err, []error{xsk.ErrZeroCopyUnsupported, unix.EOPNOTSUPP}, "use mode copy")
	// The failed bind left nothing behind: the queue binds in copy mode.
	o.Mode = xsk.ModeCopy
	if err := bindErr(t, l.A, l.A.Link, 0, o); err != nil {
		t.Fatalf("copy-mode bind after the refused zero-copy bind: %v", err)
	}
}

// TestErrBusy: a second socket with its own UMEM on a bound queue gets
// EBUSY; New retries for BindTimeout before reporting it.
func TestErrBusy(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	first := newSocket(t, l.A, 0, xsk.DefaultOptions())
	o := xsk.DefaultOptions()
	o.BindTimeout = 150 * time.Millisecond
	start := time.Now()
	err := bindErr(t, l.A, l.A.Link, 0, o)
	wantErr(t, err, []error{xsk.ErrBusy, unix.EBUSY}, "veth0 queue 0", "another AF_XDP socket")
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Errorf("gave up after %v; want retries for about %v", el, o.BindTimeout)
	}
	// Once the holder closes, the queue is free again (retried if the
	// teardown is still running).
	first.Close()
	if err := bindErr(t, l.A, l.A.Link, 0, xsk.DefaultOptions()); err != nil {
		t.Fatalf("bind after the holder closed: %v", err)
	}
}

// TestErrMTU: an MTU whose frames do not fit 2048-byte frames is refused
// for a socket that receives, with the MTU that would fit; 4096-byte frames
// take it, and a TX-only socket does not care.
func TestErrMTU(t *testing.T) {
	l := lab.NewT(t, lab.Options{MTU: 3000})
	o := xsk.DefaultOptions()
	o.UMEMOptions.FrameSize = 2048
	err := bindErr(t, l.A, l.A.Link, 0, o)
	wantErr(t, err, []error{xsk.ErrMTU}, "MTU 3000", "ip link set dev veth0 mtu 1774")
	o.RXSize = 0
	if err := bindErr(t, l.A, l.A.Link, 0, o); err != nil {
		t.Fatalf("TX-only socket: %v", err)
	}
	if err := bindErr(t, l.A, l.A.Link, 0, xsk.DefaultOptions()); err != nil {
		t.Fatalf("4096-byte frames: %v", err)
	}
}

// TestErrPermission drops CAP_NET_RAW from the thread's effective set (root
// keeps it in the permitted set and restores it) and checks the error names
// the capabilities.
func TestErrPermission(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	err := l.A.Do(func() error {
		// Capabilities are per thread: if restoring them fails, the
		// locked thread is discarded instead of going back to the pool.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		saved := data
		data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		s, err := xsk.New(l.A.Link, 0, xsk.DefaultOptions())
		if err == nil {
			s.Close()
		}
		// Restore before Do hands the thread back.
		if rerr := unix.Capset(&hdr, &saved[0]); rerr != nil {
			return fmt.Errorf("cannot restore capabilities (thread discarded): %w", rerr)
		}
		runtime.UnlockOSThread()
		return err
	})
	wantErr(t, err, []error{xsk.ErrPermission, unix.EPERM}, "cap_net_raw", "run as root")
}

func TestErrOptions(t *testing.T) {
	if _, err := xsk.ParseMode("fast"); !errors.Is(err, xsk.ErrOptions) {
		t.Errorf("ParseMode(fast) = %v", err)
	}
	for _, m := range []string{"auto", "copy", "zerocopy", "zc"} {
		if _, err := xsk.ParseMode(m); err != nil {
			t.Errorf("ParseMode(%s): %v", m, err)
		}
	}
	u, err := umem.New(umem.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	for name, mod := range map[string]func(*xsk.Options){
		"no rings":          func(o *xsk.Options) { o.RXSize, o.TXSize = 0, 0 },
		"RX not power of 2": func(o *xsk.Options) { o.RXSize = 1000 },
		"bad frame size":    func(o *xsk.Options) { o.UMEMOptions.FrameSize = 1500 },
		"shared, no Frames": func(o *xsk.Options) { o.UMEM = u },
		"negative budget":   func(o *xsk.Options) { o.BusyPoll.Budget = -1 },
		"budget > 65535":    func(o *xsk.Options) { o.BusyPoll.Budget = 70000 },
		"timeout < 1µs":     func(o *xsk.Options) { o.BusyPoll.Timeout = 500 },
		"TX budget < 32":    func(o *xsk.Options) { o.TXBudget = 16 },
		"TX budget > ring":  func(o *xsk.Options) { o.TXBudget = 4096 },
		"TX budget, no TX":  func(o *xsk.Options) { o.TXBudget, o.TXSize = 64, 0 },
	} {
		o := xsk.DefaultOptions()
		mod(&o)
		// Options are checked before anything touches the system.
		if _, err := xsk.New("unused0", 0, o); !errors.Is(err, xsk.ErrOptions) {
			t.Errorf("%s: err = %v, want ErrOptions", name, err)
		}
	}
}
