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

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsDir is where named namespaces are bind-mounted, as by `ip netns add`
// (/var/run is a link to /run) and netns.NewNamed.
const nsDir = "/run/netns"

// createNamed creates a network namespace bind-mounted as nsDir/name and
// returns an open handle to it. The calling goroutine's namespace is not
// changed: the work happens on a locked thread of a goroutine of its own,
// which switches back to its original namespace afterwards, or, if that
// fails, exits still locked so that Go discards the thread.
func createNamed(name string) (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	c := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			c <- result{netns.None(), fmt.Errorf("open current namespace: %w", err)}
			return
		}
		defer orig.Close()

		// NewNamed unshares the thread into a new namespace and bind-mounts it.
		ns, err := netns.NewNamed(name)
		if serr := netns.Set(orig); serr != nil {
			// Stay locked: the thread is in the wrong namespace.
			if err == nil {
				ns.Close()
				err = deleteNamed(name)
			}
			c <- result{netns.None(), errors.Join(fmt.Errorf("switch back to the original namespace: %w", serr), err)}
			return
		}
		runtime.UnlockOSThread()
		if err != nil {
			// NewNamed leaves its mount point file behind when the bind
			// mount fails; a file that existed before is not ours.
			if !errors.Is(err, fs.ErrExist) {
				_ = deleteNamed(name)
			} else {
				err = fmt.Errorf("%w (a leftover? remove it with: ip netns delete %s)", err, name)
			}
			c <- result{netns.None(), err}
			return
		}
		c <- result{ns, nil}
	}()
	r := <-c
	return r.ns, r.err
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

// Sweep is SweepPrefix(DefaultPrefix).
func Sweep() error {
	return SweepPrefix(DefaultPrefix)
}

// SweepPrefix deletes the namespaces under /run/netns named
// prefix-PID-SEQ-ROLE, as New names them, whose process PID no longer
// exists (/proc/PID is missing). Namespaces of live processes, and names
// of any other shape, are left alone: SweepPrefix takes a prefix rather
// than matching every prefix so that it cannot remove another tool's
// namespaces that merely look like the lab's.
//
// A PID reused by an unrelated process keeps its namespaces until that
// process exits too.
func SweepPrefix(prefix string) error {
	entries, err := os.ReadDir(nsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: sweep: %w", err)
	}
	var errs []error
	for _, e := range entries {
		pid, ok := parseName(e.Name(), prefix)
		if !ok || alive(pid) {
			continue
		}
		if err := deleteNamed(e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("lab: sweep namespace %s of dead process %d: %w (remove it with: ip netns delete %s)",
				e.Name(), pid, err, e.Name()))
		}
	}
	return errors.Join(errs...)
}

// parseName returns the PID in a namespace name prefix-PID-SEQ-ROLE, and
// whether name has exactly that shape.
func parseName(name, prefix string) (pid int, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, false
	}
	parts := strings.Split(rest, "-")
	if len(parts) != 3 || !digits(parts[0]) || !digits(parts[1]) {
		return 0, false
	}
	switch parts[2] {
	case "a", "b", "r":
	default:
		return 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
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

// alive reports whether process pid exists. When in doubt (say /proc is
// unreadable) it answers true, so that nothing is deleted.
func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return !errors.Is(err, fs.ErrNotExist)
}

// writeSysctl writes val to the sysctl file path. Files under
// /proc/sys/net belong to the network namespace of the thread that opens
// them, so call it inside Host.Do. With optional, a missing file (say, no
// IPv6 in this kernel) is no error.
func writeSysctl(path, val string, optional bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
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
