package umem

import (
	"errors"

	"github.com/fastpathnet/fastpath/internal/xdpsys"
)

// Sentinel errors. Each error returned for one of these causes matches both
// the sentinel and the underlying errno with errors.Is.
var (
	// ErrPermission: the process lacks a capability. AF_XDP sockets need
	// CAP_NET_RAW; pinning the UMEM beyond RLIMIT_MEMLOCK needs CAP_IPC_LOCK;
	// attaching XDP programs needs CAP_NET_ADMIN and CAP_BPF.
	ErrPermission = xdpsys.ErrPermission
	// ErrNotSupported: the kernel has no AF_XDP (CONFIG_XDP_SOCKETS).
	ErrNotSupported = xdpsys.ErrNotSupported
	// ErrMemlock: registering the UMEM exceeds RLIMIT_MEMLOCK.
	ErrMemlock = errors.New("UMEM exceeds the locked-memory limit: raise it (ulimit -l unlimited, LimitMEMLOCK=infinity) or grant CAP_IPC_LOCK")
	// ErrOptions: an Options field is out of range.
	ErrOptions = errors.New("invalid options")
	// ErrTXMetadata: the kernel refused TX metadata (Options.TXMetadataLen,
	// TXSoftwareChecksum), which needs Linux 6.8 or newer.
	ErrTXMetadata = errors.New("AF_XDP TX metadata not supported by this kernel (Linux 6.8 or newer)")
)
