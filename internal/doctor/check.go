// Package doctor checks a device, the kernel and the host for what AF_XDP
// and fastpath need, and says what to fix. Gather reads the facts from the
// live system into an Input; Check turns an Input into findings, with no
// system access, so that recorded facts of real NICs test it.
package doctor

import (
	"fmt"
	"strings"

	"github.com/fastpathnet/fastpath/internal/kernel"
)

// Status of a finding.
const (
	OK   = "ok"
	Info = "info"
	Warn = "warn"
	Fail = "fail"
)

// Finding is one check's result.
type Finding struct {
	Check   string `json:"check"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"` // the command that fixes it
}

// XDP feature bits of the netdev netlink family (NETDEV_XDP_ACT_*).
const (
	XDPBasic       = 1 << 0
	XDPRedirect    = 1 << 1
	XDPNdoXmit     = 1 << 2
	XDPXSKZeroCopy = 1 << 3
	XDPHWOffload   = 1 << 4
	XDPRxSG        = 1 << 5
	XDPNdoXmitSG   = 1 << 6
)

// xskTXChecksum is NETDEV_XSK_FLAGS_TX_CHECKSUM (xsk.XSKTXChecksum; the
// checks stay free of the socket package).
const xskTXChecksum = 1 << 1

// Input is what Gather read. Zero values mean "not known".
type Input struct {
	Kernel      string `json:"kernel"` // uname release, such as 6.18.44
	Device      string `json:"device"`
	Exists      bool   `json:"exists"`
	Up          bool   `json:"up"`
	Driver      string `json:"driver"`
	MTU         int    `json:"mtu"`
	RXQueues    int    `json:"rx_queues"`     // current
	MaxCombined int    `json:"max_combined"`  // ethtool -l maximum; 0: unknown
	Combined    int    `json:"combined"`      // ethtool -l current
	FrameSize   int    `json:"frame_size"`    // UMEM frame size fastpath would use
	HasFeatures bool   `json:"has_features"`  // the netdev family answered
	XDPFeatures uint64 `json:"xdp_features"`  // NETDEV_XDP_ACT_* bits
	ZCMaxSegs   uint32 `json:"zc_max_segs"`   // xdp-zc-max-segs
	XSKFeatures uint64 `json:"xsk_features"`  // NETDEV_XSK_FLAGS_* bits: TX metadata in zero-copy
	XDPProgID   uint32 `json:"xdp_prog_id"`   // attached program; 0: none
	XDPProgName string `json:"xdp_prog_name"` // its name, when known
	XDPMode     string `json:"xdp_mode"`      // native, generic, offload
	// VethPeerXDP: for veth, whether the peer has an XDP program; nil:
	// unknown (the peer is in another namespace).
	VethPeerXDP *bool `json:"veth_peer_xdp,omitempty"`
	// VethPeer: for veth, where its peer is ("veth1", "veth0 in network
	// namespace ns1", or what is known of it); VethPeerTXChecksum whether
	// the peer's TX checksum offload is on (nil: unknown, the peer not
	// found); VethPeerTXOff the command that turns it off.
	VethPeer           string `json:"veth_peer,omitempty"`
	VethPeerTXChecksum *bool  `json:"veth_peer_tx_checksum,omitempty"`
	VethPeerTXOff      string `json:"veth_peer_tx_off,omitempty"`
	// VirtioAccessPlatform: for virtio-net, whether the device offers
	// VIRTIO_F_ACCESS_PLATFORM (its buffers go through the DMA API), which
	// zero-copy AF_XDP needs although the driver advertises xsk-zerocopy
	// either way; nil: not virtio, or unknown.
	VirtioAccessPlatform *bool `json:"virtio_access_platform,omitempty"`
	HugePagesFree        int   `json:"hugepages_free"`
	HugePageKB           int   `json:"hugepage_kb"`
	NAPIDeferIRQs        int   `json:"napi_defer_hard_irqs"` // -1: unknown
	GROFlushTimeout      int   `json:"gro_flush_timeout"`    // ns; -1: unknown
	BusyPoll             int   `json:"busy_poll"`            // net.core.busy_poll, µs
	BusyRead             int   `json:"busy_read"`            // net.core.busy_read, µs
	Threaded             int   `json:"threaded"`             // -1: unknown
	IRQs                 []IRQ `json:"irqs"`
	NTuple               *bool `json:"ntuple,omitempty"` // nil: not supported
	// RSSQueues are the queues the RSS indirection table spreads flows
	// over (ethtool -x), sorted; nil: not readable (veth has no RSS).
	RSSQueues []int `json:"rss_queues,omitempty"`
	// RSSToeplitz: the device hashes TCP/IPv4 with plain Toeplitz over
	// the 4-tuple and its key is readable, so the engines can pick ports
	// whose replies come to their own queues.
	RSSToeplitz bool `json:"rss_toeplitz"`
	// Queues are the queues the user means to bind (doctor --queues);
	// nil: not said.
	Queues       []int    `json:"queues,omitempty"`
	MemlockBytes uint64   `json:"memlock_bytes"` // RLIMIT_MEMLOCK; ^0: unlimited
	Root         bool     `json:"root"`          // effective uid 0 (CAP_IPC_LOCK and the rest)
	CPUs         int      `json:"cpus"`
	Errors       []string `json:"errors,omitempty"` // what could not be read
}

// IRQ is one of the device's interrupts and the CPUs it may run on.
type IRQ struct {
	Number   int    `json:"number"`
	Name     string `json:"name"`
	Affinity string `json:"affinity"` // smp_affinity_list
}

// Check turns facts into findings, in a fixed order.
func Check(in Input) []Finding {
	var f []Finding
	add := func(check, status, msg, fix string) {
		f = append(f, Finding{Check: check, Status: status, Message: msg, Fix: fix})
	}

	// The kernel.
	v, ok := kernel.Parse(in.Kernel)
	switch {
	case !ok:
		add("kernel", Warn, fmt.Sprintf("cannot read the kernel version %q", in.Kernel), "")
	case !v.AtLeast(4, 18):
		add("kernel", Fail, fmt.Sprintf("kernel %s has no AF_XDP (4.18+)", in.Kernel), "upgrade to 5.10 or newer")
	default:
		var have, lack []string
		for _, feat := range []struct {
			name         string
			major, minor int
		}{
			{"need_wakeup", 5, 4}, {"shared UMEM across queues", 5, 10}, {"busy polling (SO_PREFER_BUSY_POLL)", 5, 11},
			{"netdev XDP features", 6, 3}, {"multi-buffer AF_XDP", 6, 6}, {"TX metadata (checksum offload)", 6, 8},
			{"XDP_MAX_TX_SKB_BUDGET", 6, 16},
		} {
			if v.AtLeast(feat.major, feat.minor) {
				have = append(have, feat.name)
			} else {
				lack = append(lack, fmt.Sprintf("%s (%d.%d)", feat.name, feat.major, feat.minor))
			}
		}
		status, fix := OK, ""
		msg := fmt.Sprintf("kernel %s: AF_XDP with %s", in.Kernel, strings.Join(have, ", "))
		if len(lack) > 0 {
			msg += "; lacks " + strings.Join(lack, ", ")
			if !v.AtLeast(5, 10) {
				status, fix = Warn, "upgrade to 5.10 or newer (fastpath's minimum for every feature it uses)"
			}
		}
		add("kernel", status, msg, fix)
	}

	// The device.
	if !in.Exists {
		add("device", Fail, fmt.Sprintf("no device %q in this network namespace", in.Device), "ip link show  (or give --netns)")
		return f
	}
	if !in.Up {
		add("device", Fail, fmt.Sprintf("%s is down", in.Device), "ip link set dev "+in.Device+" up")
	} else {
		add("device", OK, fmt.Sprintf("%s is up, driver %s", in.Device, or(in.Driver, "unknown")), "")
	}

	// Queues.
	switch {
	case in.MaxCombined > 0 && in.Combined < in.MaxCombined:
		add("queues", Info, fmt.Sprintf("%d of %d combined channels in use; run one engine per queue (--queues all)", in.Combined, in.MaxCombined),
			fmt.Sprintf("ethtool -L %s combined %d  (more queues, more engines)", in.Device, in.MaxCombined))
	case in.RXQueues > 0:
		add("queues", OK, fmt.Sprintf("%d receive queue(s); bind every queue that traffic can reach (--queues all), or steer flows with ethtool -N", in.RXQueues), "")
	}

	// MTU against the frame. XDP without multi-buffer needs the packet,
	// the 256-byte headroom and the skb_shared_info (320) in one page.
	if in.MTU > 0 {
		frame := in.FrameSize
		if frame == 0 {
			frame = 4096
		}
		need := in.MTU + 14 + 4 + 256
		switch {
		case need+320 > 4096 && in.XDPFeatures&XDPRxSG == 0 && in.HasFeatures:
			add("mtu", Fail, fmt.Sprintf("MTU %d is too large for XDP on %s without multi-buffer (rx-sg): frame, headroom and skb_shared_info must fit a 4 KiB page", in.MTU, in.Device),
				fmt.Sprintf("ip link set dev %s mtu 3498", in.Device))
		case need > frame:
			add("mtu", Fail, fmt.Sprintf("MTU %d needs %d bytes per UMEM frame, more than the %d-byte frames", in.MTU, need, frame),
				fmt.Sprintf("ip link set dev %s mtu %d", in.Device, frame-14-4-256))
		default:
			add("mtu", OK, fmt.Sprintf("MTU %d fits a %d-byte frame with the kernel's headroom", in.MTU, frame), "")
		}
	}

	// XDP features.
	if !in.HasFeatures {
		add("xdp-features", Info, "the kernel's netdev netlink family did not answer (kernels before 6.3): the driver's XDP support is unknown until attach", "")
	} else {
		var names []string
		for _, b := range []struct {
			bit  uint64
			name string
		}{{XDPBasic, "basic"}, {XDPRedirect, "redirect"}, {XDPNdoXmit, "ndo-xmit"}, {XDPXSKZeroCopy, "xsk-zerocopy"}, {XDPHWOffload, "hw-offload"}, {XDPRxSG, "rx-sg"}, {XDPNdoXmitSG, "ndo-xmit-sg"}} {
			if in.XDPFeatures&b.bit != 0 {
				names = append(names, b.name)
			}
		}
		switch {
		case in.XDPFeatures&XDPRedirect == 0:
			add("xdp-features", Warn, fmt.Sprintf("%s has no native XDP redirect (features: %s): fastpath falls back to generic mode, copy only, an skb per frame", in.Device, or(strings.Join(names, ", "), "none")),
				"use a driver with native XDP, or accept --xdp-mode generic")
		default:
			add("xdp-features", OK, fmt.Sprintf("native XDP: %s", strings.Join(names, ", ")), "")
		}
		if in.XDPFeatures&XDPXSKZeroCopy != 0 && in.VirtioAccessPlatform != nil && !*in.VirtioAccessPlatform {
			// Seen in the VM lab: virtio-net advertises zero-copy, and the
			// bind fails with EINVAL (the virtqueues have no DMA device).
			add("zerocopy", Warn, fmt.Sprintf("%s (virtio-net) advertises zero-copy AF_XDP, but the device lacks VIRTIO_F_ACCESS_PLATFORM: a zero-copy bind fails with EINVAL (--mode auto gives copy)", in.Device),
				"give the device the platform feature (QEMU: -device virtio-net-pci,iommu_platform=on,disable-legacy=on), or use --mode copy")
		} else if in.XDPFeatures&XDPXSKZeroCopy != 0 {
			msg := "zero-copy AF_XDP is supported (--mode zerocopy)"
			if in.ZCMaxSegs > 1 {
				msg += fmt.Sprintf("; up to %d segments per frame", in.ZCMaxSegs)
			}
			add("zerocopy", OK, msg, "")
			if in.XSKFeatures&xskTXChecksum != 0 {
				add("tx-checksum", OK, "the driver completes TCP checksums requested through AF_XDP TX metadata in zero-copy mode (--tx-checksum auto offloads them)", "")
			} else {
				add("tx-checksum", Info, "the driver takes no checksum requests through AF_XDP TX metadata in zero-copy mode: the engine computes TCP checksums itself there (copy mode: the kernel completes them)", "")
			}
		} else {
			add("zerocopy", Info, fmt.Sprintf("%s has no zero-copy AF_XDP: copy mode only (--mode auto gives copy)", in.Device), "")
		}
	}

	// A program already attached.
	if in.XDPProgID != 0 {
		name := or(in.XDPProgName, "unnamed")
		if strings.HasPrefix(in.XDPProgName, "fastpath") {
			add("xdp-program", Info, fmt.Sprintf("fastpath's program %d (%s) is attached in %s mode: another fastpath runs on %s", in.XDPProgID, name, or(in.XDPMode, "?"), in.Device), "")
		} else {
			status := Warn
			msg := fmt.Sprintf("program %d (%s) is attached in %s mode: fastpath will not replace it", in.XDPProgID, name, or(in.XDPMode, "?"))
			if in.XDPMode == "generic" {
				msg += "; in generic mode every frame costs an skb"
			}
			add("xdp-program", status, msg, fmt.Sprintf("ip link set dev %s xdp off  (if nothing else needs it; a bpf_link-held program goes when its process stops)", in.Device))
		}
	} else {
		add("xdp-program", OK, "no XDP program attached", "")
	}

	// veth.
	if in.Driver == "veth" {
		switch {
		case in.VethPeerXDP == nil:
			add("veth-peer", Info, "the veth peer is in another namespace: give it an XDP program (or GRO), or frames to it take the slow path on the sender's core", "")
		case !*in.VethPeerXDP:
			add("veth-peer", Warn, "the veth peer has no XDP program: frames sent to it take the slow path on the sending core (about 3x slower)",
				"attach a pass program on the peer (fastpath lab does), or ethtool -K PEER gro on")
		default:
			add("veth-peer", OK, "the veth peer has an XDP program (veth's fast path)", "")
		}
		// A peer that leaves TCP and UDP checksums to its device sends
		// only the pseudo-header sum through the veth (CHECKSUM_PARTIAL).
		switch {
		case in.VethPeerTXChecksum == nil:
			add("veth-checksum", Info, fmt.Sprintf("the veth peer (%s) was not found: if its TX checksum offload is on (veth's default), what its kernel sends reaches the engine with partial TCP and UDP checksums, dropped as partial_checksum unless --accept-partial-checksum", or(in.VethPeer, "?")),
				or(in.VethPeerTXOff, "ethtool -K PEER tx off  (in the peer's network namespace)"))
		case *in.VethPeerTXChecksum:
			add("veth-checksum", Warn, fmt.Sprintf("the veth peer %s has TX checksum offload on: what its kernel sends reaches the engine with partial TCP and UDP checksums (only the pseudo-header sum), dropped as partial_checksum unless --accept-partial-checksum", in.VethPeer),
				in.VethPeerTXOff)
		default:
			add("veth-checksum", OK, fmt.Sprintf("the veth peer %s has TX checksum offload off: its frames carry complete checksums", in.VethPeer), "")
		}
	}

	// Huge pages.
	if in.HugePagesFree > 0 {
		add("hugepages", OK, fmt.Sprintf("%d huge pages of %d KiB free for UMEMs", in.HugePagesFree, in.HugePageKB), "")
	} else {
		add("hugepages", Info, "no free huge pages: UMEMs use 4 KiB pages (fine; huge pages cut TLB misses at high rates)",
			"echo 512 > /proc/sys/vm/nr_hugepages")
	}

	// Busy polling.
	if in.NAPIDeferIRQs >= 0 && in.GROFlushTimeout >= 0 {
		if in.NAPIDeferIRQs == 0 || in.GROFlushTimeout == 0 {
			add("busy-poll", Info, fmt.Sprintf("napi_defer_hard_irqs=%d gro_flush_timeout=%d: --busy-poll needs both set, or the IRQs keep firing", in.NAPIDeferIRQs, in.GROFlushTimeout),
				fmt.Sprintf("echo 2 > /sys/class/net/%s/napi_defer_hard_irqs; echo 200000 > /sys/class/net/%s/gro_flush_timeout", in.Device, in.Device))
		} else {
			add("busy-poll", OK, fmt.Sprintf("napi_defer_hard_irqs=%d gro_flush_timeout=%d: ready for --busy-poll", in.NAPIDeferIRQs, in.GROFlushTimeout), "")
		}
	}
	if in.BusyPoll > 0 || in.BusyRead > 0 {
		add("busy-poll-sysctl", Info, fmt.Sprintf("net.core.busy_poll=%d busy_read=%d: kernel sockets busy poll too", in.BusyPoll, in.BusyRead), "")
	}

	// IRQs.
	switch {
	case len(in.IRQs) == 0:
		add("irq-affinity", Info, fmt.Sprintf("%s has no interrupts of its own (virtual device)", in.Device), "")
	default:
		var parts []string
		all := true
		for _, q := range in.IRQs {
			parts = append(parts, fmt.Sprintf("%d→%s", q.Number, q.Affinity))
			if !strings.Contains(q.Affinity, "-") && !strings.Contains(q.Affinity, ",") {
				all = false
			}
		}
		status, fix := OK, ""
		if all && len(in.IRQs) > 1 {
			status = Warn
			fix = "pin each queue's IRQ to its engine's core: echo CPU > /proc/irq/N/smp_affinity_list (and stop irqbalance)"
		}
		add("irq-affinity", status, fmt.Sprintf("%d IRQs: %s", len(in.IRQs), strings.Join(parts, " ")), fix)
	}

	// RSS: flows hashed to a queue no engine binds never reach one.
	switch {
	case in.RSSQueues == nil && in.RXQueues > 1:
		add("rss", Info, fmt.Sprintf("%s's RSS indirection table is not readable: which of its %d queues flows hash to is unknown; bind them all (--queues all)", in.Device, in.RXQueues), "")
	case in.RSSQueues == nil:
	case in.RSSToeplitz && len(in.RSSQueues) > 1:
		add("rss-hash", OK, "RSS hashes TCP/IPv4 with Toeplitz over the 4-tuple and its key is readable: connections the engines open take ports whose replies RSS gives the opening engine's queue", "")
	}
	switch {
	case in.RSSQueues == nil:
	case in.Queues == nil:
		add("rss", Info, fmt.Sprintf("RSS spreads flows over queues %s: run an engine on each (--queues all), or steer flows to the engines' queues (ethtool -N)", ranges(in.RSSQueues)), "")
	default:
		bound := map[int]bool{}
		for _, q := range in.Queues {
			bound[q] = true
		}
		var missed []int
		for _, q := range in.RSSQueues {
			if !bound[q] {
				missed = append(missed, q)
			}
		}
		if len(missed) == 0 {
			add("rss", OK, fmt.Sprintf("RSS spreads flows over queues %s, all of them in --queues", ranges(in.RSSQueues)), "")
		} else {
			add("rss", Warn, fmt.Sprintf("RSS spreads flows over queues %s, and %s have no engine in --queues %s: flows hashed there bypass the engines (the kernel gets them)", ranges(in.RSSQueues), ranges(missed), ranges(in.Queues)),
				fmt.Sprintf("run engines on every RSS queue (--queues all); or spread RSS over the engines' queues only (ethtool -X %s equal %d, for engines on queues 0-%d); or steer each flow (ethtool -N %s flow-type udp4 dst-port PORT action QUEUE)", in.Device, len(in.Queues), len(in.Queues)-1, in.Device))
		}
	}

	// ntuple.
	switch {
	case in.NTuple == nil:
		add("ntuple", Info, fmt.Sprintf("%s has no ntuple filters: flows go where RSS hashes them; bind every queue", in.Device), "")
	case !*in.NTuple:
		add("ntuple", Info, "ntuple filters are off: turn them on to steer a flow to an engine's queue", fmt.Sprintf("ethtool -K %s ntuple on", in.Device))
	default:
		add("ntuple", OK, "ntuple filters are on (ethtool -N steers flows to queues)", "")
	}

	// memlock.
	const umem = 64 << 20
	if in.MemlockBytes != ^uint64(0) && in.MemlockBytes < umem && in.Root {
		add("memlock", OK, fmt.Sprintf("RLIMIT_MEMLOCK is %d KiB, but root has CAP_IPC_LOCK: large UMEMs are fine", in.MemlockBytes>>10), "")
	} else if in.MemlockBytes != ^uint64(0) && in.MemlockBytes < umem {
		add("memlock", Warn, fmt.Sprintf("RLIMIT_MEMLOCK is %d KiB: a UMEM beyond it needs CAP_IPC_LOCK (root has it)", in.MemlockBytes>>10), "ulimit -l unlimited")
	} else {
		add("memlock", OK, "RLIMIT_MEMLOCK allows large UMEMs", "")
	}
	return f
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Summary counts findings by status.
func Summary(f []Finding) map[string]int {
	m := map[string]int{OK: 0, Info: 0, Warn: 0, Fail: 0}
	for _, x := range f {
		m[x.Status]++
	}
	return m
}

// ranges prints sorted queue numbers compactly: 0-3,6.
func ranges(qs []int) string {
	var b strings.Builder
	for i := 0; i < len(qs); {
		j := i
		for j+1 < len(qs) && qs[j+1] == qs[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", qs[i], qs[j])
		} else {
			fmt.Fprintf(&b, "%d", qs[i])
		}
		i = j + 1
	}
	return b.String()
}
