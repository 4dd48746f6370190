package gen

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Rate
	}{
		{"500", Rate{500, false}},
		{"50k", Rate{50e3, false}},
		{"50K", Rate{50e3, false}},
		{"1.5M", Rate{1.5e6, false}},
		{"2g", Rate{2e9, false}},
		{"100kpps", Rate{100e3, false}},
		{"2Mpps", Rate{2e6, false}},
		{"1e6", Rate{1e6, false}},
		{" 1M ", Rate{1e6, false}},
		{"800Mbps", Rate{800e6, true}},
		{"10Gbps", Rate{10e9, true}},
		{"2.5gbit", Rate{2.5e9, true}},
		{"100mbit/s", Rate{100e6, true}},
		{"25Gbits", Rate{25e9, true}},
		{"9600bps", Rate{9600, true}},
		{"0", Rate{0, false}},
		{"0bps", Rate{0, true}},
		{"10000G", Rate{1e13, false}}, // the largest
	} {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", " ", "-1", "-5k", "abc", "NaN", "nan", "Inf", "+Inf", "-Inf", "1e20", "1e13k", "10001G",
		"k", "M", "bps", "pps", "Mbps", "10 Gbps", "1,000", "1.5.5M", "1T", "5x", "0x", "1kk", "10Mbpsx",
	} {
		if r, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) = %+v, want an error", in, r)
		} else if !strings.Contains(err.Error(), "800Mbps") {
			t.Errorf("ParseRate(%q): error %q shows no example", in, err)
		}
	}
}

func TestRateString(t *testing.T) {
	for _, tc := range []struct {
		r    Rate
		want string
	}{
		{Rate{}, "max"},
		{Rate{0, true}, "max"},
		{Rate{500, false}, "500 pps"},
		{Rate{1.5e6, false}, "1.5e+06 pps"},
		{Rate{800e6, true}, "8e+08 bit/s (L1)"},
	} {
		if got := tc.r.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.r, got, tc.want)
		}
	}
	if got := (Rate{10e9, true}).Scale(0.25); got != (Rate{2.5e9, true}) {
		t.Errorf("Scale(0.25) = %+v", got)
	}
	if got := (Rate{}).Scale(1.0 / 3); got != (Rate{}) {
		t.Errorf("max Scale(1/3) = %+v, want max", got)
	}
}

func TestParseIMIX(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []SizeWeight
	}{
		{"64:7,594:4,1518:1", []SizeWeight{{64, 7}, {594, 4}, {1518, 1}}},
		{"64", []SizeWeight{{64, 1}}},
		{"64,1518", []SizeWeight{{64, 1}, {1518, 1}}},
		{" 64:7 , 1518 ", []SizeWeight{{64, 7}, {1518, 1}}},
		{"64:1,64:2", []SizeWeight{{64, 1}, {64, 2}}},
		{"128:4096", []SizeWeight{{128, 4096}}},
	} {
		got, err := ParseIMIX(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseIMIX(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"", ",", "abc", "64:", ":7", "64:0", "64:-1", "64:x", "64,,128", "64:1:2", "64;7", "64:7,", "x:1",
		"64:1.5", "1e3", "64:99999999999999999999",
	} {
		if sw, err := ParseIMIX(in); err == nil {
			t.Errorf("ParseIMIX(%q) = %v, want an error", in, sw)
		}
	}
	// ParseIMIX checks the syntax only; NewBuilder checks the sizes.
	sw, err := ParseIMIX("32:1,9000:2")
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec()
	spec.Sizes = sw
	if _, err := NewBuilder(spec, 0); !errors.Is(err, ErrSpec) {
		t.Errorf("NewBuilder of sizes 32 and 9000: %v, want ErrSpec", err)
	}
}

func TestParsePortRange(t *testing.T) {
	for _, tc := range []struct {
		in     string
		lo, hi uint16
	}{
		{"1024-2047", 1024, 2047},
		{"80", 80, 80},
		{"0", 0, 0},
		{"0-65535", 0, 65535},
		{"65535", 65535, 65535},
		{" 10 - 20 ", 10, 20},
		{"7-7", 7, 7},
	} {
		got, err := ParsePortRange(tc.in)
		if err != nil || got != (Range[uint16]{tc.lo, tc.hi}) {
			t.Errorf("ParsePortRange(%q) = %v, %v; want %d-%d", tc.in, got, err, tc.lo, tc.hi)
		}
	}
	for _, in := range []string{
		"", "-", "1-", "-1", "2047-1024", "65536", "0-65536", "a-b", "1-2-3", "1:2", "0x10", "+5", "1 2", "1,2",
	} {
		if r, err := ParsePortRange(in); err == nil {
			t.Errorf("ParsePortRange(%q) = %v, want an error", in, r)
		}
	}
}

func TestParseAddrRange(t *testing.T) {
	a := netip.MustParseAddr
	for _, tc := range []struct {
		in     string
		lo, hi netip.Addr
	}{
		{"198.18.0.1-198.18.0.254", a("198.18.0.1"), a("198.18.0.254")},
		{"10.0.0.1", a("10.0.0.1"), a("10.0.0.1")},
		{" 10.0.0.1 - 10.0.1.0 ", a("10.0.0.1"), a("10.0.1.0")},
		{"0.0.0.0-255.255.255.255", a("0.0.0.0"), a("255.255.255.255")},
		{"::1-::2", a("::1"), a("::2")},
		{"2001:db8::1", a("2001:db8::1"), a("2001:db8::1")},
		{"2001:db8::1-2001:db8::ffff:ffff", a("2001:db8::1"), a("2001:db8::ffff:ffff")},
	} {
		got, err := ParseAddrRange(tc.in)
		if err != nil || got != (Range[netip.Addr]{tc.lo, tc.hi}) {
			t.Errorf("ParseAddrRange(%q) = %v, %v; want %v-%v", tc.in, got, err, tc.lo, tc.hi)
		}
	}
	for _, in := range []string{
		"", "-", "10.0.0.9-10.0.0.1", "::ffff:10.0.0.1", "10.0.0.1-::1", "10.0.0.1-", "::2-::1",
		"2001:db8::1-2001:db8:0:0:1::", "fe80::1%eth0", "2001:db8::1-10.0.0.1",
		"10.0.0.256", "10.0.0.1/24", "10.0.0.1-10.0.0.2-10.0.0.3", "host", "10.0.0.01",
	} {
		if r, err := ParseAddrRange(in); err == nil {
			t.Errorf("ParseAddrRange(%q) = %v, want an error", in, r)
		}
	}
}

func TestStampRoundTrip(t *testing.T) {
	buf := make([]byte, StampLen)
	for _, tc := range []struct {
		stream uint8
		seq    uint64
		now    int64
	}{
		{0, 0, 0},
		{255, seqMask, math.MaxInt64},
		{3, 12345, 1_780_000_000_000_000_000},
		{1, 1, -1},
		{7, 1 << 47, math.MinInt64},
	} {
		PutStamp(buf, tc.stream, tc.seq, tc.now)
		if buf[0] != StampMagic {
			t.Errorf("magic %#x", buf[0])
		}
		stream, seq, now, ok := ParseStamp(buf)
		if !ok || stream != tc.stream || seq != tc.seq || now != tc.now {
			t.Errorf("ParseStamp(PutStamp(%d, %d, %d)) = %d, %d, %d, %v", tc.stream, tc.seq, tc.now, stream, seq, now, ok)
		}
	}
	// The sequence number is 48 bits: higher bits are dropped, not
	// spilled into the stream.
	PutStamp(buf, 5, 1<<48|42, 0)
	if stream, seq, _, _ := ParseStamp(buf); stream != 5 || seq != 42 {
		t.Errorf("seq 2^48+42: stream %d seq %d, want 5 42", stream, seq)
	}
	for _, p := range [][]byte{nil, buf[:StampLen-1], make([]byte, StampLen), append([]byte{StampMagic + 1}, buf[1:]...)} {
		if _, _, _, ok := ParseStamp(p); ok {
			t.Errorf("ParseStamp(%x) ok", p)
		}
	}
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"500", "50k", "1.5M", "800Mbps", "10Gbps", "2.5gbit", "0", "-1", "abc", "NaN", "1e20", "Inf", "1e-300", "0x1p4", "-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRate(s)
		if err != nil {
			if r != (Rate{}) {
				t.Fatalf("ParseRate(%q) = %+v with an error", s, r)
			}
			return
		}
		if math.IsNaN(r.Value) || math.IsInf(r.Value, 0) || r.Value < 0 || r.Value > 1e13 {
			t.Fatalf("ParseRate(%q) = %+v", s, r)
		}
		_ = r.String()
		if b := NewBucket(r, 64, 672, 0); b.Unlimited() != (r.Value == 0) {
			t.Fatalf("ParseRate(%q) = %+v: Unlimited %v", s, r, b.Unlimited())
		}
	})
}

func FuzzParseIMIX(f *testing.F) {
	for _, s := range []string{"64:7,594:4,1518:1", "64", "64,1518", "64:0", "1518:4096", "64:4095,65:2", "", ",,", "63", "64:1:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sw, err := ParseIMIX(s)
		if err != nil {
			return
		}
		if len(sw) == 0 {
			t.Fatalf("ParseIMIX(%q) = no sizes, no error", s)
		}
		total := 0
		for _, x := range sw {
			if x.Weight < 1 {
				t.Fatalf("ParseIMIX(%q): weight %d", s, x.Weight)
			}
			total += x.Weight
		}
		// What parses either builds, a period of frames of the sizes
		// given, or fails with ErrSpec.
		spec := baseSpec()
		spec.Sizes = sw
		spec.MaxSize = 2052
		b, err := NewBuilder(spec, 0)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("NewBuilder(%q): %v", s, err)
			}
			return
		}
		want := map[int]int{}
		for _, x := range sw {
			want[x.Size-FCSLen] += x.Weight
		}
		buf := make([]byte, 2048)
		for range max(total, 1) {
			n := b.Next(buf, 0)
			if want[n]--; want[n] < 0 {
				t.Fatalf("ParseIMIX(%q): too many frames of %d bytes in a period", s, n)
			}
		}
	})
}

func FuzzParsePortRange(f *testing.F) {
	for _, s := range []string{"1024-2047", "80", "0-65535", "2047-1024", "65536", "-", " 1 - 2 ", "1-2-3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParsePortRange(s)
		if err != nil {
			return
		}
		if r.Hi < r.Lo {
			t.Fatalf("ParsePortRange(%q) = %v", s, r)
		}
		again, err := ParsePortRange(fmt.Sprintf("%d-%d", r.Lo, r.Hi))
		if err != nil || again != r {
			t.Fatalf("ParsePortRange(%q) = %v, but its text parses to %v, %v", s, r, again, err)
		}
	})
}

func FuzzParseAddrRange(f *testing.F) {
	for _, s := range []string{"198.18.0.1-198.18.0.254", "10.0.0.1", "10.0.0.9-10.0.0.1", "::1", "::ffff:10.0.0.1", "-", "1.2.3.4-",
		"2001:db8::1-2001:db8::ff", "2001:db8::1-2001:db8:1::1", "fe80::1%eth0", "10.0.0.1-2001:db8::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseAddrRange(s)
		if err != nil {
			return
		}
		lo, hi := r.Lo.As16(), r.Hi.As16()
		if r.Lo.Is4() != r.Hi.Is4() || r.Lo.Is4In6() || r.Hi.Less(r.Lo) || r.Lo.Zone() != "" || [12]byte(lo[:12]) != [12]byte(hi[:12]) {
			t.Fatalf("ParseAddrRange(%q) = %v", s, r)
		}
		again, err := ParseAddrRange(r.Lo.String() + "-" + r.Hi.String())
		if err != nil || again != r {
			t.Fatalf("ParseAddrRange(%q) = %v, but its text parses to %v, %v", s, r, again, err)
		}
	})
}

func FuzzParseStamp(f *testing.F) {
	f.Add([]byte{}, uint8(0), uint64(0), int64(0))
	f.Add([]byte{StampMagic, 3, 0, 0, 0, 0, 0, 1, 0x18, 0xd7, 0, 0, 0, 0, 0, 0}, uint8(3), uint64(1), int64(1_780_000_000_000_000_000))
	f.Add(make([]byte, 15), uint8(255), uint64(seqMask), int64(-1))
	f.Add([]byte("\xf5not quite a stamp"), uint8(1), uint64(1<<48+5), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, p []byte, stream uint8, seq uint64, now int64) {
		if _, _, _, ok := ParseStamp(p); ok != (len(p) >= StampLen && p[0] == StampMagic) {
			t.Fatalf("ParseStamp(%x): ok %v", p, ok)
		}
		buf := make([]byte, StampLen+len(p))
		copy(buf[StampLen:], p)
		PutStamp(buf, stream, seq, now)
		gs, gq, gn, ok := ParseStamp(buf)
		if !ok || gs != stream || gq != seq&seqMask || gn != now {
			t.Fatalf("PutStamp(%d, %d, %d) parses to %d, %d, %d, %v", stream, seq, now, gs, gq, gn, ok)
		}
		if string(buf[StampLen:]) != string(p) {
			t.Fatalf("PutStamp wrote beyond the stamp")
		}
	})
}
