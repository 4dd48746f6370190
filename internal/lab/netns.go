package lab

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsDir is where named namespaces are bind-mounted, as by `ip netns add`
// (/var/run is a link to /run).
const nsDir = "/run/netns"

// threadNSPath names the network namespace of the calling thread. Unlike
// /proc/PID/task/TID/ns/net with PID and TID from getpid and gettid (as
// netns.Get builds it), it is right even when /proc belongs to another
// PID namespace than the process: there PID and TID would name another
// process's thread, or none.
const threadNSPath = "/proc/thread-self/ns/net"

// threadNS opens the network namespace of the calling thread.
func threadNS() (netns.NsHandle, error) {
	fd, err := unix.Open(threadNSPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return netns.None(), fmt.Errorf("open %s: %w", threadNSPath, err)
	}
	return netns.NsHandle(fd), nil
}

// inNS reports whether the calling thread is in the namespace ns.
func inNS(ns netns.NsHandle) (bool, error) {
	cur, err := threadNS()
	if err != nil {
		return false, err
	}
	defer cur.Close()
	var a, b unix.Stat_t
	if err := unix.Fstat(int(cur), &a); err != nil {
		return false, fmt.Errorf("stat %s: %w", threadNSPath, err)
	}
	if err := unix.Fstat(int(ns), &b); err != nil {
		return false, fmt.Errorf("stat namespace handle %d: %w", int(ns), err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino, nil
}

// switchBack moves the calling (locked) thread back into orig and checks
// that it got there. On error the caller must leave the thread locked, so
// that Go discards it when the goroutine exits.
func switchBack(orig netns.NsHandle) error {
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("switch back to the original namespace (thread discarded): %w", err)
	}
	ok, err := inNS(orig)
	if err != nil {
		return fmt.Errorf("switch back to the original namespace (thread discarded): %w", err)
	}
	if !ok {
		return errors.New("switch back to the original namespace: setns succeeded but the thread is elsewhere (thread discarded)")
	}
	return nil
}

// createNamed creates a network namespace bind-mounted as nsDir/name and
// returns an open handle to it. The calling goroutine's namespace is not
// changed: the work happens on a locked thread of a goroutine of its own,
// which switches back to its original namespace afterwards, or, if that
// fails, exits still locked so that Go discards the thread. A file
// nsDir/name that exists already is left alone and reported as
// fs.ErrExist.
func createNamed(name string) (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, back, err := createNamedHere(name)
		if back {
			runtime.UnlockOSThread()
		}
		c <- result{ns, err}
	}()
	r := <-c
	return r.ns, r.err
}

// createNamedHere is createNamed on the calling thread, which must be
// locked. back reports whether the thread is in its original namespace
// again and may be unlocked.
func createNamedHere(name string) (ns netns.NsHandle, back bool, err error) {
	orig, err := threadNS()
	if err != nil {
		return netns.None(), true, err
	}
	defer orig.Close()
	if err := os.MkdirAll(nsDir, 0o755); err != nil {
		return netns.None(), true, err
	}
	p := filepath.Join(nsDir, name)

	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		// The thread did not move.
		return netns.None(), true, fmt.Errorf("unshare: %w", err)
	}
	ns, err = func() (netns.NsHandle, error) {
		ns, err := threadNS()
		if err != nil {
			return netns.None(), err
		}
		if same, err := inNS(orig); err != nil || same {
			ns.Close()
			return netns.None(), errors.Join(errors.New("unshare succeeded but the thread is still in its original namespace"), err)
		}
		f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			// Not ours when it exists; nothing to remove otherwise.
			ns.Close()
			if errors.Is(err, fs.ErrExist) {
				err = fmt.Errorf("%w (a leftover? remove it with: ip netns delete %s)", err, name)
			}
			return netns.None(), err
		}
		f.Close()
		if err := unix.Mount(threadNSPath, p, "none", unix.MS_BIND, ""); err != nil {
			ns.Close()
			return netns.None(), errors.Join(fmt.Errorf("bind-mount %s on %s: %w", threadNSPath, p, err), deleteNamed(name))
		}
		// Check that the mount shows this namespace.
		var a, b unix.Stat_t
		serr := unix.Stat(p, &a)
		if serr == nil {
			serr = unix.Fstat(int(ns), &b)
		}
		if serr != nil || a.Dev != b.Dev || a.Ino != b.Ino {
			ns.Close()
			return netns.None(), errors.Join(fmt.Errorf("%s does not show the new namespace after mounting it", p), serr, deleteNamed(name))
		}
		return ns, nil
	}()
	if serr := switchBack(orig); serr != nil {
		if err == nil {
			ns.Close()
			err = deleteNamed(name)
		}
		return netns.None(), false, errors.Join(serr, err)
	}
	return ns, true, err
}

// deleteNamed unmounts and removes nsDir/name. A file that is not a mount
// point (left by a process that died between creating and mounting it) is
// removed too, and a missing one is no error.
func deleteNamed(name string) error {
	p := filepath.Join(nsDir, name)
	err := unix.Unmount(p, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// retired is an open descriptor that is no namespace (an eventfd).
var retired = sync.OnceValues(func() (int, error) {
	return unix.Eventfd(0, unix.EFD_CLOEXEC)
})

// retireNS closes the namespace handle ns in a way that keeps its number
// taken: the number is made to refer to a descriptor that is no namespace,
// so that a copy of ns kept past Close (Host.NS is exported) fails setns
// with EINVAL instead of naming whatever the number would otherwise be
// reused for, possibly the caller's own namespace. This costs one entry
// in the descriptor table per namespace, and no kernel object.
func retireNS(ns netns.NsHandle) error {
	if !ns.IsOpen() {
		return nil
	}
	fd, err := retired()
	if err == nil {
		err = unix.Dup3(fd, int(ns), unix.O_CLOEXEC)
	}
	if err != nil {
		// Fall back to closing it.
		return ns.Close()
	}
	return nil
}

// owner identifies a process across PID namespaces sharing /run/netns:
// its PID in its own PID namespace, its start time and the inode of its
// PID namespace (as in `readlink /proc/PID/ns/pid`).
//
// The start time is field 22 of /proc/PID/stat, in clock ticks after
// boot, less the boottime offset of the reader's time namespace, which
// the kernel adds to that field: so normalised, it is the same for every
// reader, give or take one tick of rounding.
type owner struct {
	pid   int
	start uint64
	pidns uint64
}

// self returns this process's owner.
var self = sync.OnceValues(func() (owner, error) {
	o := owner{pid: os.Getpid()}
	st, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		return owner{}, fmt.Errorf("lab: identify this process: %w", err)
	}
	o.pidns = st.Sys().(*syscall.Stat_t).Ino
	// /proc/self is this process in whatever PID namespace /proc belongs
	// to, so its start time is ours.
	if o.start, err = startTime("self"); err != nil {
		return owner{}, fmt.Errorf("lab: identify this process: %w", err)
	}
	return o, nil
})

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, which is
// sysconf(_SC_CLK_TCK)): 100 on every architecture Go supports.
const userHZ = 100

// boottimeOffset returns the boottime offset of this process's time
// namespace in clock ticks, rounded down; zero without time namespaces.
var boottimeOffset = sync.OnceValues(func() (int64, error) {
	b, err := os.ReadFile("/proc/self/timens_offsets")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil // no CONFIG_TIME_NS
	}
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "boottime" {
			continue
		}
		sec, err1 := strconv.ParseInt(f[1], 10, 64)
		nsec, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			break
		}
		const nsPerTick = 1e9 / userHZ
		ns := sec*1e9 + nsec
		t := ns / nsPerTick
		if ns%nsPerTick < 0 {
			t-- // round down
		}
		return t, nil
	}
	return 0, fmt.Errorf("/proc/self/timens_offsets: no boottime offset in %q", b)
})

// startTime returns the normalised start time (see owner) of process pid
// ("self" or a number), from field 22 of /proc/PID/stat.
func startTime(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// Field 2, the command, is in parentheses and may hold anything, ')'
	// and spaces included; field 3 follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%s/stat: malformed", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	const idx = 22 - 3
	if len(f) <= idx {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields after the command, want more than %d", pid, len(f), idx)
	}
	v, err := strconv.ParseUint(f[idx], 10, 63)
	if err != nil {
		return 0, fmt.Errorf("/proc/%s/stat: start time: %w", pid, err)
	}
	off, err := boottimeOffset()
	if err != nil {
		return 0, err
	}
	return uint64(max(int64(v)-off, 0)), nil
}

// procIsOurs reports whether /proc belongs to this process's PID
// namespace, so that /proc/PID means the PID of a name. The NSpid line of
// /proc/self/status lists the process's PID in every PID namespace from
// the one /proc belongs to down to its own: exactly one entry, equal to
// getpid, means they are the same.
func procIsOurs() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			return len(f) == 1 && f[0] == strconv.Itoa(os.Getpid())
		}
	}
	return false
}

// nsName returns the name of the namespace of role in lab number seq of
// the process o: prefix-PID-START-PIDNS-SEQ-ROLE.
func nsName(prefix string, o owner, seq uint64, role string) string {
	return fmt.Sprintf("%s-%d-%d-%d-%d-%s", prefix, o.pid, o.start, o.pidns, seq, role)
}

// Sweep is SweepPrefix(DefaultPrefix).
func Sweep() error {
	return SweepPrefix(DefaultPrefix)
}

// SweepPrefix deletes the namespaces under /run/netns named
// prefix-PID-START-PIDNS-SEQ-ROLE, as New names them, whose creating
// process is positively known to be dead: PIDNS is this process's PID
// namespace, /proc belongs to it too, and /proc/PID is missing or shows
// another start time than START (the PID was reused; a reuse within a
// tick or two of the first start goes unnoticed and keeps the namespace). Everything else is
// left alone: namespaces of live processes, of processes in other PID
// namespaces (say, a container sharing /run/netns with the host, or the
// host seen from such a container), every name when /proc belongs to
// another PID namespace, and names of any other shape (including those
// of older versions, prefix-PID-SEQ-ROLE). SweepPrefix takes a prefix
// rather than matching every prefix so that it cannot remove another
// tool's namespaces that merely look like the lab's.
func SweepPrefix(prefix string) error {
	me, err := self()
	if err != nil {
		return fmt.Errorf("lab: sweep: %w", err)
	}
	entries, err := os.ReadDir(nsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: sweep: %w", err)
	}
	if !procIsOurs() {
		return nil
	}
	var errs []error
	for _, e := range entries {
		o, ok := parseName(e.Name(), prefix)
		if !ok || !dead(o, me) {
			continue
		}
		if err := deleteNamed(e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("lab: sweep namespace %s of dead process %d: %w (remove it with: ip netns delete %s)",
				e.Name(), o.pid, err, e.Name()))
		}
	}
	return errors.Join(errs...)
}

// dead reports whether the process o is known to be dead, as seen by the
// process me, whose /proc belongs to its own PID namespace. When in doubt
// it answers false, so that nothing is deleted.
func dead(o, me owner) bool {
	if o.pidns != me.pidns {
		return false
	}
	st, err := startTime(strconv.Itoa(o.pid))
	switch {
	case err == nil:
		// Another start time: the PID was reused. Normalising may round
		// differently in different time namespaces, by one tick.
		return st > o.start+1 || o.start > st+1
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ESRCH):
		return true
	default:
		return false
	}
}

// parseName returns the owner in a namespace name
// prefix-PID-START-PIDNS-SEQ-ROLE, and whether name has exactly that
// shape.
func parseName(name, prefix string) (o owner, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return owner{}, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 5 {
		return owner{}, false
	}
	var n [4]uint64
	for i := range n {
		if !digits(parts[i]) {
			return owner{}, false
		}
		v, err := strconv.ParseUint(parts[i], 10, 64)
		if err != nil {
			return owner{}, false
		}
		n[i] = v
	}
	switch role := parts[4]; {
	case role == "a", role == "b", role == "r":
	case len(role) >= 2 && role[0] == 'm' && digits(role[1:]): // Options.More
	default:
		return owner{}, false
	}
	if n[0] == 0 || n[0] > 1<<31-1 || n[2] == 0 {
		return owner{}, false
	}
	return owner{pid: int(n[0]), start: n[1], pidns: n[2]}, true
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// writeSysctl writes val to /proc/sys/key. Files under /proc/sys/net
// belong to the network namespace of the thread that opens them; this
// opens it on the calling thread, so call it only through
// Host.writeSysctl, which runs it inside Host.Do. Only net/ keys are
// accepted: the others are not per namespace. With optional, a missing
// file (say, no IPv6 in this kernel) is no error.
func writeSysctl(key, val string, optional bool) error {
	if !strings.HasPrefix(key, "net/") || strings.Contains(key, "..") {
		return fmt.Errorf("sysctl %s: not a network namespace's", key)
	}
	f, err := os.OpenFile("/proc/sys/"+key, os.O_WRONLY, 0)
	if optional && errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = f.WriteString(val)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
