package port

import "github.com/fastpathnet/fastpath/internal/nsexec"

// InNetns runs fn on a locked OS thread inside the named network namespace
// (as `ip netns exec NAME` would), or in the current one when name is "".
// If the thread cannot be switched back it is discarded, never reused.
func InNetns(name string, fn func() error) error { return nsexec.Run(name, fn) }
