//go:build vmguest

package vmtest

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/fastpathnet/fastpath/internal/vmlab"
)

// This file's tests run last (go test runs files in name order): they
// take NICs away.

// progIDs lists the IDs of the BPF programs loaded in the guest.
func progIDs(t *testing.T) map[ebpf.ProgramID]bool {
	t.Helper()
	ids := map[ebpf.ProgramID]bool{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return ids
		}
		ids[next], id = true, next
	}
}

// TestHotUnplug: the sink's NIC is hot-unplugged through QEMU's monitor
// (device_del) while gen sends to it. The sink ends within seconds with
// an error that names the device, and leaves no BPF program behind; gen,
// on the other NIC, is not disturbed.
func TestHotUnplug(t *testing.T) {
	before := progIDs(t)
	l := nicLab(t, mqNICA, mqNICB)
	c := ctl(t)
	// Every queue: RSS puts gen's one flow on whichever queue its key
	// (random each boot) says (after TestFourQueues, four of them).
	sink := fp(t, "sink", "--dev", l.B.Link, "--netns", l.B.Name, "--port", "9", "--mode", "zerocopy",
		"--queues", "all", "--idle", "adaptive", "--duration", "120s", "--interval", "0", "--json", "--control", c)
	stats(t, c)
	g := fp(t, "gen", "--dev", l.A.Link, "--netns", l.A.Name, "--dst", l.B.Addr.Addr().String()+":9",
		"--mode", "zerocopy", "--duration", "8s", "--rate", "2k", "--interval", "0", "--json")
	// gen opens four zero-copy queues and resolves B under TCG first:
	// seconds, on a busy host.
	for i := 0; num(stats(t, c), "received_packets") == 0; i++ {
		if i == 50 {
			t.Fatalf("the sink received nothing in 5 s, before the unplug; its steering:\n%s\n%s", sh(t, l.B, os.Getenv("FASTPATH_BIN")+" steer --dev "+l.B.Link), sh(t, l.B, "ethtool -S "+l.B.Link+" | grep -v ': 0$'"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	unplugged := time.Now()
	if err := vmlab.Request(ctx, "unplug 3"); err != nil { // eth3: NIC 3
		t.Fatal(err)
	}
	err := sink.wait(t, 30*time.Second)
	t.Logf("the sink ended %v after the unplug: %v\n%s", time.Since(unplugged).Round(time.Millisecond), err, sink.stderr.String())
	if err == nil || !strings.Contains(sink.stderr.String(), l.B.Link) {
		t.Errorf("the sink ended with %v; want an error naming %s", err, l.B.Link)
	}
	// The guest finishes removing the device in an ACPI work item; let it
	// before the lab deletes the namespace the device was in (7.3.4 oopsed
	// in netlink_has_listeners when the two overlapped).
	for i := 0; ; i++ {
		if _, err := l.B.Handle().LinkByName(l.B.Link); err != nil {
			break
		}
		if i == 300 {
			t.Fatalf("%s is still in %s 30 s after the unplug", l.B.Link, l.B.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var gr genResult
	g.json(t, time.Minute, &gr)
	if gr.Errors != 0 {
		t.Errorf("gen: %+v", gr)
	}
	for id := range progIDs(t) {
		if !before[id] {
			p, err := ebpf.NewProgramFromID(id)
			name := strconv.Itoa(int(id))
			if err == nil {
				if info, err := p.Info(); err == nil {
					name += " " + info.Name
				}
				p.Close()
			}
			t.Errorf("BPF program %s is still loaded", name)
		}
	}
}
