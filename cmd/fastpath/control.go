package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/fastpathnet/fastpath/internal/control"
	"github.com/fastpathnet/fastpath/stack"
)

// controls are what a command lets the control API do.
type controls = control.Controls

const controlUsage = "serve the control API (HTTP+JSON: /v1/stats, /v1/ready, /v1/rate, /v1/pause, /v1/resume, /v1/stop) on this address; a bare port means 127.0.0.1"

// listenControl starts the control API on addr ("" : none) before the
// run opens its queues, and says where on w: until the run attaches its
// controls (Attach, once it is up) it answers 503 "starting", and a stop
// calls stop at once. Close the returned server when the run ends.
func listenControl(addr string, stop func(), w io.Writer) (*control.Server, error) {
	if addr == "" {
		return nil, nil
	}
	srv, err := control.Listen(addr, stop)
	if err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	fmt.Fprintf(w, "control: http://%s/v1/\n", srv.Addr())
	return srv, nil
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

// closeControl shuts the control API down (nil, or closed: nothing).
func closeControl(srv *control.Server) { srv.Close() }
