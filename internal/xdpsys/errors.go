package xdpsys

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Sentinel errors, which umem and xsk export under the same names. Each
// error Errno returns for one of these causes matches both the sentinel
// and the errno with errors.Is.
var (
	// ErrPermission: the process lacks a capability. AF_XDP sockets need
	// CAP_NET_RAW; pinning the UMEM beyond RLIMIT_MEMLOCK needs CAP_IPC_LOCK;
	// attaching XDP programs needs CAP_NET_ADMIN and CAP_BPF.
	ErrPermission = errors.New("missing privilege: run as root, or grant cap_net_raw,cap_net_admin,cap_bpf,cap_perfmon,cap_ipc_lock (setcap or systemd AmbientCapabilities)")
	// ErrNotSupported: the kernel has no AF_XDP (CONFIG_XDP_SOCKETS).
	ErrNotSupported = errors.New("AF_XDP not supported by this kernel: it needs CONFIG_XDP_SOCKETS=y (Linux 5.4 or newer; need_wakeup 5.4, shared UMEM across queues 5.10)")
)

// Errno wraps a system call's errno with what fastpath knows about it, so
// that messages say what to do.
func Errno(op string, errno error) error {
	switch {
	case errors.Is(errno, unix.EPERM), errors.Is(errno, unix.EACCES):
		return fmt.Errorf("%s: %w: %w", op, errno, ErrPermission)
	case errors.Is(errno, unix.EAFNOSUPPORT):
		return fmt.Errorf("%s: %w: %w", op, errno, ErrNotSupported)
	}
	return fmt.Errorf("%s: %w", op, errno)
}
