// Command vmrun boots a VM lab guest and runs one command in it, for
// looking at a kernel by hand:
//
//	sudo go run ./internal/vmlab/vmrun -kernel 5.10 -dir /tmp/job -- ./verifier-log
//
// The job folder (-dir) is shared with the guest at /run/vmlab/job: put
// the binaries there and run them by that path. The guest has two virtio-net
// NICs back to back (eth0, eth1) unless -nics says otherwise. Its console
// goes to stdout; the command's exit code is vmrun's.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/fastpathnet/fastpath/internal/vmlab"
)

func main() {
	kernel := flag.String("kernel", "newest", "pinned kernel: "+names()+", oldest or newest")
	dir := flag.String("dir", "", "job folder, shared with the guest at "+vmlab.GuestJobDir+" (required)")
	nics := flag.String("nics", "virtio,virtio", "NIC models, all on one wire: virtio, virtio:QUEUES, igb, e1000e")
	timeout := flag.Duration("timeout", 10*time.Minute, "kill the guest after this long")
	flag.Parse()
	if *dir == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: vmrun -dir DIR [-kernel K] [-nics LIST] -- COMMAND [ARGS...]")
		os.Exit(2)
	}
	rc, err := run(*kernel, *dir, *nics, *timeout, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmrun:", err)
		os.Exit(1)
	}
	os.Exit(rc)
}

func names() string {
	var n []string
	for _, k := range vmlab.Kernels {
		n = append(n, k.Name)
	}
	return strings.Join(n, ", ")
}

// run boots the guest, runs args in it and returns their exit code; the
// VM is closed (QEMU killed, namespaces removed) before it returns.
func run(kernel, dir, nicList string, timeout time.Duration, args []string) (int, error) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, timeout)
	defer cancel()
	k, err := vmlab.KernelByName(kernel)
	if err != nil {
		return 0, err
	}
	f, err := vmlab.Fetch(ctx, k)
	if err != nil {
		return 0, err
	}
	var nics []vmlab.NIC
	for _, m := range strings.Split(nicList, ",") {
		n := vmlab.NIC{Wire: "w"}
		model, q, _ := strings.Cut(m, ":")
		switch model {
		case "virtio":
			n.Model = vmlab.Virtio
		case "igb":
			n.Model = vmlab.IGB
		case "e1000e":
			n.Model = vmlab.E1000E
		default:
			return 0, fmt.Errorf("-nics: unknown model %q", model)
		}
		if q != "" {
			fmt.Sscan(q, &n.Queues)
		}
		nics = append(nics, n)
	}
	vm, err := vmlab.Start(ctx, vmlab.Config{Kernel: f, NICs: nics, Console: os.Stdout}, vmlab.Job{Dir: dir, Args: args})
	if err != nil {
		return 0, err
	}
	defer vm.Close()
	res, err := vm.Wait()
	if err != nil {
		return 0, err
	}
	fmt.Fprintf(os.Stderr, "vmrun: kernel %s, boot %.1fs, exit %d\n", k.Release, res.Boot.Seconds(), res.ExitCode)
	return res.ExitCode, nil
}
