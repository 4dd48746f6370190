// Package nsexec runs a function inside a named network namespace, on a
// thread of its own, as `ip netns exec NAME` runs a command: the port
// layer opens devices there, and the veth package asks about a peer there.
package nsexec

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Run runs fn on a locked OS thread inside the named network namespace
// (as `ip netns exec NAME` would), or in the current one when name is "".
// If the thread cannot be switched back it is discarded, never reused.
func Run(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// /proc/thread-self, not netns.Get's /proc/PID/task/TID: under a
		// PID namespace with another /proc, those name another process.
		orig, err := netns.GetFromPath("/proc/thread-self/ns/net")
		if err != nil {
			errc <- fmt.Errorf("netns: current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(name)
		if err != nil {
			errc <- fmt.Errorf("netns %s: %w (list them with: ip netns list)", name, err)
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("netns %s: enter: %w", name, err)
			return // the thread may be half-switched: let it die locked
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("netns %s: leave: %w", name, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
