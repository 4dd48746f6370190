package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/fastpathnet/fastpath/port"
	"golang.org/x/sys/unix"
)

// xdpTX is the XDP_TX verdict (include/uapi/linux/bpf.h).
const xdpTX = 3

// xdpMD is struct xdp_md, the context of an XDP program run.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// xdpSend sends size-byte UDP frames from A to B for d with the kernel's
// XDP live-frame mode (BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, 5.18+):
// a program returning XDP_TX runs as if A's veth had received the frame,
// and the kernel transmits it out of A without an skb. It is the fastest
// sender this machine has (about 4.5 Mpps at 64 bytes here), so a receiver
// measured against it is the bottleneck, not the sender. It runs on core
// 0 and returns the frames sent and the seconds it took.
func (b *bench) xdpSend(ctx context.Context, size int, d time.Duration) (sent uint64, secs float64, err error) {
	frame, err := b.udpFrame(size)
	if err != nil {
		return 0, 0, err
	}
	// A thread of its own in A (port.InNetns), pinned to core 0: it is
	// never handed back, so no other goroutine inherits the affinity.
	err = port.InNetns(b.l.A.Name, func() error {
		if err := port.Pin(0); err != nil {
			return err
		}
		prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name:         "fastpath_xdptx",
			Type:         ebpf.XDP,
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpTX), asm.Return()},
			License:      "Dual MIT/GPL",
		})
		if err != nil {
			return fmt.Errorf("xdp sender: load program: %w", err)
		}
		defer prog.Close()
		md := &xdpMD{DataEnd: uint32(len(frame)), IngressIfindex: uint32(b.l.A.Index)}
		start := time.Now()
		deadline := start.Add(d)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			// Slices of 200,000 frames (well under 0.1 s) keep the end
			// within a slice of the deadline.
			const slice = 200_000
			if _, err := prog.Run(&ebpf.RunOptions{
				Data: frame, Context: md, Repeat: slice,
				Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES, BatchSize: 64,
			}); err != nil {
				if errors.Is(err, unix.EINVAL) {
					return fmt.Errorf("xdp sender: live-frame mode (kernel 5.18+) refused: %w", err)
				}
				return fmt.Errorf("xdp sender: %w", err)
			}
			sent += slice
		}
		secs = time.Since(start).Seconds()
		return nil
	})
	return sent, secs, err
}
