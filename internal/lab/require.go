package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// TB is the part of testing.TB these helpers use: a *testing.T or
// *testing.B satisfies it. The package takes this instead of importing
// testing, which would put the test flags into every binary that links it.
type TB interface {
	Helper()
	Skip(args ...any)
	Skipf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Error(args ...any)
	Cleanup(func())
}

// RequireKernelEnv names the environment variable that turns the skips of
// RequireKernel into failures. CI sets FASTPATH_REQUIRE_KERNEL=1, so that a
// kernel test that cannot run fails instead of passing silently.
const RequireKernelEnv = "FASTPATH_REQUIRE_KERNEL"

// RequireKernel skips the test because what is missing; what should name
// the missing thing and how to get it ("CAP_NET_ADMIN; run as root: sudo
// make test"). When FASTPATH_REQUIRE_KERNEL=1 it fails the test instead.
func RequireKernel(tb TB, what string) {
	tb.Helper()
	if os.Getenv(RequireKernelEnv) == "1" {
		tb.Fatalf("kernel test cannot run (%s=1 makes this a failure), missing: %s", RequireKernelEnv, what)
	}
	tb.Skipf("skipping kernel test, missing: %s", what)
}

// RequireRoot calls RequireKernel unless the process runs as root with
// CAP_NET_ADMIN (netlink, veth, XDP) and CAP_SYS_ADMIN (creating,
// entering and mounting namespaces).
func RequireRoot(tb TB) {
	tb.Helper()
	if euid := os.Geteuid(); euid != 0 {
		RequireKernel(tb, fmt.Sprintf("root (euid is %d); run as root: sudo make test", euid))
		return
	}
	if missing := missingCaps(); missing != "" {
		RequireKernel(tb, missing+"; run as root with full capabilities: sudo make test")
	}
}

// missingCaps names the capabilities the lab needs that the calling thread
// lacks, or returns "" when it has them all.
func missingCaps() string {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Sprintf("capabilities (capget: %v)", err)
	}
	var missing []string
	for _, c := range []struct {
		n    uint
		name string
	}{{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}, {unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}} {
		if data[c.n/32].Effective&(1<<(c.n%32)) == 0 {
			missing = append(missing, c.name)
		}
	}
	return strings.Join(missing, " and ")
}

// NewT builds a lab for a test: it calls RequireRoot and checks that the
// kernel has network namespaces, installs (once per process) a SIGINT and
// SIGTERM handler that closes every open lab and re-raises the signal,
// and registers Close with tb.Cleanup. It fails the test if New fails, or
// skips it (see RequireKernel) if the kernel lacks a feature the lab needs.
func NewT(tb TB, opts Options) *Lab {
	tb.Helper()
	RequireRoot(tb)
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		RequireKernel(tb, "network namespaces (CONFIG_NET_NS): "+err.Error())
	}
	closeOnSignal()
	l, err := New(opts)
	if err != nil {
		if errors.Is(err, ErrNotSupported) {
			RequireKernel(tb, err.Error())
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Error(err)
		}
	})
	return l
}

var signalOnce sync.Once

// closers are closed by the signal handler before the labs: users of a
// lab's namespaces that must go first (the VM lab's QEMU).
var closers struct {
	sync.Mutex
	m map[*io.Closer]struct{}
}

// CloseOnSignal installs the handler NewT installs (SIGINT and SIGTERM
// close every open lab, then the signal is re-raised) and has it close c
// first. The returned func takes c off again; call it from c's Close.
func CloseOnSignal(c io.Closer) (forget func()) {
	closeOnSignal()
	key := &c
	closers.Lock()
	if closers.m == nil {
		closers.m = map[*io.Closer]struct{}{}
	}
	closers.m[key] = struct{}{}
	closers.Unlock()
	return func() {
		closers.Lock()
		delete(closers.m, key)
		closers.Unlock()
	}
}

// closeOnSignal installs, once, a handler for SIGINT and SIGTERM that
// closes what CloseOnSignal registered and every open lab, then restores
// the default action and re-raises the signal so that the process still
// dies of it.
func closeOnSignal() {
	signalOnce.Do(func() {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-c
			closers.Lock()
			var cs []io.Closer
			for k := range closers.m {
				cs = append(cs, *k)
			}
			closers.Unlock()
			for _, c := range cs {
				if err := c.Close(); err != nil {
					fmt.Fprintln(os.Stderr, err)
				}
			}
			if err := closeAll(); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			signal.Reset(syscall.SIGINT, syscall.SIGTERM)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		}()
	})
}
