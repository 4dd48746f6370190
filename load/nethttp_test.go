package load

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// The responses of a real net/http server, read as raw bytes off a plain
// TCP connection, parsed both by Response and by net/http's own client
// reader (http.ReadResponse): the two must agree.

const mib = 1 << 20

// served is one path of the test server and what its body should be.
type served struct {
	path    string
	handler http.HandlerFunc
	pattern bool // the body is the test pattern
}

var servedPaths = []served{
	{"/fixed", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "20")
		w.Write(patternBody(20))
	}, true},
	// A small body without Content-Length: net/http adds one.
	{"/small", func(w http.ResponseWriter, r *http.Request) {
		w.Write(patternBody(1000))
	}, true},
	// Flushed between writes, without Content-Length: chunked.
	{"/chunked", func(w http.ResponseWriter, r *http.Request) {
		body := patternBody(3000)
		for _, part := range [][]byte{body[:1], body[1:700], body[700:2999], body[2999:]} {
			w.Write(part)
			w.(http.Flusher).Flush()
		}
	}, true},
	{"/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(mib))
		w.Write(patternBody(mib))
	}, true},
	{"/bigchunked", func(w http.ResponseWriter, r *http.Request) {
		body := patternBody(mib)
		for len(body) > 0 {
			k := min(len(body), 40000)
			w.Write(body[:k])
			w.(http.Flusher).Flush()
			body = body[k:]
		}
	}, true},
	{"/trailer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		w.Write(patternBody(100))
		w.(http.Flusher).Flush()
		w.Write(patternBody(300)[100:])
		w.Header().Set("X-Sum", "42")
	}, true},
	{"/hints", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Set("Content-Length", "20")
		w.Write(patternBody(20))
	}, true},
	{"/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}, true},
	{"/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNotModified)
	}, true},
	{"/missing", http.NotFound, false},
	{"/empty", func(w http.ResponseWriter, r *http.Request) {}, true},
	// Last: the server closes the connection after it.
	{"/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		w.Write(patternBody(50))
	}, true},
}

// reference is net/http's reading of one response.
type reference struct {
	status   int
	body     int64
	close    bool
	consumed int // bytes of raw the response took
}

// readReference reads the response at the start of raw with
// http.ReadResponse, skipping interim 1xx responses as net/http's client
// does, and reads its body to the end.
func readReference(raw []byte) (reference, error) {
	rd := bytes.NewReader(raw)
	br := bufio.NewReader(rd)
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	for {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return reference{}, err
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return reference{}, err
		}
		if interim(resp.StatusCode) {
			continue
		}
		return reference{
			status:   resp.StatusCode,
			body:     int64(len(body)),
			close:    resp.Close,
			consumed: len(raw) - rd.Len() - br.Buffered(),
		}, nil
	}
}

func newServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	for _, s := range servedPaths {
		mux.HandleFunc(s.path, s.handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func dial(t *testing.T, srv *httptest.Server) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestResponseNetHTTP fetches each path on its own connection with
// Connection: close, so the raw bytes are exactly one response, and
// checks Response against http.ReadResponse on them: status, body
// length, close and where the response ends.
func TestResponseNetHTTP(t *testing.T) {
	srv := newServer(t)
	host := srv.Listener.Addr().String()
	for _, s := range servedPaths {
		t.Run(s.path, func(t *testing.T) {
			conn := dial(t, srv)
			if _, err := conn.Write(AppendRequest(nil, host, s.path, true)); err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(conn)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := readReference(raw)
			if err != nil {
				t.Fatalf("net/http cannot read the response: %v\n%q", err, head(raw))
			}
			if ref.consumed != len(raw) || !ref.close {
				t.Fatalf("net/http took %d of %d bytes, close %v: the server should have sent one response and closed", ref.consumed, len(raw), ref.close)
			}
			want := int64(-1)
			if s.pattern {
				want = ref.body
			}
			// Whole, in pieces of several sizes, and a byte at a time
			// (small responses only).
			for _, size := range []int{len(raw), 1460, 4096, 65536, 1} {
				if size == 1 && len(raw) > 10000 {
					continue
				}
				var r Response
				r.Reset(s.pattern, want)
				var pieces [][]byte
				for i := 0; i < len(raw); i += size {
					pieces = append(pieces, raw[i:min(i+size, len(raw))])
				}
				got := feed(t, &r, pieces)
				if got.err != nil || !got.done || got.n != ref.consumed || got.status != ref.status || got.bodyLen != ref.body || got.close != ref.close {
					t.Fatalf("in pieces of %d: done %v, %v, took %d, status %d, body %d, close %v; net/http: took %d, status %d, body %d, close %v\n%q",
						size, got.done, got.err, got.n, got.status, got.bodyLen, got.close, ref.consumed, ref.status, ref.body, ref.close, head(raw))
				}
			}
		})
	}
}

// TestResponseNetHTTPKeepAlive sends every request on one connection at
// once (pipelined, keep-alive but the last) and parses the responses as
// the bytes come off the connection, each Feed starting where the last
// response ended.
func TestResponseNetHTTPKeepAlive(t *testing.T) {
	srv := newServer(t)
	host := srv.Listener.Addr().String()
	conn := dial(t, srv)
	var reqs []byte
	for _, s := range servedPaths {
		reqs = AppendRequest(reqs, host, s.path, false)
	}
	go conn.Write(reqs) // the server answers while we write

	buf := make([]byte, 1500) // about one segment a read
	var pending []byte        // bytes read but not yet taken
	var r Response
	for i, s := range servedPaths {
		r.Reset(false, -1)
		for {
			if len(pending) == 0 {
				n, err := conn.Read(buf)
				if err != nil {
					t.Fatalf("%s: read: %v (status %d, %d body bytes so far)", s.path, err, r.Status(), r.BodyLen())
				}
				pending = buf[:n]
			}
			n, done, err := r.Feed(pending)
			if err != nil {
				t.Fatalf("%s: %v", s.path, err)
			}
			pending = pending[n:]
			if done {
				break
			}
		}
		// The same response on its own connection: net/http's reading.
		single := dial(t, srv)
		single.Write(AppendRequest(nil, host, s.path, true))
		raw, err := io.ReadAll(single)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := readReference(raw)
		if err != nil {
			t.Fatal(err)
		}
		last := i == len(servedPaths)-1
		if r.Status() != ref.status || r.BodyLen() != ref.body || r.Close() != last {
			t.Fatalf("%s: status %d, body %d, close %v; want %d, %d, %v", s.path, r.Status(), r.BodyLen(), r.Close(), ref.status, ref.body, last)
		}
	}
	if len(pending) != 0 {
		t.Fatalf("%d bytes after the last response", len(pending))
	}
	if n, err := conn.Read(buf); err != io.EOF {
		t.Fatalf("after the last response (Connection: close): read %d, %v; want EOF", n, err)
	}
}

// head is the start of a response, for messages.
func head(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 && i < 2000 {
		return raw[:i+4]
	}
	return raw[:min(len(raw), 200)]
}
