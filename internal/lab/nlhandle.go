package lab

import (
	"reflect"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A netlink.Handle sends each request through its socket of the request's
// netlink family. When it has none, because it was closed (Close empties
// it) or because it was opened for other families, netlink opens a
// socket in the namespace of the calling thread instead, which is
// normally the host's own namespace: a request meant for a lab namespace,
// such as LinkSetDown of ifindex 2, would then act on the host's devices.
//
// The lab's handles therefore never lose their sockets. newNSHandle fills
// every family but NETLINK_ROUTE with a closed socket, and seal, which
// Close uses instead of netlink.Handle.Close, closes the sockets but
// leaves them in the handle: from then on every request through the
// handle fails ("use of closed file") and none can reach
// any namespace.
//
// netlink.Handle keeps its sockets in an unexported map; handleSockets
// finds it by reflection and checks its type, so that a netlink release
// that changes it makes sealing unavailable (see sealable) rather than
// unsafe. TestHandleSealable fails then.

// maxNetlinkFamilies is the kernel's number of netlink protocols
// (MAX_LINKS in include/uapi/linux/netlink.h).
const maxNetlinkFamilies = 32

// socketsOffset is the offset of netlink.Handle's socket map, valid if
// sealable.
var socketsOffset, sealable = func() (uintptr, bool) {
	f, ok := reflect.TypeFor[netlink.Handle]().FieldByName("sockets")
	if !ok || f.Type != reflect.TypeFor[map[int]*nl.SocketHandle]() {
		return 0, false
	}
	return f.Offset, true
}()

// handleSockets returns hd's socket map, or nil if !sealable.
func handleSockets(hd *netlink.Handle) map[int]*nl.SocketHandle {
	if !sealable || hd == nil {
		return nil
	}
	return *(*map[int]*nl.SocketHandle)(unsafe.Add(unsafe.Pointer(hd), socketsOffset))
}

// newNSHandle opens a NETLINK_ROUTE handle in the calling thread's
// namespace (call it inside Host.Do) whose requests of every other family
// fail rather than go to the calling thread's namespace.
func newNSHandle() (*netlink.Handle, error) {
	hd, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	m := handleSockets(hd)
	if m == nil {
		return hd, nil
	}
	// With both None, GetNetlinkSocketAt opens the socket on the calling
	// thread without switching namespaces.
	s, err := nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		hd.Close()
		return nil, err
	}
	s.Close()
	for fam := range maxNetlinkFamilies {
		if _, ok := m[fam]; !ok {
			m[fam] = &nl.SocketHandle{Socket: s}
		}
	}
	return hd, nil
}

// seal closes hd's sockets but leaves them in hd, so that every later
// request through hd fails. It reports false, doing nothing, if !sealable:
// then hd must be left open, bound to its namespace, for as long as the
// process runs.
func seal(hd *netlink.Handle) bool {
	m := handleSockets(hd)
	if m == nil {
		return false
	}
	for _, sh := range m {
		// os.File.Close: requests in flight fail, and the descriptor
		// number is released only once none uses it any more.
		sh.Close()
	}
	return true
}
