package load

import "testing"

// nginxResponse is a 200 with a 20-byte pattern body and the head nginx
// sends on a keep-alive connection.
var nginxResponse = "HTTP/1.1 200 OK\r\n" +
	"Server: nginx/1.24.0\r\n" +
	"Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
	"Content-Type: application/octet-stream\r\n" +
	"Content-Length: 20\r\n" +
	"Connection: keep-alive\r\n" +
	"\r\n" + pattern20

// BenchmarkResponse parses nginxResponse as the load generator does:
// Reset with the body checks on, then one Feed of the whole response.
func BenchmarkResponse(b *testing.B) {
	benchmarkFeed(b, []byte(nginxResponse), true, 20)
}

// BenchmarkResponseChunked: the same body, chunked in two.
func BenchmarkResponseChunked(b *testing.B) {
	in := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\n" +
		"Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n" +
		chunked(patternBody(20), 10))
	benchmarkFeed(b, in, true, 20)
}

// BenchmarkResponse1MiB: a 1 MiB pattern body; SetBytes counts the body.
func BenchmarkResponse1MiB(b *testing.B) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + string(patternBody(mib)))
	b.SetBytes(mib)
	benchmarkFeed(b, in, true, mib)
}

func benchmarkFeed(b *testing.B, in []byte, pattern bool, want int64) {
	var r Response
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(pattern, want)
		if n, done, err := r.Feed(in); n != len(in) || !done || err != nil {
			b.Fatalf("Feed = %d, %v, %v", n, done, err)
		}
	}
}
