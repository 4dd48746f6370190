package load

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// FuzzResponse feeds arbitrary bytes to Response, whole and in the
// splits cuts gives, and checks:
//
//   - Feed never panics, never takes more than it is given, and takes
//     all of it unless the response ends or fails inside it;
//   - the result does not depend on the split;
//   - where net/http's http.ReadResponse reads a complete response framed
//     by Content-Length or chunked (after any interim 1xx), Response
//     agrees on status, body length, close and the byte where the
//     response ends, unless the head is one Response rejects on purpose
//     (stricterThanNetHTTP says which and why); where net/http reads a
//     body that runs until close, Response says ErrNoLength;
//   - with such a body, the pattern and length checks accept and reject
//     as they should.
//
// Where net/http rejects the bytes nothing more is compared: Response
// may accept what net/http does not (a chunk size with leading zeros,
// BWS before a chunk extension, field values it does not interpret).
func FuzzResponse(f *testing.F) {
	for _, tc := range responseCases {
		if len(tc.in) < 4000 {
			f.Add([]byte(tc.in+tc.rest), []byte{5, 1, 0, 64})
		}
	}
	f.Add([]byte(nginxResponse), []byte{})
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked(patternBody(600), 251)), []byte{1})
	f.Add([]byte("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"), []byte{3})
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nA: b\r\n\r\n"), []byte{2, 7})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) > 1<<16 {
			return
		}
		var r Response
		r.Reset(false, -1)
		whole := feed(t, &r, [][]byte{data})
		r.Reset(false, -1)
		split := feed(t, &r, splitBy(data, cuts))
		if whole.err != split.err || whole.done != split.done ||
			whole.status != split.status || whole.bodyLen != split.bodyLen || whole.close != split.close ||
			whole.err == nil && whole.n != split.n {
			t.Fatalf("whole: %+v\nsplit %v: %+v", whole, cuts, split)
		}
		// The body checks on any bytes: Feed's contract still holds.
		r.Reset(true, int64(len(cuts)))
		feed(t, &r, splitBy(data, cuts))
		compareNetHTTP(t, data, whole)
	})
}

// splitBy cuts data into pieces of the sizes in cuts, in turn (0: an
// empty Feed); no cuts, or only zeros: one piece.
func splitBy(data, cuts []byte) [][]byte {
	if bytes.Count(cuts, []byte{0}) == len(cuts) {
		return [][]byte{data}
	}
	var pieces [][]byte
	for i := 0; len(data) > 0; i++ {
		k := min(int(cuts[i%len(cuts)]), len(data))
		pieces = append(pieces, data[:k])
		data = data[k:]
	}
	return pieces
}

func compareNetHTTP(t *testing.T, data []byte, got result) {
	rd := bytes.NewReader(data)
	br := bufio.NewReader(rd)
	req, _ := http.NewRequest("GET", "http://example.com/", nil)
	consumed := func() int { return len(data) - rd.Len() - br.Buffered() }
	for {
		start := consumed()
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return
		}
		if why := stricterThanNetHTTP(data[start:consumed()], resp.ProtoMinor); why != "" {
			if got.err == nil {
				t.Fatalf("accepted a head it should reject (%s): %+v\n%q", why, got, data)
			}
			return
		}
		if interim(resp.StatusCode) {
			continue // no body: net/http's client reads the next response
		}
		if resp.ContentLength < 0 && resp.TransferEncoding == nil && !noBody(resp.StatusCode) {
			// A body until close.
			if got.err != ErrNoLength {
				t.Fatalf("net/http reads a body until close, Response: %+v\n%q", got, data)
			}
			return
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return // truncated or malformed body
		}
		for name := range resp.Trailer {
			if strings.ContainsAny(name, " \t") {
				// As in the head: RFC 9112 5.1, no whitespace before
				// the colon (net/http keeps such a field).
				if got.err != ErrBadHeader {
					t.Fatalf("accepted a trailer field name with a space: %+v\n%q", got, data)
				}
				return
			}
		}
		closeOK := got.close == resp.Close || resp.StatusCode == 101 // 101: Response says close, net/http not
		if got.err != nil || !got.done || got.n != consumed() || got.status != resp.StatusCode || got.bodyLen != int64(len(body)) || !closeOK {
			t.Fatalf("Response: %+v\nnet/http: status %d, body %d, close %v, took %d\n%q",
				got, resp.StatusCode, len(body), resp.Close, consumed(), data)
		}
		checkBodyChecks(t, data, body)
		return
	}
}

// checkBodyChecks runs the pattern and length checks over a response
// whose body both parsers read.
func checkBodyChecks(t *testing.T, data, body []byte) {
	var r Response
	r.Reset(true, int64(len(body)))
	got := feed(t, &r, [][]byte{data})
	bad := -1
	for i, c := range body {
		if c != byte(i%251) {
			bad = i
			break
		}
	}
	if bad < 0 && (got.err != nil || !got.done) || bad >= 0 && (got.err != ErrBadBody || got.bodyLen != int64(bad)) {
		t.Fatalf("pattern check, first bad byte %d: %+v", bad, got)
	}
	for _, want := range []int64{int64(len(body)) + 1, int64(len(body)) - 1} {
		if want < 0 {
			continue
		}
		r.Reset(false, want)
		if got := feed(t, &r, [][]byte{data}); got.err != ErrBadLength {
			t.Fatalf("a %d-byte body, %d wanted: %+v", len(body), want, got)
		}
	}
}

func noBody(status int) bool { return status < 200 || status == 204 || status == 304 }

var strictStatusLine = regexp.MustCompile(`^HTTP/1\.[0-9] [1-5][0-9][0-9](?: |$)`)

// stricterThanNetHTTP says why Response rejects a head that
// http.ReadResponse accepts, or "" if it should not. These are the
// places Response is deliberately the stricter of the two, each allowed
// or asked for by RFC 9112:
//
//   - the status line: net/http takes any "HTTP/d.d", several spaces
//     before the code and codes outside 100-599; RFC 9112 4 has exactly
//     one SP, RFC 9110 15 codes 100-599, and this client speaks HTTP/1.x;
//   - a space inside a field name: net/http keeps the field (and so
//     would not see "Content-Length : 5" as a length); RFC 9112 5.1
//     forbids whitespace before the colon (in a trailer field too:
//     compareNetHTTP checks those);
//   - a line folded onto a framing field: net/http joins it; Response
//     does not store folded values (RFC 9112 5.2 obsoletes folding);
//   - a framing field line over MaxFieldLen, a head over MaxHeadLen;
//   - Transfer-Encoding in HTTP/1.0: net/http ignores it; RFC 9112 6.1
//     says to treat the framing as faulty;
//   - Transfer-Encoding with Content-Length: net/http lets chunked win;
//     RFC 9112 6.3 says such a message "ought to be handled as an error".
func stricterThanNetHTTP(head []byte, minor int) string {
	if len(head) > MaxHeadLen {
		return "head over MaxHeadLen"
	}
	lines := bytes.Split(head, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSuffix(l, []byte("\r"))
	}
	if !strictStatusLine.Match(lines[0]) {
		return "status line"
	}
	var te, cl bool
	prevFraming := false
	for _, l := range lines[1:] {
		if len(l) == 0 {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if prevFraming {
				return "line folded onto a framing field"
			}
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		if bytes.ContainsAny(name, " \t") {
			return "space in a field name"
		}
		prevFraming = true
		switch {
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			te = true
		case bytes.EqualFold(name, []byte("Content-Length")):
			cl = true
		case bytes.EqualFold(name, []byte("Connection")):
		default:
			prevFraming = false
		}
		if prevFraming && len(l) > MaxFieldLen {
			return "framing field line over MaxFieldLen"
		}
	}
	if te && minor == 0 {
		return "Transfer-Encoding in HTTP/1.0"
	}
	if te && cl {
		return "Transfer-Encoding with Content-Length"
	}
	return ""
}

// TestStricterThanNetHTTP: each reason of stricterThanNetHTTP is a head
// net/http accepts and Response rejects.
func TestStricterThanNetHTTP(t *testing.T) {
	for _, in := range []string{
		"HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 099 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 600 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close" + string(bytes.Repeat([]byte(","), MaxFieldLen)) + "\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n" + string(bytes.Repeat([]byte("X-Pad: 0123456789012345678901234567890123456789\r\n"), MaxHeadLen/40)) + "Content-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	} {
		resp, err := http.ReadResponse(bufio.NewReaderSize(bytes.NewReader([]byte(in)), 64<<10), nil)
		if err != nil {
			t.Fatalf("net/http rejects %q: %v", in, err)
		}
		resp.Body.Close()
		head := []byte(in[:bytes.Index([]byte(in), []byte("\r\n\r\n"))+4])
		if why := stricterThanNetHTTP(head, resp.ProtoMinor); why == "" {
			t.Errorf("no reason given for %q", in)
		}
		var r Response
		if _, _, err := r.Feed([]byte(in)); err == nil || errors.Is(err, ErrNoLength) {
			t.Errorf("Response accepts %q: %v", in, err)
		}
	}
}
