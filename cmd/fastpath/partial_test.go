package main

import (
	"bytes"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestServePartialChecksum runs `fastpath serve` on a veth whose peer
// keeps its TX checksum offload on, while the kernel there sends UDP to
// the echo port: by default nothing is echoed and serve warns once, with
// the command for the peer; with --accept-partial-checksum every datagram
// comes back.
func TestServePartialChecksum(t *testing.T) {
	for _, accept := range []bool{false, true} {
		name := "default"
		if accept {
			name = "accept"
		}
		t.Run(name, func(t *testing.T) {
			l := lab.NewT(t, lab.Options{TxChecksumOffload: true})
			const n, ctl = 10, "127.0.0.1:19325"
			echoed := make(chan int, 1)
			go func() {
				got := 0
				defer func() {
					echoed <- got
					http.Post("http://"+ctl+"/v1/stop", "application/json", nil)
				}()
				for i := 0; i < 200; i++ {
					if code, _ := httpGet("http://" + ctl + "/v1/ready"); code == http.StatusOK {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
				var c *net.UDPConn
				if err := l.B.Do(func() (err error) {
					c, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(198, 18, 0, 10), Port: 7})
					return err
				}); err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 64)
				wait := 200 * time.Millisecond // for what should not come
				if accept {
					wait = 2 * time.Second
				}
				for i := 0; i < n; i++ {
					c.Write([]byte("partial"))
					c.SetReadDeadline(time.Now().Add(wait))
					if k, err := c.Read(buf); err == nil && bytes.Equal(buf[:k], []byte("partial")) {
						got++
					}
				}
			}()
			args := []string{"serve", "--dev", l.A.Link, "--netns", l.A.Name, "--addr", "198.18.0.10/24",
				"--udp-echo", "7", "--duration", "60s", "--control", ctl, "--interval", "0"}
			if accept {
				args = append(args, "--accept-partial-checksum")
			}
			_, errOut, err := run(t, args...)
			if err != nil {
				t.Fatalf("serve: %v\n%s", err, errOut)
			}
			got := <-echoed
			warnings := strings.Count(errOut, "partial checksums")
			fix := "ip netns exec " + l.B.Name + " ethtool -K " + l.B.Link + " tx off"
			if accept {
				if got != n || warnings != 0 {
					t.Errorf("%d of %d echoed, %d warnings:\n%s", got, n, warnings, errOut)
				}
			} else if got != 0 || warnings != 1 || !strings.Contains(errOut, fix) || !strings.Contains(errOut, "--accept-partial-checksum") {
				t.Errorf("%d echoed, %d warnings; want none echoed and one warning with %q:\n%s", got, warnings, fix, errOut)
			}
			t.Logf("serve said:\n%s", errOut)
			if !strings.Contains(errOut, "partial_checksum") {
				t.Errorf("the summary does not count partial_checksum:\n%s", errOut)
			}
		})
	}
}

// TestAcceptPartialChecksumFlag: serve, sink and tcp take the flag, off by
// default, into the stack's configuration.
func TestAcceptPartialChecksumFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "sink", "tcp"} {
		c, _, err := newRootCommand().Find([]string{cmd})
		if err != nil {
			t.Fatal(err)
		}
		if f := c.Flags().Lookup("accept-partial-checksum"); f == nil || f.DefValue != "false" {
			t.Errorf("%s --accept-partial-checksum: %+v", cmd, f)
		}
	}
	for _, on := range []bool{false, true} {
		sc, err := serveConfig(serveFlags{dev: "veth0", addrs: []string{"198.18.0.10/24"}, queues: "0", idle: "adaptive", mode: "auto", checksum: "auto", partial: on})
		if err != nil || sc.AcceptPartialChecksum != on {
			t.Errorf("serve %v: %v, %v", on, sc.AcceptPartialChecksum, err)
		}
		tc, _, err := tcpStackConfig(tcpFlags{dev: "veth0", queues: "0", checksum: "auto", partial: on})
		if err != nil || tc.AcceptPartialChecksum != on {
			t.Errorf("tcp %v: %v, %v", on, tc.AcceptPartialChecksum, err)
		}
		kc, err := sinkConfigOf(sinkFlags{dev: "veth0", port: 9, queues: "0", mode: "auto", xdpMode: "auto", idle: "busy", partial: on})
		if err != nil || kc.sink.Stack.AcceptPartialChecksum != on {
			t.Errorf("sink %v: %v, %v", on, kc.sink.Stack.AcceptPartialChecksum, err)
		}
	}
}
