//go:build !race

package load

import (
	"strings"
	"testing"
)

var (
	sinkInt  int
	sinkBool bool
	sinkErr  error
)

// TestNoAllocs has one row per path through Reset and Feed: none may
// allocate.
func TestNoAllocs(t *testing.T) {
	fixed := []byte(nginxResponse)
	chunkedExt := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")
	interim := []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	longField := []byte("HTTP/1.1 200 OK\r\nX-Long: " + strings.Repeat("a", 1000) + "\r\nContent-Length: 0\r\n\r\n")
	big := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + string(patternBody(mib)))
	bigChunked := []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(patternBody(mib), 16384))
	malformed := []byte("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
	badBody := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
	var r Response

	whole := func(b []byte, pattern bool, want int64) func() {
		return func() {
			r.Reset(pattern, want)
			sinkInt, sinkBool, sinkErr = r.Feed(b)
		}
	}
	everySplit := func(b []byte) func() {
		return func() {
			for i := 0; i <= len(b); i++ {
				r.Reset(false, -1)
				r.Feed(b[:i])
				sinkInt, sinkBool, sinkErr = r.Feed(b[i:])
			}
		}
	}
	byteAtATime := func(b []byte) func() {
		return func() {
			r.Reset(false, -1)
			for i := range b {
				sinkInt, sinkBool, sinkErr = r.Feed(b[i : i+1])
			}
		}
	}
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Reset", func() { r.Reset(true, 20) }},
		{"Status/BodyLen/Close", func() { sinkInt = r.Status() + int(r.BodyLen()); sinkBool = r.Close() }},
		{"Feed content-length", whole(fixed, true, 20)},
		{"Feed chunked, extensions, trailer", whole(chunkedExt, false, 11)},
		{"Feed 100 Continue then 200", whole(interim, false, -1)},
		{"Feed long skipped field", whole(longField, false, -1)},
		{"Feed 1 MiB pattern", whole(big, true, mib)},
		{"Feed 1 MiB pattern chunked", whole(bigChunked, true, mib)},
		{"Feed content-length split at every byte", everySplit(fixed)},
		{"Feed chunked split at every byte", everySplit(chunkedExt)},
		{"Feed long field split at every byte", everySplit(longField)},
		{"Feed content-length a byte at a time", byteAtATime(fixed)},
		{"Feed chunked a byte at a time", byteAtATime(chunkedExt)},
		{"Feed malformed, then again", func() {
			r.Reset(false, -1)
			r.Feed(malformed)
			sinkInt, sinkBool, sinkErr = r.Feed(malformed)
		}},
		{"Feed bad body", whole(badBody, true, -1)},
		{"Feed bad length", whole(fixed, false, 19)},
	} {
		if got := testing.AllocsPerRun(20, tc.fn); got != 0 {
			t.Errorf("%s: %v allocations, want 0", tc.name, got)
		}
	}
}
