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
// process.
func allowMaps() error {
	memlock.once.Do(func() {
		if err := rlimit.RemoveMemlock(); err != nil {
			memlock.err = fmt.Errorf("bpf: raise RLIMIT_MEMLOCK for BPF maps (kernels before 5.11 charge maps to it; run as root or with CAP_SYS_RESOURCE, or raise it: ulimit -l unlimited): %w", err)
		}
	})
	return memlock.err
}
