package main

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"

	"github.com/fastpathnet/fastpath/ether"
	"github.com/fastpathnet/fastpath/gen"
	"github.com/fastpathnet/fastpath/internal/ethtool"
	"github.com/fastpathnet/fastpath/internal/lab"
	"golang.org/x/sys/unix"
)

// Every receiver is counted at the same point, outside it, whatever it
// reports about itself (which the samples keep beside, as OwnPPS):
//
//   - txonly: the frames the drop program in B counted (the XDP program
//     in front of B's stack, the same for every sender);
//   - rxdrop: for the AF_XDP systems, the frames B's device placed on an
//     AF_XDP socket's RX ring (its XDP redirect counter: veth's
//     rx_queue_N_xdp_redirect, virtio-net's rx_queue_N_xdp_redirects; a
//     redirect into a full ring fails and counts as a drop instead); for
//     the kernel, the datagrams its UDP handed to the socket's reader (Udp
//     InDatagrams in B's namespace, counted as recvmsg returns them);
//   - l2fwd: the frames B's device transmitted (its tx_packets; counting
//     them where they arrive, at A, fails where A's queue is bound in
//     zero-copy mode and its driver drops what it receives).
//
// Rates are counted over a window inside the sender's run, opened the
// same way for every system (when the count first moves, plus 0.3 s), on
// the harness's clock: never divided by any program's own time.

// ending is a goroutine's end, which any number of waiters may watch:
// done closes when it has returned, and err is then what it returned.
// (A channel of one error, read by whoever looks first, left the next
// reader waiting for ever: the VM lab's l2fwd stalled there when its
// receiver ended before it was ready.)
type ending struct {
	done chan struct{}
	err  error
}

// start runs f on a goroutine of its own.
func start(f func() error) *ending {
	e := &ending{done: make(chan struct{})}
	go func() {
		e.err = f()
		close(e.done)
	}()
	return e
}

// wait waits for the end and returns f's error.
func (e *ending) wait() error {
	<-e.done
	return e.err
}

// counter reads one counting point.
type counter func() (uint64, error)

// bounded makes c give up after d: a read of a device's counters (a
// netlink request, an ethtool ioctl) that hangs in the kernel fails the
// sample instead of stalling the run. The stuck read is left behind.
func bounded(c counter, what string, d time.Duration) counter {
	type result struct {
		n   uint64
		err error
	}
	return func() (uint64, error) {
		done := make(chan result, 1)
		go func() {
			n, err := c()
			done <- result{n, err}
		}()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case r := <-done:
			return r.n, r.err
		case <-t.C:
			return 0, fmt.Errorf("reading %s took over %v", what, d)
		}
	}
}

// redirected is B's device's XDP redirect counter, summed over its queues:
// veth's rx_queue_N_xdp_redirect, virtio-net's rx_queue_N_xdp_redirects
// (before Linux 6.10) or rxN_xdp_redirects; the device-wide
// rx_xdp_redirects where it gives no per-queue one.
func redirected(h *lab.Host) counter {
	return bounded(func() (uint64, error) {
		var st map[string]uint64
		err := h.Do(func() (err error) {
			st, err = ethtool.Stats(h.Link)
			return err
		})
		if err != nil {
			return 0, err
		}
		var queues, total uint64
		var perQueue, whole bool
		for k, v := range st {
			switch {
			case redirectQueue.MatchString(k):
				queues += v
				perQueue = true
			case k == "rx_xdp_redirect" || k == "rx_xdp_redirects":
				total = v
				whole = true
			}
		}
		switch {
		case perQueue:
			return queues, nil
		case whole:
			return total, nil
		}
		return 0, fmt.Errorf("%s reports no XDP redirect counter (ethtool -S): the AF_XDP receivers cannot be counted at the device", h.Link)
	}, h.Link+"'s statistics (ethtool -S)", 5*time.Second)
}

// redirectQueue matches a per-queue XDP redirect counter's name.
var redirectQueue = regexp.MustCompile(`^rx_?(queue_)?[0-9]+_xdp_redirects?$`)

// udpDelivered is the datagrams h's kernel delivered to UDP sockets.
func udpDelivered(h *lab.Host) counter {
	return func() (uint64, error) {
		m, err := h.SNMP("Udp")
		if err != nil {
			return 0, err
		}
		return m["InDatagrams"], nil
	}
}

// linkSent is the frames h's device transmitted (tx_packets).
func linkSent(h *lab.Host) counter {
	return bounded(func() (uint64, error) {
		lk, err := h.Handle().LinkByIndex(h.Index)
		if err != nil {
			return 0, err
		}
		if st := lk.Attrs().Statistics; st != nil {
			return st.TxPackets, nil
		}
		return 0, fmt.Errorf("%s: no link statistics", h.Link)
	}, h.Link+"'s link statistics (netlink)", 5*time.Second)
}

// rate counts c over the window inside a run of length d that has just
// started: it waits for c to move by a batch (windowOpens frames: a late
// readiness probe, one frame, does not open it; at most d+15 s, or until
// done reports the run over), then 0.3 s, then counts for d less 0.9 s.
// It returns the frames per second of that window.
func rate(c counter, d time.Duration, done <-chan struct{}) (float64, error) {
	base, err := c()
	if err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(d + 15*time.Second); ; {
		cur, err := c()
		if err != nil {
			return 0, err
		}
		if cur >= base+windowOpens {
			break
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the count moved by %d, not a batch of %d", cur-base, windowOpens)
		}
		select {
		case <-done:
			return 0, errors.New("the run ended before a batch was counted")
		default:
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	before, err := c()
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	time.Sleep(d - 900*time.Millisecond)
	after, err := c()
	window := time.Since(t0)
	if err != nil {
		return 0, err
	}
	if after == before {
		// Counted once, then nothing: a rate of zero would go into the
		// medians as a measurement; it is a failure of the run or of the
		// counting point.
		return 0, fmt.Errorf("the count moved before the window and not in it (%v)", window.Round(time.Millisecond))
	}
	return float64(after-before) / window.Seconds(), nil
}

// windowOpens is how far a count must move to open rate's window: more
// than the readiness probes that may still be landing (one frame each,
// 20 ms apart), less than any sender's first burst. Under the VM lab's
// TCG, fastpath's sender takes over a second to start, and a late probe
// once opened a window that then counted 2 frames.
const windowOpens = 64

// ready waits until the system under test counts at c: it sends one probe
// frame from A to B's port 9 every 20 ms (a raw socket in A) until c
// moves, at most b.readyIn (default 15 s), or until done reports the
// system ended. Every
// system's readiness is signalled this way, none by a fixed sleep or by
// what it prints.
func (b *bench) ready(c counter, done <-chan struct{}) error {
	probe, err := b.udpFrame(64)
	if err != nil {
		return err
	}
	base, err := c()
	if err != nil {
		return err
	}
	fd, err := b.rawSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	wait := b.readyIn
	if wait == 0 {
		wait = 15 * time.Second
	}
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		if _, err := unix.Write(fd, probe); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
		cur, err := c()
		if err != nil {
			return err
		}
		if cur > base {
			return nil
		}
		select {
		case <-done:
			return errors.New("the receiver ended before it counted a probe")
		default:
		}
	}
	return fmt.Errorf("the receiver counted no probe in %v", wait)
}

// udpFrame is a size-byte UDP frame (with FCS) from A to B's port 9 with
// valid checksums (the kernel receiver takes the probes too): the probes
// and the XDP live-frame sender's frame.
func (b *bench) udpFrame(size int) ([]byte, error) {
	bmac, _ := ether.ParseAddr(b.bmac)
	amac, _ := ether.ParseAddr(b.amac)
	bld, err := gen.NewBuilder(gen.Spec{
		SrcMAC: amac, DstMAC: bmac,
		Src:   netip.AddrPortFrom(b.l.A.Addr.Addr(), 1024),
		Dst:   netip.AddrPortFrom(b.l.B.Addr.Addr(), 9),
		Sizes: []gen.SizeWeight{{Size: size, Weight: 1}},
	}, 0)
	if err != nil {
		return nil, err
	}
	f := make([]byte, 2048)
	return f[:bld.Next(f, 0)], nil
}

// rawSocket opens a packet socket on A's device, to send probes.
func (b *bench) rawSocket() (int, error) {
	var fd int
	err := b.l.A.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: b.l.A.Index})
	})
	if err != nil {
		return 0, fmt.Errorf("probe socket in A: %w", err)
	}
	return fd, nil
}

// sendRaw sends frame n times from A, gap apart.
func (b *bench) sendRaw(frame []byte, n int, gap time.Duration) error {
	fd, err := b.rawSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for range n {
		if _, err := unix.Write(fd, frame); err != nil {
			return err
		}
		time.Sleep(gap)
	}
	return nil
}
