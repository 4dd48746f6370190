package xsk

import (
	"fmt"
	"math/bits"
	"strings"
	"time"

	"github.com/fastpathnet/fastpath/umem"
)

// Mode selects how the socket's frames move between the NIC and the UMEM.
type Mode uint8

const (
	// ModeAuto lets the kernel try zero-copy and fall back to copy mode.
	// Info reports which one was obtained.
	ModeAuto Mode = iota
	// ModeCopy copies every frame between the driver's buffers and the
	// UMEM (XDP_COPY). Works on every device, including veth.
	ModeCopy
	// ModeZeroCopy has the driver DMA straight into the UMEM
	// (XDP_ZEROCOPY); binding fails with ErrZeroCopyUnsupported where the
	// driver does not support it.
	ModeZeroCopy
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeCopy:
		return "copy"
	case ModeZeroCopy:
		return "zerocopy"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// ParseMode parses "auto", "copy" or "zerocopy" (also "zero-copy", "zc").
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(s) {
	case "auto", "":
		return ModeAuto, nil
	case "copy":
		return ModeCopy, nil
	case "zerocopy", "zero-copy", "zc":
		return ModeZeroCopy, nil
	}
	return 0, fmt.Errorf("xsk: mode %q: %w: use auto, copy or zerocopy", s, ErrOptions)
}

// BusyPoll configures busy polling (Linux 5.11+): the application drives
// the driver's NAPI loop from its own system calls instead of interrupts.
type BusyPoll struct {
	// Enable sets SO_PREFER_BUSY_POLL. Pair it with the device's
	// napi_defer_hard_irqs and gro_flush_timeout (see the README).
	Enable bool
	// Timeout is SO_BUSY_POLL, the time a busy-poll system call may spin.
	// Default 20µs.
	Timeout time.Duration
	// Budget is SO_BUSY_POLL_BUDGET, the packets one busy-poll pass may
	// process. Default 64. Raising it above the current value needs
	// CAP_NET_ADMIN.
	Budget int
}

// Options configure a socket. Start from DefaultOptions: the zero Options
// turns need_wakeup off and has no rings.
type Options struct {
	// RXSize and TXSize are the ring sizes in entries, powers of two.
	// Default 2048 each. 0 leaves that ring out (a TX-only or RX-only
	// socket); at least one is needed.
	RXSize uint32
	TXSize uint32
	// Mode is the copy mode. Default ModeAuto.
	Mode Mode
	// NeedWakeup asks the kernel to flag the rings when it needs a system
	// call to make progress (XDP_USE_NEED_WAKEUP), so that a busy socket
	// makes no system calls. Default true.
	NeedWakeup bool
	// BusyPoll configures busy polling. Default off.
	BusyPoll BusyPoll
	// TXBudget is XDP_MAX_TX_SKB_BUDGET: the most frames one kick sends in
	// copy mode (the kernel's default is 32). 0 keeps the kernel's default;
	// otherwise 32 to TXSize. Kernels without the option ignore it, and
	// Info says so.
	TXBudget uint32
	// UMEM shares an existing UMEM. nil: the socket creates its own from
	// UMEMOptions and closes it with itself. The first socket bound with a
	// UMEM registers it; others must be on another queue or device (two
	// sockets on one queue would share one fill and completion ring, which
	// this package does not support), and inherit the first socket's copy
	// mode and need_wakeup: set the same Mode and NeedWakeup.
	UMEM *umem.UMEM
	// UMEMOptions configure the socket's own UMEM. Default
	// umem.DefaultOptions().
	UMEMOptions umem.Options
	// Frames is the allocator over this socket's frames. nil: a socket
	// with its own UMEM takes all of its frames; a socket sharing a UMEM
	// must be given its part (umem.UMEM.Allocator). Transmit only frames
	// of this allocator: Complete returns completed frames to it, and
	// counts any other (ForeignCompletions) without returning it.
	Frames *umem.Allocator
	// BindTimeout bounds the retries of a bind that fails with EBUSY,
	// which happens while a previous socket on the queue is still being
	// torn down. Default 2s.
	BindTimeout time.Duration
}

// DefaultOptions returns the options documented on each field.
func DefaultOptions() Options {
	return Options{
		RXSize:      2048,
		TXSize:      2048,
		Mode:        ModeAuto,
		NeedWakeup:  true,
		UMEMOptions: umem.DefaultOptions(),
		BindTimeout: 2 * time.Second,
	}
}

func (o *Options) check() error {
	if o.RXSize == 0 && o.TXSize == 0 {
		return fmt.Errorf("xsk: %w: a socket needs an RX or a TX ring (RXSize, TXSize)", ErrOptions)
	}
	for _, r := range []struct {
		name string
		size uint32
	}{{"RX", o.RXSize}, {"TX", o.TXSize}} {
		if r.size != 0 && bits.OnesCount32(r.size) != 1 {
			return fmt.Errorf("xsk: %s ring size %d: %w: use a power of two such as 2048", r.name, r.size, ErrOptions)
		}
	}
	if o.Mode > ModeZeroCopy {
		return fmt.Errorf("xsk: %v: %w", o.Mode, ErrOptions)
	}
	if bp := o.BusyPoll; bp.Timeout < 0 || (bp.Timeout > 0 && bp.Timeout < time.Microsecond) || bp.Budget < 0 || bp.Budget > 65535 {
		return fmt.Errorf("xsk: busy-poll timeout %v and budget %d: %w: the timeout is whole microseconds (0: 20µs), the budget 1 to 65535 (0: 64)", bp.Timeout, bp.Budget, ErrOptions)
	}
	if o.TXBudget != 0 && (o.TXSize == 0 || o.TXBudget < 32 || o.TXBudget > o.TXSize) {
		return fmt.Errorf("xsk: TX budget %d: %w: it needs a TX ring and must be from 32 (the kernel's default) to the TX ring size %d", o.TXBudget, ErrOptions, o.TXSize)
	}
	if o.UMEM != nil && o.Frames == nil {
		return fmt.Errorf("xsk: %w: a socket sharing a UMEM needs Frames, its own part of it (UMEM.Allocator)", ErrOptions)
	}
	return nil
}
