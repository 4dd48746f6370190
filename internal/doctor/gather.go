package doctor

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/rss"
	"github.com/fastpathnet/fastpath/internal/veth"
	"github.com/fastpathnet/fastpath/xsk"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Gather reads the facts about dev from the calling thread's network
// namespace and the host. What it cannot read stays zero and is noted in
// Errors; it fails only when nothing can be read at all.
func Gather(dev string, frameSize int) Input {
	in := Input{Device: dev, FrameSize: frameSize, NAPIDeferIRQs: -1, GROFlushTimeout: -1, Threaded: -1, CPUs: runtime.NumCPU()}
	note := func(what string, err error) { in.Errors = append(in.Errors, fmt.Sprintf("%s: %v", what, err)) }
	in.Kernel = kernel.Release()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err == nil {
		in.MemlockBytes = rl.Cur
		if rl.Cur == unix.RLIM_INFINITY {
			in.MemlockBytes = ^uint64(0)
		}
	}
	in.Root = unix.Geteuid() == 0
	in.HugePagesFree, in.HugePageKB = hugePages()
	in.BusyPoll = readInt("/proc/sys/net/core/busy_poll", 0)
	in.BusyRead = readInt("/proc/sys/net/core/busy_read", 0)

	lk, err := netlink.LinkByName(dev)
	if err != nil {
		note("link", err)
		return in
	}
	in.Exists = true
	a := lk.Attrs()
	in.Up = a.Flags&1 != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown)
	in.MTU = a.MTU
	in.RXQueues = a.NumRxQueues
	if x := a.Xdp; x != nil && x.Attached {
		in.XDPProgID = x.ProgId
		in.XDPMode = map[uint32]string{1: "generic", 2: "native", 3: "offload"}[x.AttachMode]
		if p, err := ebpf.NewProgramFromID(ebpf.ProgramID(x.ProgId)); err == nil {
			if info, err := p.Info(); err == nil {
				in.XDPProgName = info.Name
			}
			p.Close()
		}
	}
	sys := "/sys/class/net/" + dev + "/"
	in.NAPIDeferIRQs = readInt(sys+"napi_defer_hard_irqs", -1)
	in.GROFlushTimeout = readInt(sys+"gro_flush_timeout", -1)
	in.Threaded = readInt(sys+"threaded", -1)
	if d, err := ethtool.Driver(dev); err == nil {
		in.Driver = d
	} else {
		note("ethtool driver", err)
	}
	if in.Driver == "virtio_net" {
		in.VirtioAccessPlatform = virtioFeature(sys+"device/features", virtioFAccessPlatform)
	}
	if max, cur, err := channels(dev); err == nil {
		in.MaxCombined, in.Combined = max, cur
	}
	if on, err := ntuple(dev); err == nil {
		in.NTuple = &on
	}
	if t, err := rss.Read(dev); err == nil {
		in.RSSQueues, in.RSSToeplitz = t.Queues(), t.Computable()
	}
	if f, err := xsk.Features(a.Index); err == nil {
		in.HasFeatures, in.XDPFeatures, in.ZCMaxSegs, in.XSKFeatures = true, f.XDP, f.ZeroCopyMaxSegments, f.XSK
	} else {
		note("netdev family", err)
	}
	if v, ok := lk.(*netlink.Veth); ok {
		// The peer is in this namespace when the index it has here names
		// a veth whose peer is us.
		if peer, err := netlink.VethPeerIndex(v); err == nil {
			if pl, err := netlink.LinkByIndex(peer); err == nil {
				if pv, ok := pl.(*netlink.Veth); ok {
					if back, err := netlink.VethPeerIndex(pv); err == nil && back == a.Index && pl.Attrs().Index != a.Index {
						has := pl.Attrs().Xdp != nil && pl.Attrs().Xdp.Attached
						in.VethPeerXDP = &has
					}
				}
			}
		}
	}
	if in.Driver == "veth" {
		if p, err := veth.PeerOf(dev); err == nil {
			in.VethPeer, in.VethPeerTXOff = p.Where(), p.TXOffCommand()
			if p.Found() {
				if on, err := p.TXChecksum(); err == nil {
					in.VethPeerTXChecksum = &on
				} else {
					note("veth peer tx checksum", err)
				}
			}
		} else {
			note("veth peer", err)
		}
	}
	in.IRQs = irqs(dev)
	return in
}

func readInt(path string, def int) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return def
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return def
	}
	return v
}

func hugePages() (free, kb int) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "HugePages_Free:":
			free, _ = strconv.Atoi(fields[1])
		case "Hugepagesize:":
			kb, _ = strconv.Atoi(fields[1])
		}
	}
	return free, kb
}

// irqs finds the device's interrupts in /proc/interrupts and their
// affinity.
func irqs(dev string) []IRQ {
	f, err := os.Open("/proc/interrupts")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []IRQ
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.HasSuffix(fields[0], ":") {
			continue
		}
		name := fields[len(fields)-1]
		if name != dev && !strings.HasPrefix(name, dev+"-") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(fields[0], ":"))
		if err != nil {
			continue
		}
		aff, _ := os.ReadFile(fmt.Sprintf("/proc/irq/%d/smp_affinity_list", n))
		out = append(out, IRQ{Number: n, Name: name, Affinity: strings.TrimSpace(string(aff))})
	}
	return out
}

// virtioFAccessPlatform is VIRTIO_F_ACCESS_PLATFORM (virtio 1.1, 6.1).
const virtioFAccessPlatform = 33

// virtioFeature reads one bit of a virtio device's negotiated features
// from sysfs (a string of '0' and '1', bit 0 first); nil if unreadable.
func virtioFeature(path string, bit int) *bool {
	b, err := os.ReadFile(path)
	if err != nil || len(b) <= bit {
		return nil
	}
	on := b[bit] == '1'
	return &on
}

func channels(dev string) (max, cur int, err error) {
	ch, err := ethtool.GetChannels(dev)
	if err != nil {
		return 0, 0, err
	}
	if ch.MaxCombined == 0 {
		return int(ch.MaxRX), int(ch.RX), nil
	}
	return int(ch.MaxCombined), int(ch.Combined), nil
}

func ntuple(dev string) (bool, error) {
	// struct ethtool_value for ETHTOOL_GFLAGS; ETH_FLAG_NTUPLE is 1<<27.
	v := [2]uint32{0x25, 0}
	if err := ethtool.Do(dev, unsafe.Pointer(&v[0])); err != nil {
		return false, err
	}
	return v[1]&(1<<27) != 0, nil
}
