package doctor

import (
	"strings"
	"testing"
)

// Recorded facts of real NICs, as Gather reads them (values from the
// drivers' ethtool -i/-l answers, the netdev family's xdp-features, sysfs).
func ice() Input {
	ntupleOn := true
	return Input{
		Kernel: "6.8.0-45-generic", Device: "ens1f0", Exists: true, Up: true, Driver: "ice", MTU: 1500,
		RXQueues: 64, MaxCombined: 64, Combined: 64, FrameSize: 4096,
		HasFeatures: true, XDPFeatures: XDPBasic | XDPRedirect | XDPNdoXmit | XDPXSKZeroCopy | XDPRxSG | XDPNdoXmitSG, ZCMaxSegs: 5,
		HugePagesFree: 1024, HugePageKB: 2048, NAPIDeferIRQs: 0, GROFlushTimeout: 0, Threaded: 0,
		IRQs:   []IRQ{{Number: 120, Name: "ice-ens1f0-TxRx-0", Affinity: "0-31"}, {Number: 121, Name: "ice-ens1f0-TxRx-1", Affinity: "0-31"}},
		NTuple: &ntupleOn, MemlockBytes: ^uint64(0), CPUs: 32,
	}
}

func find(t *testing.T, f []Finding, check string) Finding {
	t.Helper()
	for _, x := range f {
		if x.Check == check {
			return x
		}
	}
	t.Fatalf("no %q finding in %+v", check, f)
	return Finding{}
}

func TestCheckICE(t *testing.T) {
	f := Check(ice())
	if s := Summary(f); s[Fail] != 0 {
		t.Fatalf("a healthy ice NIC fails: %+v", f)
	}
	if x := find(t, f, "zerocopy"); x.Status != OK || !strings.Contains(x.Message, "5 segments") {
		t.Errorf("zerocopy: %+v", x)
	}
	if x := find(t, f, "tx-checksum"); x.Status != Info || !strings.Contains(x.Message, "computes TCP checksums itself") {
		t.Errorf("ice 6.8 without xsk tx-checksum: %+v", x)
	}
	// mlx5 honours checksum requests in TX metadata (tx-timestamp and
	// tx-checksum).
	mlx := ice()
	mlx.Driver, mlx.XSKFeatures = "mlx5_core", 3
	if x := find(t, Check(mlx), "tx-checksum"); x.Status != OK {
		t.Errorf("mlx5 with xsk tx-checksum: %+v", x)
	}
	if x := find(t, f, "busy-poll"); x.Status != Info || !strings.Contains(x.Fix, "napi_defer_hard_irqs") || !strings.Contains(x.Fix, "gro_flush_timeout") {
		t.Errorf("busy-poll knobs unset: %+v", x)
	}
	if x := find(t, f, "irq-affinity"); x.Status != Warn || !strings.Contains(x.Fix, "smp_affinity_list") {
		t.Errorf("IRQs on every CPU: %+v", x)
	}
	if x := find(t, f, "ntuple"); x.Status != OK {
		t.Errorf("ntuple: %+v", x)
	}
}

func TestCheckJumboWithoutMultiBuffer(t *testing.T) {
	in := ice()
	in.Driver, in.MTU = "ixgbe", 9000
	in.XDPFeatures = XDPBasic | XDPRedirect | XDPNdoXmit | XDPXSKZeroCopy // no rx-sg
	x := find(t, Check(in), "mtu")
	if x.Status != Fail || !strings.Contains(x.Fix, "mtu 3498") {
		t.Errorf("MTU 9000 without rx-sg: %+v", x)
	}
	in.XDPFeatures |= XDPRxSG
	in.FrameSize = 2048
	if x := find(t, Check(in), "mtu"); x.Status != Fail || !strings.Contains(x.Message, "2048-byte frames") {
		t.Errorf("MTU 9000 in 2 KiB frames: %+v", x)
	}
}

func TestCheckForeignGenericProgram(t *testing.T) {
	in := ice()
	in.Driver = "mlx5_core"
	in.XDPProgID, in.XDPProgName, in.XDPMode = 77, "xdp_filter", "generic"
	x := find(t, Check(in), "xdp-program")
	if x.Status != Warn || !strings.Contains(x.Message, "generic") || !strings.Contains(x.Fix, "xdp off") {
		t.Errorf("foreign program: %+v", x)
	}
	in.XDPProgName = "fastpath_steer"
	if x := find(t, Check(in), "xdp-program"); x.Status != Info {
		t.Errorf("fastpath's own program: %+v", x)
	}
}

func TestCheckNoNativeXDP(t *testing.T) {
	in := ice()
	in.Driver, in.XDPFeatures = "r8169", 0
	if x := find(t, Check(in), "xdp-features"); x.Status != Warn || !strings.Contains(x.Message, "generic mode") {
		t.Errorf("no native XDP: %+v", x)
	}
	if x := find(t, Check(in), "zerocopy"); x.Status != Info {
		t.Errorf("no zero-copy: %+v", x)
	}
}

func TestCheckOldKernel(t *testing.T) {
	in := ice()
	in.Kernel, in.HasFeatures = "5.4.0-150-generic", false
	f := Check(in)
	x := find(t, f, "kernel")
	if x.Status != Warn || !strings.Contains(x.Message, "busy polling") || !strings.Contains(x.Fix, "5.10") {
		t.Errorf("kernel 5.4: %+v", x)
	}
	if x := find(t, f, "xdp-features"); x.Status != Info {
		t.Errorf("no netdev family: %+v", x)
	}
	in.Kernel = "4.15.0-20-generic"
	if x := find(t, Check(in), "kernel"); x.Status != Fail {
		t.Errorf("kernel 4.15: %+v", x)
	}
}

func TestCheckDevice(t *testing.T) {
	in := ice()
	in.Up = false
	if x := find(t, Check(in), "device"); x.Status != Fail || x.Fix != "ip link set dev ens1f0 up" {
		t.Errorf("device down: %+v", x)
	}
	in.Exists = false
	f := Check(in)
	if x := find(t, f, "device"); x.Status != Fail {
		t.Errorf("no device: %+v", x)
	}
	if len(f) != 2 {
		t.Errorf("no device: only the kernel and device findings, got %+v", f)
	}
}

func TestCheckVethAndMemlock(t *testing.T) {
	no := false
	in := Input{Kernel: "6.18.44", Device: "veth0", Exists: true, Up: true, Driver: "veth", MTU: 1500, RXQueues: 1,
		HasFeatures: true, XDPFeatures: XDPBasic | XDPRedirect | XDPNdoXmit | XDPRxSG | XDPNdoXmitSG,
		NAPIDeferIRQs: -1, GROFlushTimeout: -1, VethPeerXDP: &no, MemlockBytes: 8 << 20}
	f := Check(in)
	if x := find(t, f, "veth-peer"); x.Status != Warn {
		t.Errorf("veth peer without XDP: %+v", x)
	}
	if x := find(t, f, "memlock"); x.Status != Warn || !strings.Contains(x.Fix, "ulimit -l") {
		t.Errorf("8 MiB memlock: %+v", x)
	}
	if x := find(t, f, "irq-affinity"); x.Status != Info {
		t.Errorf("veth IRQs: %+v", x)
	}
}

// TestCheckVethChecksum: a veth peer with TX checksum offload on sends
// partial checksums: a warning with the command, run where the peer is.
func TestCheckVethChecksum(t *testing.T) {
	on, off := true, false
	in := Input{Kernel: "6.18.44", Device: "veth0", Exists: true, Up: true, Driver: "veth", MTU: 1500, RXQueues: 1,
		NAPIDeferIRQs: -1, GROFlushTimeout: -1, MemlockBytes: ^uint64(0),
		VethPeer: "veth0 in network namespace ns1", VethPeerTXOff: "ip netns exec ns1 ethtool -K veth0 tx off", VethPeerTXChecksum: &on}
	if x := find(t, Check(in), "veth-checksum"); x.Status != Warn || x.Fix != in.VethPeerTXOff ||
		!strings.Contains(x.Message, "partial_checksum") || !strings.Contains(x.Message, "ns1") {
		t.Errorf("peer with tx on: %+v", x)
	}
	in.VethPeerTXChecksum = &off
	if x := find(t, Check(in), "veth-checksum"); x.Status != OK || x.Fix != "" {
		t.Errorf("peer with tx off: %+v", x)
	}
	in.VethPeerTXChecksum, in.VethPeer, in.VethPeerTXOff = nil, "ifindex 7 in another network namespace", ""
	if x := find(t, Check(in), "veth-checksum"); x.Status != Info || !strings.Contains(x.Fix, "ethtool -K PEER tx off") || !strings.Contains(x.Message, "ifindex 7") {
		t.Errorf("peer not found: %+v", x)
	}
	in.Driver = "ice"
	for _, x := range Check(in) {
		if x.Check == "veth-checksum" {
			t.Errorf("a veth finding on ice: %+v", x)
		}
	}
}

// TestCheckRSS: flows RSS hashes to a queue outside --queues bypass the
// engines: a warning with the ethtool commands that fix it.
func TestCheckRSS(t *testing.T) {
	in := ice()
	in.RSSQueues = []int{0, 1, 2, 3, 4, 5, 6, 7}
	if x := find(t, Check(in), "rss"); x.Status != Info || !strings.Contains(x.Message, "0-7") {
		t.Errorf("no --queues: %+v", x)
	}
	in.Queues = []int{0, 1, 2, 3, 4, 5, 6, 7}
	if x := find(t, Check(in), "rss"); x.Status != OK {
		t.Errorf("every RSS queue bound: %+v", x)
	}
	for _, y := range Check(in) {
		if y.Check == "rss-hash" {
			t.Errorf("rss-hash without a readable Toeplitz key: %+v", y)
		}
	}
	in.RSSToeplitz = true
	if x := find(t, Check(in), "rss-hash"); x.Status != OK || !strings.Contains(x.Message, "Toeplitz") {
		t.Errorf("Toeplitz RSS: %+v", x)
	}
	in.Queues = []int{0, 1}
	x := find(t, Check(in), "rss")
	if x.Status != Warn || !strings.Contains(x.Message, "2-7 have no engine") || !strings.Contains(x.Fix, "ethtool -X ens1f0 equal 2") || !strings.Contains(x.Fix, "ethtool -N ens1f0") {
		t.Errorf("queues 2-7 unbound: %+v", x)
	}
	// veth: no indirection table; one queue says nothing, several say
	// to bind them all.
	in.RSSQueues, in.RXQueues = nil, 1
	for _, y := range Check(in) {
		if y.Check == "rss" {
			t.Errorf("one queue, no RSS table: %+v", y)
		}
	}
	in.RXQueues = 4
	if x := find(t, Check(in), "rss"); x.Status != Info || !strings.Contains(x.Message, "not readable") {
		t.Errorf("four queues, no RSS table: %+v", x)
	}
}

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		in   []int
		want string
	}{{nil, ""}, {[]int{3}, "3"}, {[]int{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"}} {
		if got := ranges(c.in); got != c.want {
			t.Errorf("ranges(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestCheckVirtioZeroCopy: virtio-net advertises xsk-zerocopy whether or
// not the device offers VIRTIO_F_ACCESS_PLATFORM; without it the bind
// fails (seen in the VM lab), and doctor says so and what to change.
func TestCheckVirtioZeroCopy(t *testing.T) {
	for _, platform := range []bool{true, false} {
		in := Input{Kernel: "7.3.4", Device: "eth0", Exists: true, Up: true, Driver: "virtio_net", MTU: 1500, RXQueues: 1,
			HasFeatures: true, XDPFeatures: XDPBasic | XDPRedirect | XDPNdoXmit | XDPXSKZeroCopy,
			NAPIDeferIRQs: -1, GROFlushTimeout: -1, VirtioAccessPlatform: &platform}
		x := find(t, Check(in), "zerocopy")
		if platform && x.Status != OK {
			t.Errorf("with the platform feature: %+v", x)
		}
		if !platform && (x.Status != Warn || !strings.Contains(x.Message, "EINVAL") || !strings.Contains(x.Fix, "iommu_platform=on")) {
			t.Errorf("without the platform feature: %+v", x)
		}
	}
}
