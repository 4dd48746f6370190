// Command fastpath drives NIC queues through AF_XDP: a traffic generator, a
// benchmark and a lab to try them in.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signalContext()
	defer stop()
	if path := os.Getenv("FASTPATH_CPUPROFILE"); path != "" {
		// A CPU profile of the whole run, for go tool pprof.
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "fastpath:", err)
		os.Exit(1)
	}
}

// signalContext is cancelled by the first SIGINT or SIGTERM, which asks
// for a clean stop and a summary; a second one, with the default handling
// restored, ends the process at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "fastpath",
		Short:         "Kernel-bypass packet engine on AF_XDP",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newLabCommand(), newGenCommand(), newSinkCommand(), newBenchCommand(), newSteerCommand(), newServeCommand(), newTCPCommand(), newLoadCommand(), newRFC2544Command(), newDoctorCommand())
	return root
}
