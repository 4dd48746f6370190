package bpf

import (
	"fmt"
	"sync"

	"github.com/cilium/ebpf/rlimit"
)

var memlock struct {
	once sync.Once
	err  error
}

// allowMaps lets this process create the programs' maps. Before 5.11 the
// kernel charged BPF maps to RLIMIT_MEMLOCK, whose default (64 KiB) is
// less than the steering program's ruleset map alone: a 5.10 guest in the
// VM lab refused it with EPERM. rlimit.RemoveMemlock raises the limit only
// on such kernels (it probes for memcg accounting first), once per
// process. A process that may not raise it (no CAP_SYS_RESOURCE) goes on
// with the limit it has, which may be enough; memlockHint says what to do
// if a load then fails.
func allowMaps() {
	memlock.once.Do(func() { memlock.err = rlimit.RemoveMemlock() })
}

// memlockHint wraps err, from a failed load, with what to do about
// RLIMIT_MEMLOCK when raising it failed.
func memlockHint(err error) error {
	if err == nil || memlock.err == nil {
		return err
	}
	return fmt.Errorf("%w (kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK, which this process could not raise: %v; run as root or with CAP_SYS_RESOURCE, or: ulimit -l unlimited)", err, memlock.err)
}
