package main

import (
	"fmt"
	"io"

	"github.com/fastpathnet/fastpath/internal/control"
)

// controls are what a command lets the control API do.
type controls = control.Controls

const controlUsage = "serve the control API (HTTP+JSON: /v1/stats, /v1/rate, /v1/pause, /v1/resume, /v1/stop) on this address; a bare port means 127.0.0.1"

// serveControl starts the control API on addr ("" : none) and says where
// on w. Close the returned server when the run ends.
func serveControl(addr string, c controls, w io.Writer) (*control.Server, error) {
	if addr == "" {
		return nil, nil
	}
	srv, err := control.Serve(addr, c)
	if err != nil {
		return nil, fmt.Errorf("--%w", err)
	}
	fmt.Fprintf(w, "control: http://%s/v1/\n", srv.Addr())
	return srv, nil
}

// closeControl shuts the control API down (nil: nothing).
func closeControl(srv *control.Server) { srv.Close() }
