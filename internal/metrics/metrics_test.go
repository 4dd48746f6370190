package metrics

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestServe(t *testing.T) {
	n := 0.0
	s, err := Serve("127.0.0.1:0", func(emit Emit) {
		n++
		emit("fastpath_test_frames_total", "Frames.", Counter, n, "device", "veth0", "queue", "0")
		emit("fastpath_test_frames_total", "Frames.", Counter, 2*n, "device", "veth0", "queue", "1")
		emit("fastpath_test_open", "Open things.", Gauge, 3)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 1; i <= 2; i++ {
		resp, err := http.Get("http://" + s.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		for _, want := range []string{
			"# TYPE fastpath_test_frames_total counter",
			`fastpath_test_frames_total{device="veth0",queue="1"} ` + map[int]string{1: "2", 2: "4"}[i],
			"# TYPE fastpath_test_open gauge",
			"fastpath_test_open 3",
			"go_goroutines",
		} {
			if !strings.Contains(body, want) {
				t.Fatalf("scrape %d lacks %q:\n%s", i, want, body)
			}
		}
	}
	if _, err := Serve(s.Addr(), func(Emit) {}); err == nil || !strings.Contains(err.Error(), "free host:port") {
		t.Fatalf("a second server on the same address: %v", err)
	}
}
