package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/fastpathnet/fastpath/internal/control"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/spf13/cobra"
)

// controls are what a command lets the control API do.
type controls = control.Controls

const controlUsage = "serve the control API (HTTP+JSON: /v1/stats, /v1/ready, /v1/rate, /v1/pause, /v1/resume, /v1/stop) on this address; a bare port means 127.0.0.1"

// listenControl is a command's context and its control API on addr (""
// : none), started before the run opens its queues, and says where on
// w: until the run attaches its controls (ctl.Attach, once it is up) the
// API answers 503 "starting", and a stop through it ends ctx at once, as
// a signal does. Call end when the command returns; close ctl earlier to
// take the API down before what it reads.
func listenControl(cmd *cobra.Command, addr string, w io.Writer) (ctx context.Context, ctl *control.Server, end func(), err error) {
	ctx, cancel := context.WithCancel(cmd.Context())
	if addr != "" {
		if ctl, err = control.Listen(addr, cancel); err != nil {
			cancel()
			return nil, nil, nil, fmt.Errorf("--%w", err)
		}
		fmt.Fprintf(w, "control: http://%s/v1/\n", ctl.Addr())
	}
	return ctx, ctl, func() { ctl.Close(); cancel() }, nil
}

// stackReady is the readiness of a run on st: not once its engines
// stopped, nor while its control plane fails to follow the kernel's
// routes and neighbours.
func stackReady(st *stack.Stack) func() error {
	return func() error {
		select {
		case <-st.Done():
			return errors.New("the engines stopped")
		default:
		}
		if cs := st.ControlStatus(); cs.State == stack.ControlFailing {
			return fmt.Errorf("the control plane is failing (%d attempts in a row): %s", cs.Failures, cs.Error)
		}
		return nil
	}
}
