package port

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"

	"github.com/fastpathnet/fastpath/steering"
	"github.com/fastpathnet/fastpath/umem"
	"github.com/fastpathnet/fastpath/xsk"
)

// Program is the XDP program Open attaches in front of the sockets.
type Program uint8

const (
	// NoProgram attaches nothing: a TX-only role (the generator), or a
	// caller that steers frames itself.
	NoProgram Program = iota
	// SteeringProgram is fastpath's steering program (package steering),
	// with Options.Steering: rules pick the frames for the sockets, the
	// rest pass to the kernel.
	SteeringProgram
	// RedirectProgram hands every frame of a queue to its socket, as
	// xdpsock's does: for rxdrop and l2fwd, where nothing is the kernel's.
	RedirectProgram
)

// String names the program as the command line does.
func (p Program) String() string {
	switch p {
	case NoProgram:
		return "none"
	case SteeringProgram:
		return "steer"
	case RedirectProgram:
		return "redirect"
	}
	return fmt.Sprintf("Program(%d)", uint8(p))
}

// ErrOptions: an Options field is out of range.
var ErrOptions = errors.New("invalid options")

// Options say which queues of which device to open, and how.
type Options struct {
	// Device is the network device's name (required).
	Device string
	// Netns names the network namespace holding Device, as `ip netns`
	// lists them; "" is the caller's.
	Netns string
	// Queues are the device queues to open, one socket each. nil: every
	// queue in use (ethtool -l): the RX queues, or the TX queues for a
	// socket without an RX ring.
	Queues []int
	// Cores pins queue i's goroutine (Go) to Cores[i%len(Cores)]; nil
	// leaves them where the scheduler puts them.
	Cores []int
	// XSK configures every socket: ring sizes, copy mode, need_wakeup,
	// busy polling and the UMEM's options. XSK.UMEM and XSK.Frames must be
	// nil: Open makes the UMEMs.
	XSK xsk.Options
	// SharedUMEM makes one UMEM of XSK.UMEMOptions.FrameCount frames per
	// queue, shared by every socket (XDP_SHARED_UMEM), each owning its
	// part; otherwise each socket has its own.
	SharedUMEM bool
	// TXMetadataOptional opens the sockets without the TX metadata area
	// (XSK.UMEMOptions.TXMetadataLen) when the kernel refuses it (before
	// Linux 6.8) instead of failing; Modes says what was obtained.
	TXMetadataOptional bool
	// Program is the XDP program to attach.
	Program Program
	// Steering configures the program: its attach mode (auto: native,
	// else generic), and for SteeringProgram its default action and
	// whether to replace a program attached with ip.
	Steering steering.Options
}

// DefaultOptions returns options for dev with xsk.DefaultOptions and no
// program.
func DefaultOptions(dev string) Options {
	return Options{Device: dev, XSK: xsk.DefaultOptions()}
}

func (o *Options) check() error {
	switch {
	case o.Device == "":
		return fmt.Errorf("port: %w: no device", ErrOptions)
	case o.XSK.UMEM != nil || o.XSK.Frames != nil:
		return fmt.Errorf("port: %w: XSK.UMEM and XSK.Frames are Open's to make (use SharedUMEM)", ErrOptions)
	case o.Program > RedirectProgram:
		return fmt.Errorf("port: %w: program %v", ErrOptions, o.Program)
	}
	for i, q := range o.Queues {
		if q < 0 {
			return fmt.Errorf("port: %w: queue %d", ErrOptions, q)
		}
		if slices.Contains(o.Queues[:i], q) {
			return fmt.Errorf("port: %w: queue %d given twice (one socket per queue)", ErrOptions, q)
		}
	}
	for _, c := range o.Cores {
		if c < 0 {
			return fmt.Errorf("port: %w: core %d", ErrOptions, c)
		}
	}
	return nil
}

// Queue is one opened queue: its socket and the core its goroutine runs on.
type Queue struct {
	// ID is the device's queue number.
	ID int
	// Core is the core Go pins the queue's goroutine to; -1: not pinned.
	Core int
	// Sock is the queue's AF_XDP socket. It belongs to the goroutine that
	// drives the queue.
	Sock *xsk.Socket
}

// Stats reads the socket's counters and the kernel's XDP_STATISTICS: call
// it from the goroutine that drives the queue, or once that has stopped.
func (q *Queue) Stats() (Stats, error) { return q.Sock.Stats() }

// KernelStats reads only the kernel's XDP_STATISTICS: safe from any
// goroutine while the queue runs.
func (q *Queue) KernelStats() (Stats, error) { return q.Sock.KernelStats() }

// program is what Open attaches: the steering or the redirect program.
type program interface {
	Register(queue, fd int) error
	Mode() steering.Mode
	Close() error
}

// Port is a device's opened queues and the program in front of them.
type Port struct {
	// Facts are what Open found about the device.
	Facts Facts
	// Queues are the opened queues, in the order of Options.Queues.
	Queues []*Queue

	opts       Options
	prog       program
	steer      *steering.Steering // prog, when it is the steering program
	shared     *umem.UMEM
	txMetadata bool

	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
	done   chan struct{}
	closed bool
}

// Open opens o.Queues of o.Device for a role; see the package
// documentation for the steps. On failure it closes what it opened.
func Open(o Options) (*Port, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	p := &Port{opts: o, done: make(chan struct{})}
	err := InNetns(o.Netns, func() error {
		// Every step resolves the device in the thread's namespace.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var err error
		if p.Facts, err = Probe(o.Device); err != nil {
			return err
		}
		p.Facts.Netns = o.Netns
		if err := p.attach(); err != nil {
			return err
		}
		return p.openQueues()
	})
	if err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// attach attaches the program Options.Program names.
func (p *Port) attach() error {
	var err error
	switch p.opts.Program {
	case SteeringProgram:
		p.steer, err = steering.Attach(p.opts.Device, p.opts.Steering)
		if err == nil {
			p.prog = p.steer
		}
	case RedirectProgram:
		var r *steering.Redirect
		if r, err = steering.AttachRedirect(p.opts.Device, p.opts.Steering); err == nil {
			p.prog = r
		}
	}
	return err
}

// openQueues makes the UMEMs and sockets, stocks the fill rings and
// registers the sockets with the program.
func (p *Port) openQueues() error {
	o := p.opts
	ids := o.Queues
	if ids == nil {
		n := p.Facts.RXQueues
		if o.XSK.RXSize == 0 {
			n = p.Facts.TXQueues
		}
		for q := range max(n, 1) {
			ids = append(ids, q)
		}
	}
	xo := o.XSK
	p.txMetadata = xo.UMEMOptions.TXMetadataLen > 0
	per := xo.UMEMOptions.FrameCount
	for i, id := range ids {
		core := -1
		if len(o.Cores) > 0 {
			core = o.Cores[i%len(o.Cores)]
		}
		sock, err := p.socket(id, i, len(ids), per, &xo)
		if err != nil {
			return err
		}
		p.Queues = append(p.Queues, &Queue{ID: id, Core: core, Sock: sock})
		if sock.RX != nil {
			// Stock the fill ring before frames can arrive: the first
			// ones would otherwise find it empty and be dropped.
			sock.Refill()
		}
		if p.prog != nil {
			if err := p.prog.Register(id, sock.FD()); err != nil {
				return err
			}
		}
	}
	return nil
}

// socket opens queue id, the i-th of n, with xo; a refused TX metadata
// area is dropped from xo for this socket and the ones after it when the
// options allow.
func (p *Port) socket(id, i, n int, per uint32, xo *xsk.Options) (*xsk.Socket, error) {
	for {
		so := *xo
		if p.opts.SharedUMEM {
			if p.shared == nil {
				uo := so.UMEMOptions
				uo.FrameCount = per * uint32(n)
				u, err := umem.New(uo)
				if err != nil {
					if p.dropTXMetadata(err, xo) {
						continue
					}
					return nil, fmt.Errorf("port: %s: %w", p.opts.Device, err)
				}
				p.shared = u
			}
			so.UMEM = p.shared
			var err error
			if so.Frames, err = p.shared.Allocator(uint32(i)*per, per); err != nil {
				return nil, fmt.Errorf("port: %w", err)
			}
		}
		sock, err := xsk.New(p.opts.Device, id, so)
		if err != nil && p.shared == nil && p.dropTXMetadata(err, xo) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("port: %w", err)
		}
		return sock, nil
	}
}

// dropTXMetadata takes the TX metadata area out of xo when err is the
// kernel refusing it and the options allow opening without.
func (p *Port) dropTXMetadata(err error, xo *xsk.Options) bool {
	if !p.opts.TXMetadataOptional || !errors.Is(err, umem.ErrTXMetadata) || xo.UMEMOptions.TXMetadataLen == 0 {
		return false
	}
	xo.UMEMOptions.TXMetadataLen, xo.UMEMOptions.TXSoftwareChecksum = 0, false
	p.txMetadata = false
	return true
}

// Steering returns the steering program, nil unless Options.Program was
// SteeringProgram.
func (p *Port) Steering() *steering.Steering { return p.steer }

// QueueIDs returns the device queue of every opened queue, in order.
func (p *Port) QueueIDs() []int {
	ids := make([]int, len(p.Queues))
	for i, q := range p.Queues {
		ids[i] = q.ID
	}
	return ids
}

// Close closes everything Open opened, once: the program first (no frame
// is steered to a closing socket), then the sockets, then a shared UMEM.
// Stop the goroutines of Go and Wait for them before. It is safe to call
// twice.
func (p *Port) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
	}
	for _, q := range p.Queues {
		errs = append(errs, q.Sock.Close())
	}
	if p.shared != nil {
		errs = append(errs, p.shared.Close())
	}
	return errors.Join(errs...)
}
