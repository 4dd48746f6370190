// Package xsk implements AF_XDP sockets from the kernel's UAPI: creating
// the socket, sizing and mapping its RX and TX rings, binding it to a
// device's queue with a UMEM (its own or a shared one), kicking TX and
// waking RX only when the kernel needs it, reclaiming completed frames and
// reading statistics.
//
// A Socket belongs to one goroutine, locked to one core, like the rings
// under it: its methods are not safe for concurrent use.
package xsk

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"
	"unsafe"

	"github.com/fastpathnet/fastpath/internal/xdpsys"
	"github.com/fastpathnet/fastpath/rings"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Socket is an AF_XDP socket bound to one queue of one device.
type Socket struct {
	// RX, TX, Fill and Completion are the socket's rings. RX or TX is nil
	// when its size was 0. Fill and Completion are shared with other
	// sockets bound to the same device and queue with the same UMEM.
	RX         *rings.RX
	TX         *rings.TX
	Fill       *rings.Fill
	Completion *rings.Completion
	// Frames allocates this socket's frames of the UMEM.
	Frames *umem.Allocator

	fd         int
	umem       *umem.UMEM
	ownUMEM    bool
	ownRings   *umem.Rings
	registered bool // this socket holds the UMEM's registration
	acquired   bool // counted in the UMEM's users
	rxMem      []byte
	txMem      []byte

	info     Info
	copyMode bool
	counters Counters
	// outstanding counts frames submitted to TX and not yet completed.
	outstanding uint32
	closed      bool
}

// Info describes a bound socket: what was asked for and what was obtained.
type Info struct {
	Device  string
	Ifindex int
	Queue   int
	// Mode is the mode obtained: ModeCopy or ModeZeroCopy, read back from
	// the kernel (XDP_OPTIONS), never assumed.
	Mode       Mode
	NeedWakeup bool
	BusyPoll   bool
	// SharedUMEM is set when the socket was bound with XDP_SHARED_UMEM.
	SharedUMEM bool
	// TXBudget is the XDP_MAX_TX_SKB_BUDGET set, 0 for the kernel's
	// default; TXBudgetSupported is false on kernels without the option.
	TXBudget          uint32
	TXBudgetSupported bool

	RXSize, TXSize           uint32
	FillSize, CompletionSize uint32
	FrameSize, FrameCount    uint32
	HugePages                bool
	MTU                      int
}

// New creates an AF_XDP socket and binds it to queue of device dev in the
// calling thread's network namespace.
func New(dev string, queue int, opts Options) (*Socket, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	// The device lookup, the socket and the bind must happen on one
	// thread: each resolves names in the thread's network namespace.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if opts.UMEM == nil {
		if err := opts.UMEMOptions.Check(); err != nil {
			return nil, fmt.Errorf("xsk: %w", err)
		}
	}
	link, err := netlink.LinkByName(dev)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("xsk: device %q: %w", dev, ErrNoDevice)
		}
		return nil, xdpsys.Errno(fmt.Sprintf("xsk: look up device %q", dev), err)
	}
	attrs := link.Attrs()
	if attrs.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("xsk: %s: %w: bring it up with: ip link set dev %s up", dev, ErrDeviceDown, dev)
	}
	nq := max(attrs.NumRxQueues, attrs.NumTxQueues)
	if queue < 0 || queue >= nq {
		return nil, fmt.Errorf("xsk: %s has %d queue(s), numbered 0 to %d; queue %d: %w (ethtool -l %s shows the channels)",
			dev, nq, nq-1, queue, ErrQueueRange, dev)
	}

	s := &Socket{fd: -1, umem: opts.UMEM, Frames: opts.Frames}
	s.info = Info{
		Device: dev, Ifindex: attrs.Index, Queue: queue, MTU: attrs.MTU,
		NeedWakeup: opts.NeedWakeup, BusyPoll: opts.BusyPoll.Enable,
		RXSize: opts.RXSize, TXSize: opts.TXSize,
	}
	if s.umem == nil {
		if s.umem, err = umem.New(opts.UMEMOptions); err != nil {
			return nil, fmt.Errorf("xsk: %w", err)
		}
		s.ownUMEM = true
	}
	if err := s.setup(opts); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(opts Options) error {
	u := s.umem
	dev := s.info.Device
	if opts.RXSize > 0 {
		if need := uint32(s.info.MTU) + 14 + 4; need > u.RXCapacity() {
			return fmt.Errorf("xsk: MTU %d of %s needs %d bytes per frame for a VLAN-tagged frame, but %d-byte frames hold %d (after the kernel's %d-byte XDP headroom and %d bytes of headroom): %w: lower it with `ip link set dev %s mtu %d`",
				s.info.MTU, dev, need, u.FrameSize(), u.RXCapacity(), umem.XDPHeadroom, u.Headroom(), ErrMTU, dev, u.RXCapacity()-18)
		}
	}
	f := u.FrameSize()
	s.info.FrameSize, s.info.FrameCount, s.info.HugePages = f, u.FrameCount(), u.HugePages()

	// The socket is created here, on the thread that looked the device up,
	// so both are in the same network namespace: a bind resolves the
	// ifindex in the socket's namespace.
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return xdpsys.Errno("xsk: create AF_XDP socket", err)
	}
	s.fd = fd
	shareFD := -1
	switch b, bound := u.Bound(); {
	case !u.Registered():
		// The first socket registers the UMEM and owns its rings.
		r, err := u.Register(fd)
		if err != nil {
			return fmt.Errorf("xsk: %w", err)
		}
		s.registered, s.ownRings = true, r
		s.Fill, s.Completion = r.Fill, r.Completion
	case bound && b.Ifindex == s.info.Ifindex && b.Queue == s.info.Queue:
		return fmt.Errorf("xsk: %s queue %d: %w: another socket of this UMEM is bound there; the two would share one fill and completion ring: use one socket per queue",
			dev, s.info.Queue, ErrOptions)
	default:
		// Another device or queue: a fill and completion ring pair of
		// its own. The kernel gives it the first socket's copy mode and
		// need_wakeup.
		if opts.NeedWakeup != b.NeedWakeup || (opts.Mode == ModeZeroCopy && !b.ZeroCopy) || (opts.Mode == ModeCopy && b.ZeroCopy) {
			return fmt.Errorf("xsk: %s queue %d: %w: a socket sharing a UMEM inherits the first socket's mode (zero-copy %v) and need_wakeup (%v): ask for the same",
				dev, s.info.Queue, ErrOptions, b.ZeroCopy, b.NeedWakeup)
		}
		shareFD, s.info.SharedUMEM = u.FD(), true
		r, err := u.NewRings(fd)
		if err != nil {
			return fmt.Errorf("xsk: %w", err)
		}
		s.ownRings = r
		s.Fill, s.Completion = r.Fill, r.Completion
	}
	s.info.FillSize, s.info.CompletionSize = s.Fill.Size(), s.Completion.Size()

	if err := s.mapRings(opts); err != nil {
		return err
	}
	if err := s.setSockopts(opts); err != nil {
		return err
	}
	if err := s.bind(opts, shareFD); err != nil {
		return err
	}
	u.Acquire()
	s.acquired = true
	var xo struct{ Flags uint32 }
	if _, err := xdpsys.Getsockopt(s.fd, unix.SOL_XDP, unix.XDP_OPTIONS, &xo); err != nil {
		return xdpsys.Errno("xsk: read XDP_OPTIONS", err)
	}
	s.info.Mode = ModeCopy
	if xo.Flags&unix.XDP_OPTIONS_ZEROCOPY != 0 {
		s.info.Mode = ModeZeroCopy
	}
	s.copyMode = s.info.Mode == ModeCopy
	if s.registered {
		u.SetBinding(umem.Binding{Ifindex: s.info.Ifindex, Queue: s.info.Queue,
			ZeroCopy: !s.copyMode, NeedWakeup: opts.NeedWakeup})
	}
	if s.Frames == nil {
		a, err := u.Allocator(0, u.FrameCount())
		if err != nil {
			return fmt.Errorf("xsk: %w", err)
		}
		s.Frames = a
	}
	return nil
}

func (s *Socket) mapRings(opts Options) error {
	if opts.RXSize > 0 {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_RX_RING, int(opts.RXSize)); err != nil {
			return xdpsys.Errno("xsk: size RX ring", err)
		}
	}
	if opts.TXSize > 0 {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_TX_RING, int(opts.TXSize)); err != nil {
			return xdpsys.Errno("xsk: size TX ring", err)
		}
	}
	off, err := xdpsys.MmapOffsets(s.fd)
	if err != nil {
		return fmt.Errorf("xsk: %w", err)
	}
	if opts.RXSize > 0 {
		if s.rxMem, err = xdpsys.MapRing(s.fd, unix.XDP_PGOFF_RX_RING, off.Rx, opts.RXSize, rings.DescSize); err != nil {
			return fmt.Errorf("xsk: map RX ring: %w", err)
		}
		if s.RX, err = rings.NewRX(s.rxMem, xdpsys.Offsets(off.Rx), opts.RXSize); err != nil {
			return fmt.Errorf("xsk: %w", err)
		}
	}
	if opts.TXSize > 0 {
		if s.txMem, err = xdpsys.MapRing(s.fd, unix.XDP_PGOFF_TX_RING, off.Tx, opts.TXSize, rings.DescSize); err != nil {
			return fmt.Errorf("xsk: map TX ring: %w", err)
		}
		if s.TX, err = rings.NewTX(s.txMem, xdpsys.Offsets(off.Tx), opts.TXSize); err != nil {
			return fmt.Errorf("xsk: %w", err)
		}
	}
	return nil
}

func (s *Socket) setSockopts(opts Options) error {
	if opts.TXBudget > 0 {
		err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, int(opts.TXBudget))
		switch {
		case err == nil:
			s.info.TXBudget, s.info.TXBudgetSupported = opts.TXBudget, true
		case errors.Is(err, unix.ENOPROTOOPT):
			// Older kernel: keep its default of 32 frames per kick.
		default:
			return xdpsys.Errno(fmt.Sprintf("xsk: set XDP_MAX_TX_SKB_BUDGET to %d", opts.TXBudget), err)
		}
	}
	if bp := opts.BusyPoll; bp.Enable {
		timeout := bp.Timeout
		if timeout == 0 {
			timeout = 20 * time.Microsecond
		}
		budget := bp.Budget
		if budget == 0 {
			budget = 64
		}
		for _, o := range []struct {
			name string
			opt  int
			val  int
		}{
			{"SO_PREFER_BUSY_POLL", unix.SO_PREFER_BUSY_POLL, 1},
			{"SO_BUSY_POLL", unix.SO_BUSY_POLL, int(timeout / time.Microsecond)},
			{"SO_BUSY_POLL_BUDGET", unix.SO_BUSY_POLL_BUDGET, budget},
		} {
			if err := unix.SetsockoptInt(s.fd, unix.SOL_SOCKET, o.opt, o.val); err != nil {
				if errors.Is(err, unix.ENOPROTOOPT) {
					return fmt.Errorf("xsk: set %s: %w: busy polling needs Linux 5.11 or newer: %w", o.name, err, ErrNotSupported)
				}
				return xdpsys.Errno(fmt.Sprintf("xsk: set %s to %d (raising it needs CAP_NET_ADMIN)", o.name, o.val), err)
			}
		}
	}
	return nil
}

// bind binds the socket, retrying EBUSY with backoff: a socket closed on
// this queue a moment ago may still hold it while the kernel tears it down.
func (s *Socket) bind(opts Options, shareFD int) error {
	var flags uint16
	switch opts.Mode {
	case ModeCopy:
		flags |= unix.XDP_COPY
	case ModeZeroCopy:
		flags |= unix.XDP_ZEROCOPY
	}
	if opts.NeedWakeup {
		flags |= unix.XDP_USE_NEED_WAKEUP
	}
	sa := &unix.SockaddrXDP{Flags: flags, Ifindex: uint32(s.info.Ifindex), QueueID: uint32(s.info.Queue)}
	if shareFD >= 0 {
		// The kernel rejects mode flags together with XDP_SHARED_UMEM: the
		// mode is the UMEM's.
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(shareFD)
	}
	timeout := opts.BindTimeout
	deadline := time.Now().Add(timeout)
	backoff := 5 * time.Millisecond
	dev, q := s.info.Device, s.info.Queue
	for {
		err := unix.Bind(s.fd, sa)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EBUSY):
			if left := time.Until(deadline); left > 0 {
				time.Sleep(min(backoff, left))
				backoff = min(2*backoff, 200*time.Millisecond)
				continue
			}
			return fmt.Errorf("xsk: bind %s queue %d: %w: %w: another AF_XDP socket holds it (or one closed less than %v ago is still being torn down); stop the other user, or share its UMEM",
				dev, q, err, ErrBusy, timeout)
		case opts.Mode == ModeZeroCopy && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP)):
			return fmt.Errorf("xsk: bind %s queue %d: %w: %w", dev, q, err, ErrZeroCopyUnsupported)
		case errors.Is(err, unix.EINVAL) && shareFD >= 0:
			return fmt.Errorf("xsk: bind %s queue %d sharing a UMEM: %w (sharing a UMEM across devices or queues needs Linux 5.10 or newer, and the same mode)", dev, q, err)
		default:
			return xdpsys.Errno(fmt.Sprintf("xsk: bind %s queue %d", dev, q), err)
		}
	}
}

// Err returns the error the kernel raised on the socket since the last
// call (SO_ERROR), or nil. When the device is unregistered the kernel
// unbinds every socket on it and raises ENETDOWN (xsk_notifier), which
// Err reports as ErrDeviceGone: from then on no ring moves, and no other
// call says so (a zero-copy RX ring just stays empty). It is one system
// call: poll it from a timer, not per frame.
func (s *Socket) Err() error {
	v, err := unix.GetsockoptInt(s.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	switch {
	case err != nil:
		return fmt.Errorf("xsk: %s queue %d: SO_ERROR: %w", s.info.Device, s.info.Queue, err)
	case v == 0:
		return nil
	case unix.Errno(v) == unix.ENETDOWN:
		return fmt.Errorf("xsk: %s queue %d: %w: %w", s.info.Device, s.info.Queue, ErrDeviceGone, unix.Errno(v))
	}
	return fmt.Errorf("xsk: %s queue %d: %w", s.info.Device, s.info.Queue, unix.Errno(v))
}

// KickErr returns ErrTXWakeup, with the errno and what to do, when kicks
// failed and no frame has completed: a sender that would otherwise wait
// for completions that never come. Seen in the VM lab on igb: in
// zero-copy mode its wakeup returns EINVAL unless an XDP program is
// attached to the device (Intel's igc, ixgbe, i40e and ice check the
// same). Like Counters, call it from the socket's goroutine.
func (s *Socket) KickErr() error {
	c := s.counters
	if c.KickErrors == 0 || c.Completed > 0 {
		return nil
	}
	hint := ""
	if c.LastKickErrno == unix.EINVAL && s.info.Mode == ModeZeroCopy {
		hint = ": in zero-copy mode some drivers (igb, igc, ixgbe, i40e, ice) transmit only with an XDP program attached to the device: attach one (gen: --xdp-mode native), or use --mode copy"
	}
	return fmt.Errorf("xsk: %s queue %d: %w (%d kicks failed, the last with %v)%s", s.info.Device, s.info.Queue, ErrTXWakeup, c.KickErrors, c.LastKickErrno, hint)
}

// FD is the socket's file descriptor: put it in an XSKMAP to receive.
func (s *Socket) FD() int { return s.fd }

// UMEM is the socket's UMEM.
func (s *Socket) UMEM() *umem.UMEM { return s.umem }

// Info describes the socket as bound.
func (s *Socket) Info() Info { return s.info }

// Close unbinds the socket and releases what it created: its rings, the
// socket and, if it made one, its UMEM. It is safe to call twice. Like the
// datapath methods it belongs to the socket's goroutine: stop the loop
// first; the datapath methods must not be called after it. Of sockets
// sharing a UMEM, close the one that registered it (the first) last.
func (s *Socket) Close() error {
	if s == nil || s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, m := range []*[]byte{&s.rxMem, &s.txMem} {
		if *m != nil {
			errs = append(errs, unix.Munmap(*m))
			*m = nil
		}
	}
	// Every mapping of the socket holds its file open: unmap them all
	// before closing it, or the kernel never releases the queue.
	if s.ownRings != nil {
		errs = append(errs, s.ownRings.Close())
	}
	if s.fd >= 0 {
		errs = append(errs, unix.Close(s.fd))
	}
	s.fd = -1
	if s.registered {
		s.umem.Unregister()
	}
	if s.acquired {
		s.umem.Release()
	}
	if s.ownUMEM {
		errs = append(errs, s.umem.Close())
	}
	s.RX, s.TX, s.Fill, s.Completion = nil, nil, nil, nil
	return errors.Join(errs...)
}

// sockaddr size check: x/sys lays out struct sockaddr_xdp as the kernel does.
var _ = [1]struct{}{}[unsafe.Sizeof(unix.RawSockaddrXDP{})-16]
