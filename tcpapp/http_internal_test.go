package tcpapp

import "testing"

func TestContainsFold(t *testing.T) {
	for _, tc := range []struct {
		b, sub string
		want   bool
	}{
		{"Host: x\r\nConnection: Close", "connection: close", true},
		{"CONNECTION: CLOSE", "connection: close", true},
		{"connection: keep-alive", "connection: close", false},
		{"connection: clos", "connection: close", false},
		{"", "connection: close", false},
		{"anything", "", true},
	} {
		if got := containsFold([]byte(tc.b), []byte(tc.sub)); got != tc.want {
			t.Errorf("containsFold(%q, %q) = %v", tc.b, tc.sub, got)
		}
	}
	req := []byte("GET / HTTP/1.1\r\nConnection: close")
	if n := testing.AllocsPerRun(100, func() { containsFold(req, connClose) }); n != 0 {
		t.Errorf("containsFold allocates %v times", n)
	}
}

func TestFirstLine(t *testing.T) {
	for b, want := range map[string]string{
		"GET / HTTP/1.0\r\nHost: x": "GET / HTTP/1.0",
		"GET / HTTP/1.0":            "GET / HTTP/1.0",
		"":                          "",
	} {
		if got := string(firstLine([]byte(b))); got != want {
			t.Errorf("firstLine(%q) = %q, want %q", b, got, want)
		}
	}
}

func TestNewHTTP(t *testing.T) {
	h := NewHTTP(nil, "hi\n")
	const head = "HTTP/1.1 200 OK\r\nServer: fastpath\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
	if got := string(h.keepAlive); got != head+"\r\nhi\n" {
		t.Errorf("keep-alive response %q", got)
	}
	if got := string(h.closing); got != head+"Connection: close\r\n\r\nhi\n" {
		t.Errorf("closing response %q", got)
	}
}
