// Command fastpath drives NIC queues through AF_XDP: a traffic generator, a
// benchmark and a lab to try them in.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// The first signal asks for a clean stop; a second one, with the
		// default handling restored, ends the process at once.
		<-ctx.Done()
		stop()
	}()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fastpath:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "fastpath",
		Short:         "Kernel-bypass packet engine on AF_XDP",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newLabCommand(), newGenCommand(), newSinkCommand(), newBenchCommand(), newSteerCommand(), newServeCommand(), newTCPCommand())
	return root
}
