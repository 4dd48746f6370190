package stack_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/netip"

	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// An engine on queue 0 of eth1, in shared mode: it uses the kernel's
// address, takes UDP port 7 and echoes what comes in, in place.
//
// Not run: it needs a device (eth1), root, and runs until stopped.
func ExampleNew() {
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Shared, cfg.ImportRoutes = "eth1", true, true
	st, err := stack.New(cfg)
	if err != nil {
		log.Fatal(err) // the error says what to do: a missing capability, a busy queue, ...
	}
	defer st.Close()
	st.BindUDP(7, func(d *stack.Datagram) { d.Reply(d.Payload) })
	if err := st.Start(); err != nil {
		log.Fatal(err)
	}
	<-st.Done()
}

// TCP with the standard interfaces: a listener whose connections are
// net.Conns, served from ordinary goroutines.
//
// Not run: it needs a device (eth1) and root, and serves until stopped.
func ExampleStack_ListenTCP() {
	cfg := stack.DefaultConfig()
	cfg.Device, cfg.Addrs = "eth1", []netip.Prefix{netip.MustParsePrefix("198.51.100.10/24")}
	st, err := stack.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := st.EnableTCP(tcp.DefaultConfig()); err != nil {
		log.Fatal(err)
	}
	ln, err := st.ListenTCP(5201, 0)
	if err != nil {
		log.Fatal(err)
	}
	st.Start()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			n, _ := io.Copy(io.Discard, c)
			fmt.Println("received", n, "bytes from", c.RemoteAddr())
		}()
	}
}

// An active open from the engine, as a net.Conn.
//
// Not run: it needs a started stack and a server to talk to.
func ExampleStack_DialTCP() {
	var st *stack.Stack // New, EnableTCP, Start as above
	c, err := st.DialTCP(context.Background(), "198.51.100.7:80")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	io.Copy(io.Discard, c)
}
