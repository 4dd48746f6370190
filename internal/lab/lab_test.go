package lab

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// runDir is where `ip netns list` looks.
const runDir = "/var/run/netns"

func TestParseName(t *testing.T) {
	o := owner{pid: 123, start: 4567, pidns: 4026531836}
	for _, tc := range []struct {
		name, prefix string
		want         owner
		ok           bool
	}{
		{"fp-123-4567-4026531836-1-a", "fp", o, true},
		{"fp-123-4567-4026531836-1-b", "fp", o, true},
		{"fp-123-4567-4026531836-17-r", "fp", o, true},
		{"fp-123-0-4026531836-17-r", "fp", owner{pid: 123, pidns: 4026531836}, true}, // start 0: a process started at boot
		{"my-lab-123-4567-4026531836-2-a", "my-lab", o, true},
		{"fp-123-4567-4026531836-1-x", "fp", owner{}, false}, // unknown role
		{"fp-123-4567-4026531836-a", "fp", owner{}, false},   // no seq
		{"fp-123-1-a", "fp", owner{}, false},                 // the old shape, without start and PID namespace
		{"fp-12x-4567-4026531836-1-a", "fp", owner{}, false}, // pid not a number
		{"fp-123-45x7-4026531836-1-a", "fp", owner{}, false}, // start not a number
		{"fp-123-4567-40265x1836-1-a", "fp", owner{}, false}, // pidns not a number
		{"fp-0-4567-4026531836-1-a", "fp", owner{}, false},   // no such pid
		{"fp-123-4567-0-1-a", "fp", owner{}, false},          // no such pidns
		{"fp--4567-4026531836-1-a", "fp", owner{}, false},    // empty pid
		{"fp-99999999999-4567-4026531836-1-a", "fp", owner{}, false},
		{"fp-123-99999999999999999999-4026531836-1-a", "fp", owner{}, false}, // start overflows
		{"fp-+123-4567-4026531836-1-a", "fp", owner{}, false},
		{"fpx-123-4567-4026531836-1-a", "fp", owner{}, false}, // other prefix
		{"fp-x-123-4567-4026531836-1-a", "fp", owner{}, false},
		{"my-lab-123-4567-4026531836-2-a", "my", owner{}, false}, // prefix only a part of another
		{"fp-123-4567-4026531836-1-a-b", "fp", owner{}, false},
		{"blue", "fp", owner{}, false},
	} {
		got, ok := parseName(tc.name, tc.prefix)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseName(%q, %q) = %+v, %v; want %+v, %v", tc.name, tc.prefix, got, ok, tc.want, tc.ok)
		}
	}
	if got, ok := parseName(nsName("fp", o, 9, "r"), "fp"); got != o || !ok {
		t.Errorf("parseName(nsName(fp, %+v, 9, r)) = %+v, %v; want the owner back", o, got, ok)
	}
}

// TestSelf checks the identity New puts in names, and how dead judges an
// owner against it.
func TestSelf(t *testing.T) {
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	if me.pid != os.Getpid() {
		t.Errorf("pid %d, want %d", me.pid, os.Getpid())
	}
	st, err := startTime(strconv.Itoa(os.Getpid()))
	if err != nil || st != me.start {
		t.Errorf("start time %d; /proc/PID/stat says %d (%v)", me.start, st, err)
	}
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	off, err := boottimeOffset()
	if err != nil || f[19] != strconv.FormatInt(int64(me.start)+off, 10) {
		t.Errorf("start time %d + offset %d (%v); field 22 of /proc/self/stat is %s", me.start, off, err, f[19])
	}
	link, err := os.Readlink("/proc/self/ns/pid")
	if err != nil || link != fmt.Sprintf("pid:[%d]", me.pidns) {
		t.Errorf("pidns %d; /proc/self/ns/pid is %q (%v)", me.pidns, link, err)
	}
	if !procIsOurs() {
		RequireKernel(t, "a /proc of this PID namespace (mount one, or run the tests where /proc is the host's)")
	}
	gone := deadPID(t)
	for _, tc := range []struct {
		o    owner
		dead bool
	}{
		{me, false},
		{owner{me.pid, me.start + 1, me.pidns}, false}, // within rounding
		{owner{me.pid, me.start + 2, me.pidns}, true},  // PID reused
		{owner{me.pid, me.start + 1000, me.pidns}, true},
		{owner{gone, me.start, me.pidns}, true},
		{owner{gone, me.start, me.pidns + 1}, false}, // another PID namespace: unknown
		{owner{me.pid, me.start + 1000, me.pidns + 1}, false},
	} {
		if got := dead(tc.o, me); got != tc.dead {
			t.Errorf("dead(%+v) = %v, want %v", tc.o, got, tc.dead)
		}
	}
}

func TestOptions(t *testing.T) {
	got, err := Options{}.check()
	if err != nil || got != DefaultOptions() {
		t.Errorf("Options{}.check() = %+v, %v; want %+v", got, err, DefaultOptions())
	}
	for _, o := range []Options{
		{Queues: -1},
		{Queues: maxQueues + 1},
		{MTU: 67},
		{MTU: 65536},
		{Prefix: "-fp"},
		{Prefix: "f/p"},
		{Prefix: "f p"},
		{Prefix: strings.Repeat("f", 65)},
		{Devices: [2]string{"eth0", ""}},
		{Devices: [2]string{"", "eth1"}},
		{Devices: [2]string{"eth0", "eth0"}},
		{Devices: [2]string{"eth0", "eth1"}, Router: true},
	} {
		// New validates before touching anything, so this runs as any user.
		if l, err := New(o); err == nil {
			l.Close()
			t.Errorf("New(%+v) succeeded, want an error", o)
		}
	}
}

func TestPair(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{})
	if l.R != nil {
		t.Errorf("R = %v, want nil without a router", l.R)
	}
	checkHost(t, l.A, "veth0", addrA, macA, l.B, macB)
	checkHost(t, l.B, "veth0", addrB, macB, l.A, macA)
	for _, h := range l.Hosts() {
		if _, err := os.Stat(filepath.Join(runDir, h.Name)); err != nil {
			t.Errorf("namespace %s not listed: %v", h.Name, err)
		}
		if h.Gateway.IsValid() {
			t.Errorf("%s: Gateway = %s, want none without a router", h.Name, h.Gateway)
		}
		checkLink(t, h, h.Links[0], 1, DefaultMTU)
		checkNoIPv6(t, h, h.Link)
	}

	if ttl := exchange(t, l.A, l.B); ttl != 64 {
		t.Errorf("TTL at B = %d, want 64 (one hop, no router)", ttl)
	}

	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, h := range l.Hosts() {
		if _, err := os.Stat(filepath.Join(runDir, h.Name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("namespace %s still listed after Close (stat: %v)", h.Name, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v, want nil", err)
	}
}

func TestRouter(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{Router: true})
	if l.R == nil {
		t.Fatal("R is nil with Router")
	}
	checkHost(t, l.A, "veth0", routedA, macA, l.R, macRA)
	checkHost(t, l.B, "veth0", routedB, macB, l.R, macRB)
	checkHost(t, l.R, "veth0", routedRA, macRA, l.A, macA)
	if len(l.R.Links) != 2 {
		t.Fatalf("R has %d links, want 2", len(l.R.Links))
	}
	rb := l.R.Links[1]
	if rb.Name != "veth1" || rb.Addr != routedRB || rb.MAC.String() != macRB.String() ||
		rb.Peer != l.B || rb.PeerMAC.String() != macB.String() {
		t.Errorf("R.Links[1] = %+v, want veth1 %s %s facing B (%s)", rb, routedRB, macRB, macB)
	}
	if l.A.Gateway != routedRA.Addr() || l.B.Gateway != routedRB.Addr() {
		t.Errorf("gateways A %s, B %s; want %s, %s", l.A.Gateway, l.B.Gateway, routedRA.Addr(), routedRB.Addr())
	}
	for _, h := range l.Hosts() {
		for _, ifc := range h.Links {
			checkLink(t, h, ifc, 1, DefaultMTU)
			checkNoIPv6(t, h, ifc.Name)
		}
	}
	var fwd []byte
	err := l.R.Do(func() error {
		var err error
		fwd, err = os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		return err
	})
	if err != nil || strings.TrimSpace(string(fwd)) != "1" {
		t.Errorf("ip_forward in R = %q, %v; want 1", fwd, err)
	}

	// One hop through R: the TTL drops from 64 to 63.
	if ttl := exchange(t, l.A, l.B); ttl != 63 {
		t.Errorf("TTL at B = %d, want 63 (forwarded once by R)", ttl)
	}
	if ttl := exchange(t, l.B, l.A); ttl != 63 {
		t.Errorf("TTL at A = %d, want 63 (forwarded once by R)", ttl)
	}
}

// TestMore: Options.More adds hosts on A's side, each on its own veth to
// R and its own /24, routed to B through R (one hop each way), and gone
// with the lab. Without a router, with IPv6 or past the limit it is an
// error.
func TestMore(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{Router: true, More: 2})
	if len(l.More) != 2 || len(l.R.Links) != 4 || len(l.Hosts()) != 5 {
		t.Fatalf("%d more hosts, R has %d links, %d hosts; want 2, 4, 5", len(l.More), len(l.R.Links), len(l.Hosts()))
	}
	for i, h := range l.More {
		host, router := moreAddrs(i)
		checkHost(t, h, "veth0", host, net.HardwareAddr{0x02, 0xfa, 0, 0, byte(0x10 + i), 0x01}, l.R, net.HardwareAddr{0x02, 0xfa, 0, 0, byte(0x10 + i), 0x03})
		if r := l.R.Links[2+i]; r.Addr != router || r.Peer != h || h.Gateway != router.Addr() {
			t.Errorf("more host %d: R's link %+v, gateway %s; want %s facing it", i, r, h.Gateway, router)
		}
		if o, ok := parseName(h.Name, DefaultPrefix); !ok || o.pid != os.Getpid() {
			t.Errorf("Sweep would not know %s as this process's", h.Name)
		}
		if ttl := exchange(t, h, l.B); ttl != 63 {
			t.Errorf("TTL at B from more host %d = %d, want 63", i, ttl)
		}
		if ttl := exchange(t, l.B, h); ttl != 63 {
			t.Errorf("TTL at more host %d from B = %d, want 63", i, ttl)
		}
	}
	names := []string{l.More[0].Name, l.More[1].Name}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := os.Stat("/run/netns/" + n); !os.IsNotExist(err) {
			t.Errorf("%s left after Close: %v", n, err)
		}
	}
	for _, o := range []Options{{More: 1}, {Router: true, IPv6: true, More: 1}, {Router: true, More: maxMore + 1}, {Router: true, More: -1}} {
		if _, err := o.check(); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}

func TestQueues(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{Queues: 2, MTU: 9000, Router: true})
	for _, h := range l.Hosts() {
		for _, ifc := range h.Links {
			checkLink(t, h, ifc, 2, 9000)
		}
	}
	exchange(t, l.A, l.B)
}

func TestAttachPass(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{})
	var ids []ebpf.ProgramID
	for _, h := range []*Host{l.A, l.B} {
		if err := h.AttachPass(); err != nil {
			if errors.Is(err, ebpf.ErrNotSupported) {
				RequireKernel(t, "XDP through bpf_link (kernel 5.9+): "+err.Error())
			}
			t.Fatal(err)
		}
		lk, err := h.Handle().LinkByName(h.Link)
		if err != nil {
			t.Fatal(err)
		}
		x := lk.Attrs().Xdp
		if x == nil || !x.Attached || x.ProgId == 0 {
			t.Fatalf("%s %s: XDP = %+v, want a program attached", h.Name, h.Link, x)
		}
		if x.AttachMode != nl.XDP_ATTACHED_DRV {
			t.Errorf("%s %s: XDP attach mode %d, want %d (driver)", h.Name, h.Link, x.AttachMode, nl.XDP_ATTACHED_DRV)
		}
		ids = append(ids, ebpf.ProgramID(x.ProgId))
	}
	if err := l.A.AttachPass(); err == nil {
		t.Error("second AttachPass on A succeeded, want an error")
	}

	exchange(t, l.A, l.B)

	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Close released the links and programs: their IDs are gone.
	for _, id := range ids {
		deadline := time.Now().Add(5 * time.Second)
		for {
			p, err := ebpf.NewProgramFromID(id)
			if err != nil {
				break
			}
			p.Close()
			if time.Now().After(deadline) {
				t.Errorf("program %d still loaded after Close", id)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := l.A.AttachPass(); !errors.Is(err, ErrClosed) {
		t.Errorf("AttachPass after Close = %v, want ErrClosed", err)
	}
}

func TestDo(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{})
	err := l.A.Do(func() error {
		if ok, err := inNS(l.A.NS); err != nil || !ok {
			return fmt.Errorf("fn runs elsewhere than A's namespace (%v)", err)
		}
		// The package-level netlink functions use the thread's namespace.
		lk, err := netlink.LinkByName("veth0")
		if err != nil {
			return err
		}
		if lk.Attrs().HardwareAddr.String() != macA.String() {
			return fmt.Errorf("veth0 here has MAC %s, want A's %s", lk.Attrs().HardwareAddr, macA)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}

	errFn := errors.New("from fn")
	if err := l.B.Do(func() error { return errFn }); !errors.Is(err, errFn) {
		t.Errorf("Do = %v, want fn's error", err)
	}
	if err := l.B.Do(func() error { runtime.Goexit(); return nil }); err == nil {
		t.Error("Do of a fn that calls runtime.Goexit returned nil, want an error")
	}
	func() {
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "boom") {
				t.Errorf("recovered %v, want fn's panic", r)
			}
		}()
		l.B.Do(func() error { panic("boom") })
		t.Error("Do returned after fn panicked")
	}()

	l.Close()
	if err := l.A.Do(func() error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
}

func TestCommand(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ip"); err != nil {
		RequireKernel(t, "iproute2 (ip): apt-get install iproute2")
	}
	l := NewT(t, Options{})
	out, err := l.B.Command(context.Background(), "ip", "-o", "link", "show", "veth0").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if !strings.Contains(string(out), macB.String()) {
		t.Errorf("ip link in B shows %q, want B's MAC %s", out, macB)
	}
}

func TestSetNeighbor(t *testing.T) {
	t.Parallel()
	l := NewT(t, Options{Router: true})
	mac := net.HardwareAddr{0x02, 0xfa, 0, 0, 0, 0x99}
	// B's address is on R's veth1, not on R.Link.
	if err := l.R.SetNeighbor(l.B.Addr.Addr(), mac); err != nil {
		t.Fatal(err)
	}
	neighs, err := l.R.Handle().NeighList(l.R.Links[1].Index, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, n := range neighs {
		if n.IP.Equal(l.B.Addr.Addr().AsSlice()) {
			found = true
			if n.HardwareAddr.String() != mac.String() || n.State != netlink.NUD_PERMANENT {
				t.Errorf("neighbour %s = %s state %#x, want %s permanent", n.IP, n.HardwareAddr, n.State, mac)
			}
		}
	}
	if !found {
		t.Errorf("no neighbour entry for %s on R's veth1: %v", l.B.Addr.Addr(), neighs)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	RequireRoot(t)
	if !procIsOurs() {
		RequireKernel(t, "a /proc of this process's PID namespace")
	}
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	d := deadPID(t)
	const big = uint64(1) << 40
	gone := nsName(DefaultPrefix, owner{d, me.start, me.pidns}, 1, "a")
	reused := nsName(DefaultPrefix, owner{me.pid, me.start + 1000, me.pidns}, big, "b") // our PID, another start: PID reused
	kept := nsName(DefaultPrefix, me, big, "r")
	foreign := nsName(DefaultPrefix, owner{d, me.start, me.pidns + 1}, 1, "a") // another PID namespace
	legacy := fmt.Sprintf("%s-%d-1-a", DefaultPrefix, d)                       // the old shape
	other := strings.TrimSuffix(gone, "a") + "x"                               // not a lab name
	for _, name := range []string{gone, reused, kept, foreign, legacy, other} {
		ns, err := createNamed(name)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
		t.Cleanup(func() { deleteNamed(name) })
	}

	if err := Sweep(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{gone, reused} {
		if _, err := os.Stat(filepath.Join(runDir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("namespace %s of a dead process survived Sweep (stat: %v)", name, err)
		}
	}
	for _, name := range []string{kept, foreign, legacy, other} {
		if _, err := os.Stat(filepath.Join(runDir, name)); err != nil {
			t.Errorf("Sweep removed %s: %v", name, err)
		}
	}
}

// TestSweepOtherPIDNamespace runs this test binary again as a helper in a
// PID namespace of its own, with its own /proc but the same /run/netns,
// as a container may be. The helper sweeps; this process's lab, whose PID
// the helper cannot see, must survive.
func TestSweepOtherPIDNamespace(t *testing.T) {
	const prefix = "fppidns"
	if os.Getenv("LAB_PIDNS_HELPER") == "1" {
		// Only this process's mounts: make them private first, so that
		// the new /proc does not propagate to the parent's.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make mounts private: %v", err)
		}
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			t.Fatalf("mount /proc: %v", err)
		}
		if os.Getpid() != 1 || !procIsOurs() {
			t.Fatalf("helper is PID %d, /proc ours: %v; want PID 1 with its own /proc", os.Getpid(), procIsOurs())
		}
		if err := SweepPrefix(prefix); err != nil {
			t.Fatal(err)
		}
		fmt.Println("SWEPT")
		return
	}
	t.Parallel()
	RequireRoot(t)
	l, err := New(Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepOtherPIDNamespace$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LAB_PIDNS_HELPER=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EINVAL) {
		RequireKernel(t, "PID and mount namespaces (CONFIG_PID_NS): "+err.Error())
	}
	if err != nil || !strings.Contains(string(out), "SWEPT") {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, h := range l.Hosts() {
		if _, err := os.Stat(filepath.Join(runDir, h.Name)); err != nil {
			t.Errorf("namespace %s of this live process was swept from another PID namespace: %v", h.Name, err)
		}
	}
}

// deadPID returns a PID that no process has, searching down from pid_max.
func deadPID(t *testing.T) int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	for pid := max - 1; pid > 1; pid-- {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); errors.Is(err, fs.ErrNotExist) {
			return pid
		}
	}
	t.Fatal("every PID is in use")
	return 0
}

// TestNewCleansUp makes New fail half way: B's namespace name is taken
// already. New must remove A's namespace, which it created, and leave the
// one that was there before. It is not parallel, so that it can predict
// the next lab's name.
func TestNewCleansUp(t *testing.T) {
	RequireRoot(t)
	const prefix = "fpfail"
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	taken := nsName(prefix, me, seq.Load()+1, "b")
	ns, err := createNamed(taken)
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	t.Cleanup(func() { deleteNamed(taken) })

	l, err := New(Options{Prefix: prefix})
	if err == nil {
		l.Close()
		t.Fatalf("New succeeded though %s existed", taken)
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("New: %v, want an error that wraps fs.ErrExist", err)
	}
	a := strings.TrimSuffix(taken, "b") + "a"
	if _, err := os.Stat(filepath.Join(runDir, a)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New left %s behind (stat: %v)", a, err)
	}
	if _, err := os.Stat(filepath.Join(runDir, taken)); err != nil {
		t.Errorf("New removed %s, which it did not create: %v", taken, err)
	}
}

// TestSignalCleanup runs this test binary again as a helper that builds a
// lab with NewT and waits; it sends the helper SIGTERM and checks that the
// helper removed its namespaces and still died of the signal.
func TestSignalCleanup(t *testing.T) {
	if os.Getenv("LAB_SIGNAL_HELPER") == "1" {
		l := NewT(t, Options{Router: true})
		var names []string
		for _, h := range l.Hosts() {
			names = append(names, h.Name)
		}
		fmt.Println("LAB", strings.Join(names, " "))
		time.Sleep(time.Minute)
		t.Fatal("helper was not killed")
	}
	t.Parallel()
	RequireRoot(t)

	cmd := exec.Command(os.Args[0], "-test.run=^TestSignalCleanup$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LAB_SIGNAL_HELPER=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var names []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "LAB "); ok {
			names = strings.Fields(rest)
			break
		}
	}
	if len(names) != 3 {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper reported namespaces %q, want 3", names)
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(runDir, name)); err != nil {
			t.Errorf("helper's namespace %s missing: %v", name, err)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper exited with %v, want death by SIGTERM", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Errorf("helper exited with %v, want death by SIGTERM", err)
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(runDir, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("namespace %s survived the helper's SIGTERM (stat: %v)", name, err)
			deleteNamed(name)
		}
	}
}

// checkHost checks h's description of its link and peer.
func checkHost(t *testing.T, h *Host, link string, addr netip.Prefix, mac net.HardwareAddr, peer *Host, peerMAC net.HardwareAddr) {
	t.Helper()
	if h.Link != link || h.Addr != addr || h.MAC.String() != mac.String() || h.Peer != peer || h.PeerMAC.String() != peerMAC.String() {
		t.Errorf("%s: Link %s Addr %s MAC %s Peer %s PeerMAC %s; want %s %s %s %s %s",
			h.Name, h.Link, h.Addr, h.MAC, hostName(h.Peer), h.PeerMAC, link, addr, mac, hostName(peer), peerMAC)
	}
	if len(h.Links) == 0 || h.Links[0].Name != h.Link || h.Links[0].Index != h.Index {
		t.Errorf("%s: Links[0] = %+v, want Link %s index %d", h.Name, h.Links, h.Link, h.Index)
	}
}

func hostName(h *Host) string {
	if h == nil {
		return "<nil>"
	}
	return h.Name
}

// checkLink checks ifc in h's namespace as the kernel reports it.
func checkLink(t *testing.T, h *Host, ifc Iface, queues, mtu int) {
	t.Helper()
	lk, err := h.Handle().LinkByName(ifc.Name)
	if err != nil {
		t.Errorf("%s: %v", h.Name, err)
		return
	}
	a := lk.Attrs()
	if lk.Type() != "veth" || a.Index != ifc.Index || a.HardwareAddr.String() != ifc.MAC.String() ||
		a.Flags&net.FlagUp == 0 || a.MTU != mtu || a.NumRxQueues != queues || a.NumTxQueues != queues {
		t.Errorf("%s %s: type %s index %d MAC %s flags %v MTU %d queues rx %d tx %d; want veth %d %s up %d %d %d",
			h.Name, ifc.Name, lk.Type(), a.Index, a.HardwareAddr, a.Flags, a.MTU, a.NumRxQueues, a.NumTxQueues,
			ifc.Index, ifc.MAC, mtu, queues, queues)
	}
	addrs, err := h.Handle().AddrList(lk, unix.AF_INET)
	if err != nil {
		t.Errorf("%s %s: %v", h.Name, ifc.Name, err)
		return
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != ifc.Addr.String() {
		t.Errorf("%s %s: addresses %v, want %s", h.Name, ifc.Name, addrs, ifc.Addr)
	}
	lo, err := h.Handle().LinkByName("lo")
	if err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%s: lo not up (%v)", h.Name, err)
	}
	csum, err := h.txChecksum(ifc.Name)
	if err != nil || csum != h.lab.opts.TxChecksumOffload {
		t.Errorf("%s %s: tx checksum offload %v (%v), want %v", h.Name, ifc.Name, csum, err, h.lab.opts.TxChecksumOffload)
	}
}

// checkNoIPv6 checks that IPv6 is disabled on link, if the kernel has it.
func checkNoIPv6(t *testing.T, h *Host, link string) {
	t.Helper()
	var v []byte
	err := h.Do(func() error {
		var err error
		v, err = os.ReadFile("/proc/sys/net/ipv6/conf/" + link + "/disable_ipv6")
		return err
	})
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil || strings.TrimSpace(string(v)) != "1" {
		t.Errorf("%s %s: disable_ipv6 = %q, %v; want 1", h.Name, link, v, err)
	}
}

// exchange sends a UDP datagram from a kernel socket in from to one in to,
// and a reply back, and returns the TTL the datagram arrived with.
func exchange(t *testing.T, from, to *Host) int {
	t.Helper()
	var srv, cli *net.UDPConn
	err := to.Do(func() error {
		var err error
		srv, err = net.ListenUDP("udp4", &net.UDPAddr{IP: to.Addr.Addr().AsSlice()})
		if err != nil {
			return err
		}
		rc, err := srv.SyscallConn()
		if err != nil {
			return err
		}
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_RECVTTL, 1)
		}); err != nil {
			return err
		}
		return serr
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", to.Name, err)
	}
	defer srv.Close()
	err = from.Do(func() error {
		var err error
		cli, err = net.ListenUDP("udp4", nil)
		return err
	})
	if err != nil {
		t.Fatalf("socket in %s: %v", from.Name, err)
	}
	defer cli.Close()

	deadline := time.Now().Add(5 * time.Second)
	srv.SetDeadline(deadline)
	cli.SetDeadline(deadline)
	dst := srv.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := []byte("ping " + from.Name)
	if _, err := cli.WriteToUDPAddrPort(msg, dst); err != nil {
		t.Fatalf("send from %s to %s: %v", from.Name, dst, err)
	}

	buf := make([]byte, 1500)
	oob := make([]byte, 128)
	n, oobn, _, src, err := srv.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		t.Fatalf("receive in %s: %v", to.Name, err)
	}
	if string(buf[:n]) != string(msg) || src.Addr() != from.Addr.Addr() {
		t.Errorf("%s received %q from %s, want %q from %s", to.Name, buf[:n], src, msg, from.Addr.Addr())
	}
	ttl := -1
	cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cmsgs {
		if m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TTL && len(m.Data) >= 4 {
			ttl = int(binary.NativeEndian.Uint32(m.Data))
		}
	}

	if _, err := srv.WriteToUDPAddrPort([]byte("pong"), src); err != nil {
		t.Fatalf("reply from %s: %v", to.Name, err)
	}
	n, rsrc, err := cli.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("receive reply in %s: %v", from.Name, err)
	}
	if string(buf[:n]) != "pong" || rsrc != dst {
		t.Errorf("%s received %q from %s, want \"pong\" from %s", from.Name, buf[:n], rsrc, dst)
	}
	return ttl
}

// TestSNMP reads B's UDP counters around an exchange: they belong to B's
// namespace and count what B received.
func TestSNMP(t *testing.T) {
	l := NewT(t, Options{})
	before, err := l.B.SNMP("Udp")
	if err != nil {
		t.Fatal(err)
	}
	exchange(t, l.A, l.B)
	after, err := l.B.SNMP("Udp")
	if err != nil {
		t.Fatal(err)
	}
	if got := after["InDatagrams"] - before["InDatagrams"]; got != 1 {
		t.Errorf("B's Udp InDatagrams grew by %d over one exchange, want 1", got)
	}
	if _, err := l.B.SNMP("Nope"); err == nil {
		t.Error("SNMP(Nope) succeeded")
	}
}

// TestRouterAddressesUsable: with IPv6, the router's addresses on its
// links are none of them tentative within half a second of the lab's
// building, its link-local ones included (the kernel clears the flag
// from a work queue, so not at once; with DAD it takes a second or two):
// a Linux router sends no neighbour solicitation for what it forwards
// while its link-local address is tentative, so traffic through R in
// the first second or two of a lab was lost.
func TestRouterAddressesUsable(t *testing.T) {
	l := NewT(t, Options{Router: true, IPv6: true})
	deadline := time.Now().Add(500 * time.Millisecond)
	for _, lk := range l.R.Links {
	again:
		var addrs []netlink.Addr
		if err := l.R.Netlink(func(hd *netlink.Handle) error {
			link, err := hd.LinkByName(lk.Name)
			if err != nil {
				return err
			}
			addrs, err = hd.AddrList(link, netlink.FAMILY_V6)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		linkLocal := false
		for _, a := range addrs {
			linkLocal = linkLocal || a.IP.IsLinkLocalUnicast()
			if a.Flags&unix.IFA_F_TENTATIVE != 0 {
				if time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
					goto again
				}
				t.Errorf("R's %s on %s is tentative", a.IPNet, lk.Name)
			}
		}
		if !linkLocal {
			t.Errorf("R has no link-local address on %s: %v", lk.Name, addrs)
		}
	}
}
