package load

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// patternBody is the body a pattern server sends: byte i is i % 251.
func patternBody(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// chunked encodes body in chunks of size bytes (the last may be shorter),
// then the last chunk and an empty trailer section.
func chunked(body []byte, size int) string {
	var sb strings.Builder
	for len(body) > 0 {
		k := min(size, len(body))
		sb.WriteString(strings.ToLower(hex(k)))
		sb.WriteString("\r\n")
		sb.Write(body[:k])
		sb.WriteString("\r\n")
		body = body[k:]
	}
	sb.WriteString("0\r\n\r\n")
	return sb.String()
}

func hex(n int) string {
	const digits = "0123456789ABCDEF"
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n >>= 4 {
		b = append([]byte{digits[n&15]}, b...)
	}
	return string(b)
}

// result is what a parse ends with.
type result struct {
	n       int
	done    bool
	err     error
	status  int
	bodyLen int64
	close   bool
}

// feed feeds pieces in order, as a connection would, until the response
// is done or fails. It checks Feed's contract on each call: n within the
// piece, and all of it taken unless the response ended in it.
func feed(t *testing.T, r *Response, pieces [][]byte) result {
	t.Helper()
	var res result
	for _, p := range pieces {
		n, done, err := r.Feed(p)
		if n < 0 || n > len(p) {
			t.Fatalf("Feed took %d of %d bytes", n, len(p))
		}
		if !done && err == nil && n != len(p) {
			t.Fatalf("Feed took %d of %d bytes, not done and no error", n, len(p))
		}
		if done && err != nil {
			t.Fatalf("Feed returned done and %v", err)
		}
		res.n += n
		res.done, res.err = done, err
		if done || err != nil {
			break
		}
	}
	res.status, res.bodyLen, res.close = r.Status(), r.BodyLen(), r.Close()
	return res
}

type responseCase struct {
	name    string
	in      string
	pattern bool
	wantLen int64 // -1: any; tests give 0 as "any" unless lenSet
	lenSet  bool

	err     error
	status  int
	bodyLen int64
	close   bool
	rest    string // bytes after the response (the next one): not taken
}

const next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

var pattern20 = string(patternBody(20))

var responseCases = []responseCase{
	// Content-Length.
	{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, bodyLen: 5},
	{name: "content-length zero", in: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200},
	{name: "field names in any case", in: "HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 5\r\nCONNECTION: CLOSE\r\n\r\nhello", status: 200, bodyLen: 5, close: true},
	{name: "equal content-lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length:3\r\n\r\nabc", status: 200, bodyLen: 3},
	{name: "content-length white space", in: "HTTP/1.1 200 OK\r\nContent-Length: \t 3 \t\r\n\r\nabc", status: 200, bodyLen: 3},
	{name: "content-length leading zeros", in: "HTTP/1.1 200 OK\r\nContent-Length: 003\r\n\r\nabc", status: 200, bodyLen: 3},
	{name: "nginx keep-alive head", in: "HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 20\r\nConnection: keep-alive\r\n\r\n" + pattern20,
		pattern: true, wantLen: 20, lenSet: true, status: 200, bodyLen: 20},
	{name: "no reason phrase", in: "HTTP/1.1 404\r\nContent-Length: 1\r\n\r\nx", status: 404, bodyLen: 1},
	{name: "empty reason phrase", in: "HTTP/1.1 500 \r\nContent-Length: 0\r\n\r\n", status: 500},
	{name: "long reason phrase", in: "HTTP/1.1 200 " + strings.Repeat("very ", 200) + "OK\r\nContent-Length: 0\r\n\r\n", status: 200},
	{name: "long skipped field", in: "HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1},
	{name: "long skipped field name", in: "HTTP/1.1 200 OK\r\nX-" + strings.Repeat("a", 300) + ": 1\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1},
	{name: "framing field of exactly MaxFieldLen", in: "HTTP/1.1 200 OK\r\nConnection: close" + strings.Repeat(",", MaxFieldLen-len("Connection: close")) + "\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1, close: true},
	{name: "folded skipped field", in: "HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\n\tc\r\nContent-Length: 1\r\n\r\nx", status: 200, bodyLen: 1},
	{name: "bare LF line ends", in: "HTTP/1.1 200 OK\nContent-Length: 2\nX: y\n\nhi", status: 200, bodyLen: 2},
	{name: "CR before the line end of a framing field", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\r\n\r\nhi", status: 200, bodyLen: 2},
	{name: "status 599", in: "HTTP/1.1 599 x\r\nContent-Length: 0\r\n\r\n", status: 599},
	{name: "HTTP/1.2 reads as 1.1", in: "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200},
	{name: "pipelined after content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", rest: next, status: 200, bodyLen: 5},

	// Chunked.
	{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", status: 200, bodyLen: 11},
	{name: "chunked in any case", in: "HTTP/1.1 200 OK\r\ntransfer-encoding:  Chunked \r\n\r\n5\r\nhello\r\n0\r\n\r\n", status: 200, bodyLen: 5},
	{name: "chunked empty", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", status: 200},
	{name: "chunk sizes in hex, either case, leading zeros", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0a\r\n0123456789\r\nA\r\n0123456789\r\n00\r\n\r\n", status: 200, bodyLen: 20},
	{name: "chunk extensions", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n1 ; a=\"b;c\" ;d\r\n!\r\n0;last\r\n\r\n", status: 200, bodyLen: 6},
	{name: "chunked trailers", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\nX-Other: a\r\n folded\r\n\r\n", status: 200, bodyLen: 3},
	{name: "chunked pattern", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(patternBody(1000), 97),
		pattern: true, wantLen: 1000, lenSet: true, status: 200, bodyLen: 1000},
	{name: "chunked close", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\nx\r\n0\r\n\r\n", status: 200, bodyLen: 1, close: true},
	{name: "pipelined after chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n", rest: next, status: 200, bodyLen: 1},

	// Interim and bodiless responses.
	{name: "100 continue then 200", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, bodyLen: 2},
	{name: "103 then 100 then 200", in: "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nContent-Length: 9\r\n\r\nHTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, bodyLen: 2},
	{name: "204 no body", in: "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n", rest: next, status: 204},
	{name: "304 with the content-length of the resource", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 1000\r\n\r\n", rest: next, status: 304},
	{name: "304 chunked", in: "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", rest: next, status: 304},
	{name: "101 switching protocols", in: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", rest: "\x81\x05hello", status: 101, close: true},

	// Connection.
	{name: "HTTP/1.0 close", in: "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc", status: 200, bodyLen: 3, close: true},
	{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\n\r\nabc", status: 200, bodyLen: 3},
	{name: "HTTP/1.0 keep-alive and close", in: "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", status: 200, close: true},
	{name: "HTTP/1.1 close in a list", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive , x-option,close\r\nContent-Length: 0\r\n\r\n", status: 200, close: true},
	{name: "HTTP/1.1 close is a whole option", in: "HTTP/1.1 200 OK\r\nConnection: closed, xclose\r\nContent-Length: 0\r\n\r\n", status: 200},
	{name: "interim close does not count", in: "HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", status: 200},

	// Expected length and pattern.
	{name: "want length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", wantLen: 5, lenSet: true, status: 200, bodyLen: 5},
	{name: "want zero length", in: "HTTP/1.1 204 No Content\r\n\r\n", wantLen: 0, lenSet: true, status: 204},
	{name: "bad length: content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", wantLen: 4, lenSet: true, err: ErrBadLength, status: 200},
	{name: "bad length: short chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", wantLen: 6, lenSet: true, err: ErrBadLength, status: 200, bodyLen: 5},
	{name: "bad length: long chunked, found at its chunk-size line", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n5\r\n", wantLen: 6, lenSet: true, err: ErrBadLength, status: 200, bodyLen: 5},
	{name: "bad length: 204", in: "HTTP/1.1 204 No Content\r\n\r\n", wantLen: 20, lenSet: true, err: ErrBadLength, status: 204},
	{name: "bad body: content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + pattern20[:13] + "X" + pattern20[14:], pattern: true, err: ErrBadBody, status: 200, bodyLen: 13},
	{name: "bad body: later chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked([]byte(pattern20[:10]+"\x00"+pattern20[11:]), 10), pattern: true, err: ErrBadBody, status: 200, bodyLen: 10},
	{name: "pattern past one period", in: "HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + string(patternBody(251)) + string(patternBody(49)), pattern: true, status: 200, bodyLen: 300},
	{name: "bad body: second period differs", in: "HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n" + string(patternBody(251)) + "\x01" + string(patternBody(48)), pattern: true, err: ErrBadBody, status: 200, bodyLen: 251},

	// Malformed status lines.
	{name: "empty line for a status line", in: "\r\nHTTP/1.1 200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "HTTP/2", in: "HTTP/2.0 200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "HTTP/1.x", in: "HTTP/1.x 200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "lower-case version", in: "http/1.1 200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "not HTTP", in: "ICY 200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "two-digit status", in: "HTTP/1.1 20 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "four-digit status", in: "HTTP/1.1 2000 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "status below 100", in: "HTTP/1.1 099 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "status above 599", in: "HTTP/1.1 600 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "status with a letter", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "status with a sign", in: "HTTP/1.1 +20 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "two spaces before the status", in: "HTTP/1.1  200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "tab before the status", in: "HTTP/1.1\t200 OK\r\n\r\n", err: ErrBadStatusLine},
	{name: "short status line", in: "HTTP/1.1\r\n\r\n", err: ErrBadStatusLine},
	{name: "bad status line after 100", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 OK\r\n\r\n", err: ErrBadStatusLine},

	// Malformed fields.
	{name: "field without a colon", in: "HTTP/1.1 200 OK\r\nContent-Length 5\r\n\r\nhello", err: ErrBadHeader, status: 200},
	{name: "space before the colon", in: "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello", err: ErrBadHeader, status: 200},
	{name: "empty field name", in: "HTTP/1.1 200 OK\r\n: 5\r\n\r\nhello", err: ErrBadHeader, status: 200},
	{name: "bad byte in a field name", in: "HTTP/1.1 200 OK\r\nX@Y: 5\r\nContent-Length: 0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "fold before any field", in: "HTTP/1.1 200 OK\r\n X: 1\r\nContent-Length: 0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "fold onto content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n 2\r\n\r\nx", err: ErrBadHeader, status: 200},
	{name: "fold onto connection", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive,\r\n close\r\nContent-Length: 0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "content-length not a number", in: "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "content-length negative", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "content-length with a sign", in: "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", err: ErrBadHeader, status: 200},
	{name: "content-length empty", in: "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "content-length list", in: "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello", err: ErrBadHeader, status: 200},
	{name: "content-length two numbers", in: "HTTP/1.1 200 OK\r\nContent-Length: 5 5\r\n\r\nhello", err: ErrBadHeader, status: 200},
	{name: "content-length overflow", in: "HTTP/1.1 200 OK\r\nContent-Length: 9223372036854775808\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "content-lengths that differ", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", err: ErrBadHeader, status: 200},
	{name: "invalid content-length on a 204", in: "HTTP/1.1 204 No Content\r\nContent-Length: x\r\n\r\n", err: ErrBadHeader, status: 204},
	{name: "transfer coding gzip", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "transfer codings gzip, chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "transfer-encoding twice", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "transfer-encoding in HTTP/1.0", in: "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "transfer-encoding and content-length", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "no length", in: "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody until close", err: ErrNoLength, status: 200},
	{name: "no length HTTP/1.0", in: "HTTP/1.0 200 OK\r\n\r\nbody until close", err: ErrNoLength, status: 200, close: true},
	{name: "head too large", in: "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 91)+"\r\n", 170) + "Content-Length: 0\r\n\r\n", err: ErrHeaderTooLarge, status: 200},
	{name: "framing field too long", in: "HTTP/1.1 200 OK\r\nConnection: close" + strings.Repeat(",", MaxFieldLen) + "\r\nContent-Length: 0\r\n\r\n", err: ErrHeaderTooLarge, status: 200},
	{name: "status line never ends", in: "HTTP/1.1 200 OK" + strings.Repeat(" ", MaxHeadLen), err: ErrHeaderTooLarge},

	// Malformed chunks.
	{name: "chunk size not hex", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nz\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size empty", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size with leading space", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size with a sign", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size then junk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size line ends in a bare LF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size too large", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000000000000\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size line too long", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("e", maxChunkLine) + "\r\nx\r\n0\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk size past the kept bytes", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + strings.Repeat("0", MaxFieldLen) + "1\r\nx\r\n0\r\n\r\n", err: ErrBadChunk, status: 200},
	{name: "chunk longer than its size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n", err: ErrBadChunk, status: 200, bodyLen: 5},
	{name: "chunk data ends in a bare LF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", err: ErrBadChunk, status: 200, bodyLen: 5},
	{name: "chunk data ends in CR and no LF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n", err: ErrBadChunk, status: 200, bodyLen: 5},
	{name: "space in a trailer field name", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum : 1\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "malformed trailer", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nnot a field\r\n\r\n", err: ErrBadHeader, status: 200},
	{name: "trailer too large", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("p", 91)+"\r\n", 170) + "\r\n", err: ErrHeaderTooLarge, status: 200},
}

func (tc responseCase) reset(r *Response) {
	want := int64(-1)
	if tc.lenSet {
		want = tc.wantLen
	}
	r.Reset(tc.pattern, want)
}

func (tc responseCase) check(t *testing.T, how string, got result) {
	t.Helper()
	if !errors.Is(got.err, tc.err) || got.err != nil && tc.err == nil {
		t.Fatalf("%s: error %v, want %v", how, got.err, tc.err)
	}
	if tc.err == nil {
		if wantN := len(tc.in); !got.done || got.n != wantN {
			t.Fatalf("%s: done %v after %d bytes, want done after %d", how, got.done, got.n, wantN)
		}
	}
	if got.status != tc.status || got.bodyLen != tc.bodyLen || got.close != tc.close {
		t.Fatalf("%s: status %d, body %d bytes, close %v; want %d, %d, %v", how, got.status, got.bodyLen, got.close, tc.status, tc.bodyLen, tc.close)
	}
}

func TestResponse(t *testing.T) {
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			var r Response
			tc.reset(&r)
			tc.check(t, "whole", feed(t, &r, [][]byte{[]byte(tc.in + tc.rest)}))
		})
	}
}

// TestResponseSplits feeds every case split at every byte position, and
// one byte at a time: the result must not depend on how the bytes
// arrive.
func TestResponseSplits(t *testing.T) {
	var r Response // reused: Reset must clear everything
	for _, tc := range responseCases {
		t.Run(tc.name, func(t *testing.T) {
			in := []byte(tc.in + tc.rest)
			for i := 0; i <= len(in); i++ {
				tc.reset(&r)
				tc.check(t, "split at "+strconv.Itoa(i), feed(t, &r, [][]byte{in[:i], in[i:]}))
				if len(in) > 2000 && i > 300 && i < len(in)-300 {
					i += 37 // long cases: every position near the ends, a sample between
				}
			}
			for _, step := range []int{1, 2, 3, 7} {
				var pieces [][]byte
				for i := 0; i < len(in); i += step {
					pieces = append(pieces, in[i:min(i+step, len(in))])
				}
				tc.reset(&r)
				tc.check(t, strconv.Itoa(step)+" bytes at a time", feed(t, &r, pieces))
			}
		})
	}
}

// TestResponseIncomplete: every proper prefix of a valid response is
// taken whole and is neither done nor an error.
func TestResponseIncomplete(t *testing.T) {
	var r Response
	for _, tc := range responseCases {
		if tc.err != nil {
			continue
		}
		for i := 0; i < len(tc.in); i++ {
			tc.reset(&r)
			n, done, err := r.Feed([]byte(tc.in[:i]))
			if n != i || done || err != nil {
				t.Fatalf("%s: the first %d bytes: took %d, done %v, error %v", tc.name, i, n, done, err)
			}
		}
	}
}

// TestResponseEnd: once done, or failed, Feed takes nothing and says the
// same until Reset.
func TestResponseEnd(t *testing.T) {
	var r Response
	in := []byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" + next)
	n, done, err := r.Feed(in)
	if n != 40 || !done || err != nil {
		t.Fatalf("Feed = %d, %v, %v; want 40, true, nil", n, done, err)
	}
	for _, p := range [][]byte{in[n:], nil, []byte("x")} {
		if n, done, err := r.Feed(p); n != 0 || !done || err != nil {
			t.Fatalf("Feed(%q) after the end = %d, %v, %v; want 0, true, nil", p, n, done, err)
		}
	}
	// The next response, on the same Response.
	r.Reset(false, -1)
	if n, done, err := r.Feed(in[40:]); n != len(next) || !done || err != nil || r.BodyLen() != 2 {
		t.Fatalf("the next response: %d, %v, %v, body %d", n, done, err, r.BodyLen())
	}

	r.Reset(false, -1)
	bad := []byte("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
	if _, _, err := r.Feed(bad); err != ErrBadHeader {
		t.Fatalf("Feed = %v, want ErrBadHeader", err)
	}
	for _, p := range [][]byte{nil, []byte(next)} {
		if n, done, err := r.Feed(p); n != 0 || done || err != ErrBadHeader {
			t.Fatalf("Feed(%q) after an error = %d, %v, %v; want 0, false, ErrBadHeader", p, n, done, err)
		}
	}
	r.Reset(false, -1)
	if _, done, err := r.Feed([]byte(next)); !done || err != nil {
		t.Fatalf("after Reset: %v, %v", done, err)
	}
}

// TestResponseZero: the zero Response parses any length, no pattern.
func TestResponseZero(t *testing.T) {
	var r Response
	if r.Status() != 0 || r.BodyLen() != 0 || r.Close() {
		t.Fatal("zero Response reports a response")
	}
	if _, done, err := r.Feed([]byte(next)); !done || err != nil || r.Status() != 200 || r.BodyLen() != 2 {
		t.Fatalf("zero Response: done %v, %v, status %d, body %d", done, err, r.Status(), r.BodyLen())
	}
}

// TestResponseInterimStatus: Status is 0 while only an interim response
// has been read.
func TestResponseInterimStatus(t *testing.T) {
	var r Response
	r.Reset(false, -1)
	r.Feed([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 2"))
	if r.Status() != 0 {
		t.Fatalf("Status %d after 100 Continue, want 0", r.Status())
	}
	r.Feed([]byte("01 Created\r\n"))
	if r.Status() != 201 {
		t.Fatalf("Status %d, want 201", r.Status())
	}
}

// TestTokenEqualFold: for a token, tokenEqualFold's bit trick agrees with
// equalFold, byte by byte, over every token byte and every byte of the
// framing field names.
func TestTokenEqualFold(t *testing.T) {
	for _, name := range []string{"content-length", "transfer-encoding", "connection"} {
		for i := range len(name) {
			for c := range 256 {
				if !tchar[c] {
					continue
				}
				b := []byte(name)
				b[i] = byte(c)
				if got, want := tokenEqualFold(b, name), equalFold(b, name); got != want {
					t.Errorf("%q against %q: tokenEqualFold %v, equalFold %v", b, name, got, want)
				}
			}
		}
	}
}
