package main

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/fastpathnet/fastpath/internal/lab"
	"github.com/fastpathnet/fastpath/steering"
)

// TestSteerCommand runs `fastpath steer` against a program attached in a
// lab namespace, through --netns, in text and JSON.
func TestSteerCommand(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	var s *steering.Steering
	if err := l.A.Do(func() (err error) { s, err = steering.Attach(l.A.Link, steering.Options{}); return err }); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Add(steering.Rule{Name: "echo", Proto: steering.ProtoUDP, DstPort: steering.Port(7), Action: steering.Engine}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(steering.Rule{Name: "nd6", Proto: steering.ProtoND, Dst: netip.MustParsePrefix("2001:db8::1/128"), Action: steering.Engine}); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, "steer", "--dev", l.A.Link, "--netns", l.A.Name, "--json")
	if err != nil {
		t.Fatalf("steer: %v\n%s", err, errOut)
	}
	var r steering.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if !r.Fastpath || len(r.Rules) != 2 || r.Rules[0].Name != "echo" || r.Rules[0].Match != "udp dport 7" || r.Rules[0].Action != "engine" ||
		r.Rules[1].Match != "nd dst 2001:db8::1/128" {
		t.Fatalf("report %+v", r)
	}
	for _, name := range []string{"ipv6", "fragment6", "ext_chain"} {
		if _, ok := r.Counters[name]; !ok {
			t.Errorf("no counter %s in %v", name, r.Counters)
		}
	}
	out, _, err = run(t, "steer", "--dev", l.A.Link, "--netns", l.A.Name)
	t.Logf("fastpath steer --dev %s --netns %s:\n%s", l.A.Link, l.A.Name, out)
	if err != nil || !strings.Contains(out, "fastpath_steer") || !strings.Contains(out, "udp dport 7") || !strings.Contains(out, "native mode") ||
		!strings.Contains(out, "nd dst 2001:db8::1/128") || !strings.Contains(out, "ext_chain") {
		t.Fatalf("text report: %v\n%s", err, out)
	}
	out, _, err = run(t, "steer", "--dev", l.B.Link, "--netns", l.B.Name)
	if err != nil || !strings.Contains(out, "no XDP program") {
		t.Fatalf("B: %v\n%s", err, out)
	}
	if _, _, err := run(t, "steer"); err == nil || !strings.Contains(err.Error(), "--dev is required") {
		t.Fatalf("no --dev: %v", err)
	}
	if _, _, err := run(t, "steer", "--dev", "x", "--netns", "no-such-ns"); err == nil || !strings.Contains(err.Error(), "ip netns list") {
		t.Fatalf("bad --netns: %v", err)
	}
}
