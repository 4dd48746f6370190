// Package bpf holds fastpath's XDP programs.
//
// This file has the two smallest programs, written with cilium/ebpf's
// assembler so that they need no compiler: Pass, which lets every frame
// through (it puts veth's receive side on its fast path), and
// Redirect, which hands every frame of a queue to the AF_XDP socket
// registered for that queue and passes the frame to the kernel when no
// socket is registered. The steering program with rules grows from Redirect.
package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
)

// xdpPass is the XDP_PASS verdict (include/uapi/linux/bpf.h).
const xdpPass = 2

// offsetof(struct xdp_md, rx_queue_index).
const xdpMDRxQueueIndex = 16

// NewPass loads an XDP program that returns XDP_PASS for every frame.
// The caller owns the program and must Close it.
func NewPass() (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "fastpath_pass",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.Mov.Imm(asm.R0, xdpPass),
			asm.Return(),
		},
		License: "Dual MIT/GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("bpf: load pass program: %w", err)
	}
	return prog, nil
}

// Redirect is the minimal steering program: every frame received on queue q
// goes to the socket at index q of Sockets, or to the kernel when that
// index is empty.
type Redirect struct {
	Program *ebpf.Program
	// Sockets is the XSKMAP, indexed by receive queue. Put an AF_XDP socket's
	// file descriptor at its queue's index to receive that queue's frames.
	Sockets *ebpf.Map
}

// NewRedirect loads the redirect program with an XSKMAP of maxQueues
// entries. Close releases both.
func NewRedirect(maxQueues int) (*Redirect, error) {
	if maxQueues < 1 {
		return nil, fmt.Errorf("bpf: redirect program needs at least one queue, got %d", maxQueues)
	}
	allowMaps()
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       "fastpath_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(maxQueues),
	})
	if err != nil {
		return nil, fmt.Errorf("bpf: create XSKMAP: %w", memlockHint(err))
	}
	// return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	// The helper's low bits of flags are the verdict used when the key has
	// no socket (kernel 5.3+).
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "fastpath_redir",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, xdpMDRxQueueIndex, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Imm(asm.R3, xdpPass),
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
		License: "Dual MIT/GPL",
	})
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("bpf: load redirect program: %w", err)
	}
	return &Redirect{Program: prog, Sockets: m}, nil
}

// Register puts the socket with file descriptor fd at queue's index.
func (r *Redirect) Register(queue int, fd int) error {
	if err := r.Sockets.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("bpf: register socket for queue %d: %w", queue, err)
	}
	return nil
}

// Unregister removes the socket at queue's index; its frames go to the kernel.
func (r *Redirect) Unregister(queue int) error {
	if err := r.Sockets.Delete(uint32(queue)); err != nil {
		return fmt.Errorf("bpf: unregister queue %d: %w", queue, err)
	}
	return nil
}

// Close releases the program and the map. It is safe to call twice.
func (r *Redirect) Close() error {
	if r == nil {
		return nil
	}
	var err error
	if r.Program != nil {
		err = r.Program.Close()
		r.Program = nil
	}
	if r.Sockets != nil {
		if e := r.Sockets.Close(); err == nil {
			err = e
		}
		r.Sockets = nil
	}
	return err
}
