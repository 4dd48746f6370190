package steering

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/cilium/ebpf/link"
	"github.com/fastpathnet/fastpath/bpf"
)

// Redirect is the minimal program, attached instead of the steering program
// where every frame of a queue belongs to its socket (xdpsock's rxdrop and
// l2fwd): no parsing, no rules, one map lookup. Frames of a queue with no
// socket pass to the kernel.
type Redirect struct {
	dev    string
	prog   *bpf.Redirect
	link   link.Link
	mode   Mode
	closed bool
}

// AttachRedirect loads the redirect program and attaches it to dev, found in
// the calling thread's network namespace, through a bpf_link in opts.Mode
// (auto: native, else generic). Only Mode and Queues of opts are used; a
// device that already carries a program is refused.
func AttachRedirect(dev string, opts Options) (*Redirect, error) {
	if opts.Mode > ModeGeneric || opts.Queues < 0 {
		return nil, fmt.Errorf("steering: redirect: mode %v, queues %d: %w", opts.Mode, opts.Queues, ErrOptions)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lk, err := lookupLink(dev)
	if err != nil {
		return nil, err
	}
	attrs := lk.Attrs()
	if attrs.Xdp != nil && attrs.Xdp.Attached {
		return nil, attachedError(dev, attrs.Xdp)
	}
	p, err := bpf.NewRedirect(xskmapSize(attrs, opts.Queues))
	if err != nil {
		return nil, fmt.Errorf("steering: redirect: %w", withHint(err))
	}
	l, mode, err := attachXDP(p.Program, dev, attrs.Index, opts.Mode)
	if err != nil {
		p.Close()
		return nil, err
	}
	return &Redirect{dev: dev, prog: p, link: l, mode: mode}, nil
}

// Mode is the attach mode obtained: native or generic.
func (r *Redirect) Mode() Mode { return r.mode }

// Register sends every frame arriving on queue to the AF_XDP socket fd.
func (r *Redirect) Register(queue, fd int) error {
	if err := r.prog.Register(queue, fd); err != nil {
		return fmt.Errorf("steering: register socket for %s queue %d: %w", r.dev, queue, err)
	}
	return nil
}

// Close detaches the program and frees it. It is safe to call twice.
func (r *Redirect) Close() error {
	if r == nil || r.closed {
		return nil
	}
	r.closed = true
	return errors.Join(r.link.Close(), r.prog.Close())
}
