//go:build vmguest

package vmtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTCPBulk sends 16 MiB over one TCP connection from B to a
// kernel listener in A, alternately from the engine in zero-copy
// (`fastpath tcp`) and from B's kernel, and reports both goodputs and
// their ratio, each counted at the same point: the listener, from accept
// to EOF. Under TCG only the ratio means anything. The guest kernel keeps
// its offloads (TSO and GSO on virtio-net): this is the comparison a user
// makes. Run it with make bench-vm.
func BenchmarkTCPBulk(b *testing.B) {
	l := nicLab(b, nicA, nicB)
	const n = 16 << 20
	var ln net.Listener
	if err := l.A.Do(func() (err error) {
		ln, err = net.Listen("tcp", "198.18.0.1:5001")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	// receive counts one connection at the listener.
	receive := func() (float64, error) {
		c, err := ln.Accept()
		if err != nil {
			return 0, err
		}
		defer c.Close()
		start := time.Now()
		got, err := io.Copy(io.Discard, c)
		if err != nil || got != n {
			return 0, fmt.Errorf("received %d of %d bytes: %v", got, n, err)
		}
		return float64(got*8) / time.Since(start).Seconds(), nil
	}
	var engine, kernel []float64
	for i := 0; i < b.N; i++ {
		order := []string{"engine", "kernel"}
		if i%2 == 1 {
			order = []string{"kernel", "engine"}
		}
		for _, who := range order {
			res := make(chan error, 1)
			var bps float64
			go func() {
				var err error
				bps, err = receive()
				res <- err
			}()
			if who == "engine" {
				p := exec.Command(bin(b), "tcp", "--dev", l.B.Link, "--netns", l.B.Name, "--addr", engineAddr.String()+"/24",
					"--dst", "198.18.0.1:5001", "--bytes", strconv.Itoa(n), "--interval", "0", "--json", "--timeout", "3m")
				out, err := p.Output()
				var r struct {
					Mode string `json:"mode"`
				}
				if err != nil || json.Unmarshal(out, &r) != nil || r.Mode != "zerocopy" {
					b.Fatalf("fastpath tcp: %v, mode %q\n%s", err, r.Mode, out)
				}
			} else {
				err := l.B.Do(func() error {
					c, err := net.Dial("tcp", "198.18.0.1:5001")
					if err != nil {
						return err
					}
					defer c.Close()
					buf := make([]byte, 1<<20)
					for sent := 0; sent < n; sent += len(buf) {
						if _, err := c.Write(buf); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if err := <-res; err != nil {
				b.Fatalf("%s: %v", who, err)
			}
			if who == "engine" {
				engine = append(engine, bps)
			} else {
				kernel = append(kernel, bps)
			}
		}
	}
	e, k := median(engine), median(kernel)
	b.ReportMetric(e/1e6, "engine-Mbit/s")
	b.ReportMetric(k/1e6, "kernel-Mbit/s")
	b.ReportMetric(e/k, "engine/kernel")
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}
