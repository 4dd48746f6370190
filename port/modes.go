package port

import (
	"fmt"

	"github.com/fastpathnet/fastpath/xsk"
)

// Names of xsk's types and values a user of ports needs, so that a command
// line or an application configures sockets without importing xsk.
type (
	// Mode is the AF_XDP copy mode: auto, copy or zero-copy.
	Mode = xsk.Mode
	// Stats are a socket's counters and the kernel's XDP_STATISTICS.
	Stats = xsk.Stats
	// DeviceFeatures are what a driver advertises for XDP and AF_XDP.
	DeviceFeatures = xsk.DeviceFeatures
)

// The AF_XDP modes.
const (
	ModeAuto     = xsk.ModeAuto
	ModeCopy     = xsk.ModeCopy
	ModeZeroCopy = xsk.ModeZeroCopy
)

// ParseMode parses "auto", "copy" or "zerocopy".
func ParseMode(s string) (Mode, error) { return xsk.ParseMode(s) }

// Modes are what Open obtained, read back from the kernel.
type Modes struct {
	// AFXDP is the sockets' copy mode (every socket of a port has the
	// same: a zero-copy request that fails fails Open).
	AFXDP Mode
	// XDP is the program's attach mode: "native", "generic", or "none"
	// when no program was attached.
	XDP        string
	Program    Program
	NeedWakeup bool
	BusyPoll   bool
	SharedUMEM bool
	HugePages  bool
	// TXMetadata is whether the sockets have the TX metadata area
	// (checksum offload requests).
	TXMetadata bool
}

// String says the modes as the commands print them.
func (m Modes) String() string {
	return fmt.Sprintf("%v AF_XDP, XDP program %s (%s), need_wakeup %v", m.AFXDP, m.Program, m.XDP, m.NeedWakeup)
}

// Modes reports what Open obtained.
func (p *Port) Modes() Modes {
	m := Modes{XDP: "none", Program: p.opts.Program, SharedUMEM: p.shared != nil, TXMetadata: p.txMetadata}
	if p.prog != nil {
		m.XDP = p.prog.Mode().String()
	}
	if len(p.Queues) > 0 {
		info := p.Queues[0].Sock.Info()
		m.AFXDP, m.NeedWakeup, m.BusyPoll, m.HugePages = info.Mode, info.NeedWakeup, info.BusyPoll, info.HugePages
	}
	return m
}
