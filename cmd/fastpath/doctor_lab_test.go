package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/internal/doctor"
	"github.com/fastpathnet/fastpath/internal/kernel"
	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestDoctorLab runs `fastpath doctor` on the lab's veth: driver veth,
// the running kernel, no failure, the XDP features read from the netdev
// family, and the text report with the same findings.
func TestDoctorLab(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	out, errOut, err := run(t, "doctor", "--dev", l.A.Link, "--netns", l.A.Name, "--json")
	if err != nil {
		t.Fatalf("doctor: %v\n%s\n%s", err, out, errOut)
	}
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if r.Driver != "veth" || r.Kernel != kernel.Release() || r.Summary[doctor.Fail] != 0 {
		t.Errorf("report %+v", r)
	}
	byCheck := map[string]doctor.Finding{}
	for _, f := range r.Findings {
		byCheck[f.Check] = f
	}
	for _, c := range []string{"kernel", "device", "mtu", "xdp-features", "zerocopy", "xdp-program", "veth-peer", "irq-affinity", "memlock"} {
		if _, ok := byCheck[c]; !ok {
			t.Errorf("no %q finding in %+v", c, r.Findings)
		}
	}
	if f := byCheck["xdp-features"]; f.Status != doctor.OK || !strings.Contains(f.Message, "redirect") {
		t.Errorf("veth's XDP features: %+v", f)
	}
	if f := byCheck["zerocopy"]; f.Status != doctor.Info {
		t.Errorf("veth has no zero-copy: %+v", f)
	}
	// The lab turns the peer's TX checksum offload off.
	if f := byCheck["veth-checksum"]; f.Status != doctor.OK || !strings.Contains(f.Message, l.B.Name) {
		t.Errorf("veth peer with tx off: %+v", f)
	}
	text, _, err := run(t, "doctor", "--dev", l.A.Link, "--netns", l.A.Name)
	if err != nil || !strings.Contains(text, "xdp-features") || !strings.Contains(text, "fix: ") {
		t.Errorf("text report: %v\n%s", err, text)
	}
	t.Logf("report:\n%s", text)
	// A missing device is a failure that says what to do.
	_, _, err = run(t, "doctor", "--dev", "nosuchdev0", "--netns", l.A.Name)
	if err == nil || !strings.Contains(err.Error(), "failed") {
		t.Errorf("doctor on a missing device: %v", err)
	}
	// --queues reaches the facts; veth has no RSS table and one queue,
	// so no rss finding. A bad list is refused before anything is read.
	if out, _, err = run(t, "doctor", "--dev", l.A.Link, "--netns", l.A.Name, "--queues", "all", "--json"); err != nil {
		t.Fatalf("doctor --queues all: %v", err)
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Facts.Queues) != 1 || r.Facts.RSSQueues != nil {
		t.Errorf("doctor --queues all: %v; facts %+v", err, r.Facts)
	}
	if _, _, err := run(t, "doctor", "--dev", l.A.Link, "--queues", "0,x"); err == nil || !strings.Contains(err.Error(), "--queues") {
		t.Errorf("doctor --queues 0,x: %v", err)
	}
	if _, _, err := run(t, "doctor"); err == nil || !strings.Contains(err.Error(), "--dev is required") {
		t.Errorf("doctor without --dev: %v", err)
	}
}

// TestDoctorLabPeerChecksum: with the peer's TX checksum offload on,
// doctor warns that the engine would get partial checksums, and gives the
// command to run for the peer in its namespace.
func TestDoctorLabPeerChecksum(t *testing.T) {
	l := lab.NewT(t, lab.Options{TxChecksumOffload: true})
	out, errOut, err := run(t, "doctor", "--dev", l.A.Link, "--netns", l.A.Name, "--json")
	if err != nil {
		t.Fatalf("doctor: %v\n%s\n%s", err, out, errOut)
	}
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	want := "ip netns exec " + l.B.Name + " ethtool -K " + l.B.Link + " tx off"
	for _, f := range r.Findings {
		if f.Check == "veth-checksum" {
			if f.Status != doctor.Warn || f.Fix != want {
				t.Errorf("veth peer with tx on: %+v, want a warning with %q", f, want)
			}
			return
		}
	}
	t.Errorf("no veth-checksum finding: %+v", r.Findings)
}
