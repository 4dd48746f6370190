package kernel

import "testing"

func TestParse(t *testing.T) {
	for _, c := range []struct {
		release string
		want    Version
		ok      bool
		at68    bool
	}{
		{"6.8.0-45-generic", Version{6, 8}, true, true},
		{"6.18.44", Version{6, 18}, true, true},
		{"6.18.44-fc", Version{6, 18}, true, true},
		{"7.0", Version{7, 0}, true, true},
		{"5.15.0", Version{5, 15}, true, false},
		{"junk", Version{}, false, false},
		{"6.18.44-fc-v595", Version{6, 18}, true, true},
		{"5.4.0-150-generic", Version{5, 4}, true, false},
		{"6.8-rc1", Version{6, 8}, true, true},
		{"6.7.12", Version{6, 7}, true, false},
		{"7.3.4+deb14-amd64", Version{7, 3}, true, true},
		{"5.10.223", Version{5, 10}, true, false},
		{"10.0", Version{10, 0}, true, true},
		{"6", Version{}, false, false},
		{"x.8", Version{}, false, false},
		{"6.x", Version{}, false, false},
		{"", Version{}, false, false},
		{"unknown", Version{}, false, false},
	} {
		v, ok := Parse(c.release)
		if ok != c.ok || ok && v != c.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", c.release, v, ok, c.want, c.ok)
		}
		if got := ok && v.AtLeast(6, 8); got != c.at68 {
			t.Errorf("%q at least 6.8 = %v, want %v", c.release, got, c.at68)
		}
	}
}

func TestRelease(t *testing.T) {
	r := Release()
	if _, ok := Parse(r); !ok {
		t.Fatalf("Release() = %q: not a kernel release", r)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"6.8.0-45-generic", "7.3.4", "", "1.", ".1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, ok := Parse(s); ok && (v.Major < 0 || v.Minor < 0) {
			t.Fatalf("Parse(%q) = %v", s, v)
		}
	})
}
