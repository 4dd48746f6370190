package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/spf13/cobra"
)

const acceptPartialUsage = "on a veth, take the TCP and UDP frames whose checksums the peer left partial (its TX checksum offload on) instead of dropping them; the better fix is ethtool -K PEER tx off"

// syncWriter serialises writes: the stack's notices come from a goroutine
// of its own, while the command prints its progress.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// noticesTo makes cmd's stderr safe to share with the stack's notices and
// returns the Config.Notice that prints them there, as warnings with the
// command that fixes them.
func noticesTo(cmd *cobra.Command) func(stack.Notice) {
	w := &syncWriter{w: cmd.ErrOrStderr()}
	cmd.SetErr(w)
	return func(n stack.Notice) {
		alt := ""
		if n.Counter == stack.PartialChecksum {
			alt = "; or run with --accept-partial-checksum to take them"
		}
		fmt.Fprintf(w, "warning: %s; fix: %s%s\n", n.Message, n.Fix, alt)
	}
}
