package steering

import (
	"testing"

	"github.com/fastpathnet/fastpath/bpf"
	"github.com/fastpathnet/fastpath/internal/lab"
)

// TestInspect reads rules and counters back from the program's maps, as
// another process would, and compares them with the owner's view.
func TestInspect(t *testing.T) {
	l, s, _ := attachLab(t, Options{Default: Drop})
	if _, err := s.SetRules(testRules[:3]); err != nil {
		t.Fatal(err)
	}
	// A removal and an insertion, so that IDs, positions and counter slots
	// differ.
	rules, _ := s.Rules()
	if err := s.Remove(rules[1].ID); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		run(t, s, goldenUDP)
	}
	if _, err := s.Insert(0, testRules[7]); err != nil {
		t.Fatal(err)
	}
	run(t, s, udp(7001).build())
	run(t, s, udp(1).build())
	// IPv6 rules read back with their prefixes and family.
	for _, r := range testRules[8:] {
		if _, err := s.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	run(t, s, ns(engineIP6).build())

	var r *Report
	if err := l.A.Do(func() (err error) { r, err = Inspect(l.A.Link); return err }); err != nil {
		t.Fatal(err)
	}
	if !r.Attached || !r.Fastpath || r.ProgramName != bpf.ProgramName || r.Mode != "native" || r.Default != "drop" {
		t.Fatalf("report %+v", r)
	}
	want, _ := s.Rules()
	if len(r.Rules) != len(want) {
		t.Fatalf("report has %d rules, owner %d", len(r.Rules), len(want))
	}
	for i, w := range want {
		g := r.Rules[i]
		if g.ID != w.ID || g.Rule != w.Rule || g.Counter != w.Counter {
			t.Errorf("rule %d: report %+v, owner %+v", i, g, w)
		}
	}
	if r.Rules[1].Packets != 3 || r.Rules[0].Packets != 1 || r.Rules[4].Match != "nd dst 2001:db8::1/128" || r.Rules[4].Packets != 1 {
		t.Errorf("counters: %+v", r.Rules)
	}
	st, _ := s.Stats()
	for i, name := range Names {
		if r.Counters[name] != st[i] {
			t.Errorf("counter %s: report %+v, owner %+v", name, r.Counters[name], st[i])
		}
	}
	// B's device has no program.
	if err := l.B.Do(func() (err error) { r, err = Inspect(l.B.Link); return err }); err != nil || r.Attached {
		t.Fatalf("B: %+v, %v", r, err)
	}
}

func TestInspectForeignProgram(t *testing.T) {
	l := lab.NewT(t, lab.Options{})
	if err := l.B.AttachPass(); err != nil {
		t.Fatal(err)
	}
	var r *Report
	if err := l.B.Do(func() (err error) { r, err = Inspect(l.B.Link); return err }); err != nil {
		t.Fatal(err)
	}
	if !r.Attached || r.Fastpath || r.ProgramName != "fastpath_pass" {
		t.Fatalf("report %+v", r)
	}
}

// TestDecodeRule: every rule compiles into the program's form and reads
// back as itself, /0 prefixes and each family included.
func TestDecodeRule(t *testing.T) {
	rules := append([]Rule{
		{Name: "v4 /0", Dst: pfx("0.0.0.0/0"), Action: Drop},
		{Name: "v6 /0", Src: pfx("::/0"), Action: Engine},
		{Name: "mapped", Dst: pfx("::ffff:198.18.0.0/120"), DstPort: Ports(1, 2)},
		{Name: "both v6", Proto: ProtoTCP, Dst: pfx("2001:db8:1:2:3:4:5:0/113"), Src: pfx("fe80::/10")},
		{Name: "nd", Proto: ProtoND},
		{Name: "icmpv6", Proto: ProtoICMPv6, Src: pfx("2001:db8::/127")},
	}, testRules...)
	slots := make([]uint32, len(rules))
	rs, err := compile(rules, slots, Pass)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range rules {
		want.Dst, want.Src = want.Dst.Masked(), want.Src.Masked()
		if got := decodeRule(&rs.Rules[i], &rs.Names[i]); got != want {
			t.Errorf("rule %d: decoded %+v, want %+v", i, got, want)
		}
	}
}
