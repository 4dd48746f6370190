package vmlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// Model is the QEMU device model of a guest NIC.
type Model string

// The NIC models the lab offers: virtio-net (zero-copy AF_XDP with
// iommu_platform), igb (an Intel driver with zero-copy), and e1000e (a
// driver without XDP zero-copy).
const (
	Virtio Model = "virtio-net-pci"
	IGB    Model = "igb"
	E1000E Model = "e1000e"
)

// NIC is one guest network card. The guest names them eth0, eth1, ... in
// the order of Config.NICs.
type NIC struct {
	Model Model
	// Queues is the number of queue pairs (virtio-net only; igb and e1000e
	// have theirs fixed by the model). Zero means 1.
	Queues int
	// Wire names the segment the NIC is plugged into: NICs with the same
	// Wire are joined back to back (a bridge in the lab's host namespace).
	Wire string
	// NoIOMMU leaves virtio-net's iommu_platform off: the driver then
	// advertises zero-copy but the bind fails (a fact tests check).
	NoIOMMU bool
}

// Config is one VM.
type Config struct {
	Kernel Files
	// CPUs and MemoryMB default to 2 and 2048.
	CPUs     int
	MemoryMB int
	NICs     []NIC
	// PeerWire plugs the lab's host namespace B (a veth, 198.18.0.2/24)
	// into that wire, so a host-side peer sees the guest's NIC.
	PeerWire string
	// Console receives the guest's serial console as it comes.
	Console io.Writer
}

// Job is what the guest runs once booted: Args, run from the job folder
// (Dir, shared read-write at /run/vmlab/job), with Env added.
type Job struct {
	Dir  string
	Args []string
	Env  []string
}

// GuestJobDir is where the job folder appears inside the guest.
const GuestJobDir = "/run/vmlab/job"

// Result is how a job ended.
type Result struct {
	ExitCode int           // of Args; -1 if the guest never wrote one
	Boot     time.Duration // start of QEMU to the job's first line
	Elapsed  time.Duration // start of QEMU to its exit
}

// VM is a running guest.
type VM struct {
	cfg     Config
	job     Job
	lab     *lab.Lab
	cmd     *exec.Cmd
	start   time.Time
	booted  time.Time
	done    chan struct{}
	waitErr error

	hung   atomic.Bool
	forget func() // takes the VM off the signal handler's list

	closeOnce sync.Once
	mu        sync.Mutex
	qmp       *qmp
}

// ErrQEMU is wrapped into errors from a missing or failing QEMU.
var ErrQEMU = errors.New("vmlab: qemu")

// QEMU is the emulator the lab runs.
var QEMU = "qemu-system-x86_64"

// Start builds the lab's host namespace (bridges and taps for the NICs'
// wires), the initramfs, and starts QEMU, which boots the kernel and runs
// job. Close (or the end of ctx) stops it and removes everything.
func Start(ctx context.Context, cfg Config, job Job) (vm *VM, err error) {
	if _, err := exec.LookPath(QEMU); err != nil {
		return nil, fmt.Errorf("%w: %s not found: install qemu-system-x86 (10.0 from bookworm-backports for igb)", ErrQEMU, QEMU)
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	if cfg.MemoryMB == 0 {
		cfg.MemoryMB = 2048
	}
	if job.Dir == "" || len(job.Args) == 0 {
		return nil, errors.New("vmlab: a job needs a folder and a command")
	}
	if err := writeRunScript(job); err != nil {
		return nil, err
	}
	initrd := filepath.Join(job.Dir, ".initramfs.cpio")
	if err := writeInitramfs(ctx, cfg.Kernel, initrd); err != nil {
		return nil, err
	}
	l, err := lab.New(lab.Options{Prefix: "fp"})
	if err != nil {
		return nil, err
	}
	vm = &VM{cfg: cfg, job: job, lab: l, done: make(chan struct{})}
	defer func() {
		if err != nil {
			vm.Close()
			vm = nil
		}
	}()
	if err := vm.wire(); err != nil {
		return nil, err
	}
	args := vm.qemuArgs(initrd)
	vm.cmd = l.A.Command(context.Background(), QEMU, args...)
	vm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := vm.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	vm.cmd.Stderr = vm.cmd.Stdout
	vm.start = time.Now()
	if err := vm.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start: %v", ErrQEMU, err)
	}
	// SIGINT and SIGTERM kill QEMU and remove the lab (from here on Close
	// has all it needs).
	vm.forget = lab.CloseOnSignal(vm)
	go vm.console(out)
	go vm.watchPowerOff()
	go func() {
		select {
		case <-ctx.Done():
			vm.kill()
		case <-vm.done:
		}
	}()
	return vm, nil
}

func writeInitramfs(ctx context.Context, f Files, name string) error {
	out, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 1<<20)
	if err := BuildInitramfs(ctx, f, w); err != nil {
		out.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeRunScript writes the job's run.sh, which the guest's init hands
// over to: it finishes the guest's set-up, runs the job with its output
// on the console and in the job folder, records the exit code, and powers
// the guest off.
func writeRunScript(job Job) error {
	var b strings.Builder
	b.WriteString("#!/bin/sh\n")
	b.WriteString("mount -t bpf bpf /sys/fs/bpf 2>/dev/null\n")
	b.WriteString("mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null\n")
	b.WriteString("ip link set lo up\n")
	b.WriteString("export HOME=/root PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")
	for _, e := range job.Env {
		b.WriteString("export " + ShellQuote(e) + "\n")
	}
	b.WriteString("cd " + GuestJobDir + "\n")
	b.WriteString("echo vmlab: job start\n")
	var q []string
	for _, a := range job.Args {
		q = append(q, ShellQuote(a))
	}
	b.WriteString("{ " + strings.Join(q, " ") + "; echo $? > rc.tmp; } 2>&1 | tee out\n")
	b.WriteString("mv rc.tmp rc\nsync\necho o > /proc/sysrq-trigger\nwhile :; do :; done\n")
	os.Remove(filepath.Join(job.Dir, "rc"))
	return os.WriteFile(filepath.Join(job.Dir, "run.sh"), []byte(b.String()), 0o755)
}

// ShellQuote quotes s for a POSIX shell: the job script is one.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Tap and bridge names in the lab's host namespace.
func tapName(i int) string       { return "fptap" + strconv.Itoa(i) }
func bridgeName(w string) string { return "fpbr-" + w }

// wire creates, in the lab's namespace A, a bridge for every wire and a
// persistent tap for every NIC plugged into it; QEMU (run in A) attaches
// to the taps by name. PeerWire's bridge takes A's end of the lab's veth,
// whose other end is B.
func (vm *VM) wire() error {
	a := vm.lab.A
	bridges := map[string]*netlink.Bridge{}
	hd := a.Handle()
	bridge := func(w string) (*netlink.Bridge, error) {
		if br, ok := bridges[w]; ok {
			return br, nil
		}
		if len(bridgeName(w)) >= unix.IFNAMSIZ {
			return nil, fmt.Errorf("vmlab: wire name %q too long", w)
		}
		attrs := netlink.NewLinkAttrs()
		attrs.Name = bridgeName(w)
		br := &netlink.Bridge{LinkAttrs: attrs}
		if err := hd.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("vmlab: add bridge %s: %w", attrs.Name, err)
		}
		if err := hd.LinkSetUp(br); err != nil {
			return nil, err
		}
		bridges[w] = br
		return br, nil
	}
	for i, n := range vm.cfg.NICs {
		if n.Wire == "" {
			return fmt.Errorf("vmlab: NIC %d has no wire", i)
		}
		br, err := bridge(n.Wire)
		if err != nil {
			return err
		}
		name := tapName(i)
		if err := a.Do(func() error { return makeTap(name, n.queues() > 1) }); err != nil {
			return err
		}
		tap, err := hd.LinkByName(name)
		if err != nil {
			return err
		}
		if err := hd.LinkSetMaster(tap, br); err != nil {
			return fmt.Errorf("vmlab: %s into %s: %w", name, br.Name, err)
		}
		if err := hd.LinkSetUp(tap); err != nil {
			return err
		}
	}
	if w := vm.cfg.PeerWire; w != "" {
		br, ok := bridges[w]
		if !ok {
			return fmt.Errorf("vmlab: peer wire %q has no NIC", w)
		}
		veth, err := hd.LinkByName(a.Link)
		if err != nil {
			return err
		}
		addrs, _ := hd.AddrList(veth, netlink.FAMILY_ALL)
		for _, ad := range addrs {
			_ = hd.AddrDel(veth, &ad)
		}
		if err := hd.LinkSetMaster(veth, br); err != nil {
			return fmt.Errorf("vmlab: %s into %s: %w", a.Link, br.Name, err)
		}
	}
	return nil
}

// makeTap creates a persistent tap device in the calling thread's
// namespace, multiqueue if asked (QEMU's queues= must then be above 1).
func makeTap(name string, multi bool) error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("vmlab: open /dev/net/tun: %w (modprobe tun)", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if multi {
		flags |= unix.IFF_MULTI_QUEUE
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("vmlab: create tap %s: %w", name, err)
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, 1); err != nil {
		return fmt.Errorf("vmlab: make tap %s persistent: %w", name, err)
	}
	return nil
}

func (n NIC) queues() int {
	if n.Queues < 1 || n.Model != Virtio {
		return 1
	}
	return n.Queues
}

// MAC returns the hardware address of NIC i: 52:54:00:fa:57:0i (QEMU's
// prefix).
func MAC(i int) net.HardwareAddr { return net.HardwareAddr{0x52, 0x54, 0x00, 0xfa, 0x57, byte(i)} }

func (vm *VM) qemuArgs(initrd string) []string {
	c := vm.cfg
	args := []string{
		"-M", "q35", "-accel", "tcg,thread=multi", "-cpu", "max",
		"-smp", strconv.Itoa(c.CPUs), "-m", strconv.Itoa(c.MemoryMB),
		"-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
		"-serial", "stdio",
		"-kernel", c.Kernel.Vmlinuz, "-initrd", initrd,
		"-append", "console=ttyS0 quiet loglevel=4 panic=-1 net.ifnames=0 biosdevname=0 mitigations=off",
		"-fsdev", "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap",
		"-device", "virtio-9p-pci,fsdev=host,mount_tag=host",
		"-fsdev", "local,id=job,path=" + vm.job.Dir + ",security_model=none",
		"-device", "virtio-9p-pci,fsdev=job,mount_tag=job",
		"-qmp", "unix:" + vm.qmpPath() + ",server=on,wait=off",
	}
	for i, n := range c.NICs {
		port := "rp" + strconv.Itoa(i)
		args = append(args, "-device", fmt.Sprintf("pcie-root-port,id=%s,chassis=%d", port, i+1))
		q := n.queues()
		netdev := fmt.Sprintf("tap,id=net%d,ifname=%s,script=no,downscript=no,vhost=off", i, tapName(i))
		if q > 1 {
			netdev += ",queues=" + strconv.Itoa(q)
		}
		args = append(args, "-netdev", netdev)
		dev := fmt.Sprintf("%s,id=nic%d,netdev=net%d,bus=%s,mac=%s,romfile=", n.Model, i, i, port, MAC(i))
		if n.Model == Virtio {
			dev += ",disable-legacy=on"
			if !n.NoIOMMU {
				dev += ",iommu_platform=on"
			}
			if q > 1 {
				dev += fmt.Sprintf(",mq=on,vectors=%d", 2*q+2)
			}
		}
		args = append(args, "-device", dev)
	}
	return args
}

func (vm *VM) qmpPath() string { return filepath.Join(vm.job.Dir, ".qmp.sock") }

// console copies the guest's console to Config.Console, notes when the
// job started, serves the guest's requests (see serveRequests), and
// records QEMU's exit.
func (vm *VM) console(out io.Reader) {
	stop := make(chan struct{})
	go vm.serveRequests(stop)
	s := bufio.NewScanner(out)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if vm.booted.IsZero() && strings.Contains(line, "vmlab: job start") {
			vm.booted = time.Now()
		}
		if vm.cfg.Console != nil {
			fmt.Fprintln(vm.cfg.Console, line)
		}
	}
	vm.waitErr = vm.cmd.Wait()
	close(stop)
	close(vm.done)
}

// PowerOffGrace is how long a guest that has written its exit code gets to
// power off before QEMU is killed: the result is in, and a guest kernel
// that oopses on the way down (seen: 7.3.4 after a hot-unplug) would
// otherwise hold the run until its deadline.
var PowerOffGrace = 20 * time.Second

// watchPowerOff kills QEMU once the job's exit code has been written and
// the guest has not powered off within PowerOffGrace.
func (vm *VM) watchPowerOff() {
	rc := filepath.Join(vm.job.Dir, "rc")
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-vm.done:
			return
		case <-t.C:
		}
		if _, err := os.Stat(rc); err != nil {
			continue
		}
		select {
		case <-vm.done:
		case <-time.After(PowerOffGrace):
			vm.hung.Store(true)
			vm.kill()
		}
		return
	}
}

// HungAtPowerOff reports whether the guest had to be killed after its job
// ended (see PowerOffGrace); the console says why.
func (vm *VM) HungAtPowerOff() bool { return vm.hung.Load() }

// Wait waits for the guest to power off and returns the job's result.
func (vm *VM) Wait() (Result, error) {
	<-vm.done
	r := Result{ExitCode: -1, Elapsed: time.Since(vm.start)}
	if !vm.booted.IsZero() {
		r.Boot = vm.booted.Sub(vm.start)
	}
	b, err := os.ReadFile(filepath.Join(vm.job.Dir, "rc"))
	if err != nil {
		return r, fmt.Errorf("%w: the guest powered off without the job's exit code (QEMU: %v); see its console", ErrQEMU, vm.waitErr)
	}
	r.ExitCode, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return r, fmt.Errorf("vmlab: job exit code %q", b)
	}
	return r, nil
}

func (vm *VM) kill() {
	if vm.cmd != nil && vm.cmd.Process != nil {
		_ = vm.cmd.Process.Kill()
	}
}

// Close stops QEMU if it still runs and removes the lab's namespaces
// (which takes the taps and bridges with them). It is safe to call twice.
func (vm *VM) Close() error {
	var err error
	vm.closeOnce.Do(func() {
		if vm.cmd != nil && vm.cmd.Process != nil {
			vm.kill()
			select {
			case <-vm.done:
			case <-time.After(10 * time.Second):
				err = fmt.Errorf("%w: did not exit after SIGKILL", ErrQEMU)
			}
		}
		vm.mu.Lock()
		if vm.qmp != nil {
			vm.qmp.close()
		}
		vm.mu.Unlock()
		if vm.lab != nil {
			err = errors.Join(err, vm.lab.Close())
		}
		os.Remove(filepath.Join(vm.job.Dir, ".initramfs.cpio"))
		if vm.forget != nil {
			vm.forget()
		}
	})
	return err
}

// Lab returns the host-side lab: namespace A holds QEMU, its taps and
// bridges; B is the peer on Config.PeerWire.
func (vm *VM) Lab() *lab.Lab { return vm.lab }
