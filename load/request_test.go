package load

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

func TestAppendRequest(t *testing.T) {
	for _, close := range []bool{false, true} {
		prefix := []byte("earlier bytes")
		b := AppendRequest(bytes.Clone(prefix), "example.com:8080", "/files/1k.bin?x=1", close)
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("close=%v: the bytes already in dst were changed: %q", close, b)
		}
		raw := b[len(prefix):]
		br := bufio.NewReader(bytes.NewReader(raw))
		req, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("close=%v: net/http rejects %q: %v", close, raw, err)
		}
		if br.Buffered() != 0 {
			t.Errorf("close=%v: %d bytes after the request", close, br.Buffered())
		}
		if req.Method != "GET" || req.RequestURI != "/files/1k.bin?x=1" || req.Host != "example.com:8080" ||
			req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.UserAgent() != "fastpath-load" || req.ContentLength != 0 {
			t.Errorf("close=%v: parsed as %s %s %s host %q agent %q length %d", close, req.Method, req.RequestURI, req.Proto, req.Host, req.UserAgent(), req.ContentLength)
		}
		if req.Close != close {
			t.Errorf("close=%v: net/http reads Close=%v from %q", close, req.Close, raw)
		}
	}
}

func TestCheckRequest(t *testing.T) {
	for _, tc := range []struct {
		host, path string
		ok         bool
	}{
		{"example.com", "/", true},
		{"10.0.0.2:8080", "/a/b.html?q=1&r=%20", true},
		{"[fe80::1%25eth0]:80", "/~user/", true},
		{"", "/", false},
		{"example.com", "", false},
		{"example.com", "index.html", false},
		{"example.com", "/a b", false},
		{"example.com", "/a\r\nX-Injected: 1", false},
		{"example.com\r\nX: y", "/", false},
		{"exa mple.com", "/", false},
		{"example.com", "/a#frag", false},
		{"example.com", "/\x80", false},
	} {
		err := CheckRequest(tc.host, tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("CheckRequest(%q, %q) = %v, want ok=%v", tc.host, tc.path, err, tc.ok)
		}
		if err == nil {
			raw := AppendRequest(nil, tc.host, tc.path, false)
			if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw))); err != nil {
				t.Errorf("CheckRequest(%q, %q) passes but net/http rejects the request: %v", tc.host, tc.path, err)
			}
		}
	}
}
