package xsk

import (
	"errors"

	"github.com/fastpathnet/fastpath/umem"
)

// Sentinel errors. An error for one of these causes matches the sentinel
// and, where there is one, the errno with errors.Is. Messages say what to do.
var (
	// ErrPermission: a capability is missing (see umem.ErrPermission).
	ErrPermission = umem.ErrPermission
	// ErrNotSupported: the kernel has no AF_XDP.
	ErrNotSupported = umem.ErrNotSupported
	// ErrOptions: an Options field is out of range.
	ErrOptions = umem.ErrOptions
	// ErrNoDevice: the device does not exist in this network namespace.
	ErrNoDevice = errors.New("no such device in this network namespace (list them with: ip link show)")
	// ErrDeviceDown: the device is administratively down.
	ErrDeviceDown = errors.New("device is down")
	// ErrQueueRange: the queue number is not below the device's queue count.
	ErrQueueRange = errors.New("queue out of range")
	// ErrBusy: another AF_XDP socket is bound to the queue.
	ErrBusy = errors.New("queue busy")
	// ErrZeroCopyUnsupported: the driver cannot do zero-copy AF_XDP.
	ErrZeroCopyUnsupported = errors.New("zero-copy not supported by the driver: use mode copy, or auto, which falls back to copy")
	// ErrMTU: the device's MTU does not fit a frame.
	ErrMTU = errors.New("MTU too large for the frame size")
	// ErrClosed: the socket was closed.
	ErrClosed = errors.New("socket closed")
	// ErrTXWakeup: the driver refused every TX wakeup and nothing was
	// sent. Socket.KickErr reports it.
	ErrTXWakeup = errors.New("the driver refused the TX wakeup and sent nothing")
	// ErrDeviceGone: the device the socket was bound to was unregistered
	// (hot-unplugged, its driver unbound, its namespace deleted); the
	// socket moves no more frames. Socket.Err reports it.
	ErrDeviceGone = errors.New("the device went away (unplugged, or its driver or namespace removed): the socket is unbound; open a new one once the device is back")
)
