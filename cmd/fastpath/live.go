package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/fastpathnet/fastpath/port"
)

// live drives a long run's progress: it calls tick every interval
// (never when interval is 0), and returns when ctx is cancelled (true:
// interrupted), when duration has passed (0: no limit), when one of stops
// is closed, or when done reports true (checked every 10 ms; nil: never).
func live(ctx context.Context, duration, interval time.Duration, stops []<-chan struct{}, done func() bool, tick func(now time.Time)) bool {
	var end <-chan time.Time
	if duration > 0 {
		t := time.NewTimer(duration)
		defer t.Stop()
		end = t.C
	}
	var ticks <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		ticks = t.C
	}
	stopped := make(chan struct{})
	quit := make(chan struct{})
	defer close(quit)
	for _, s := range stops {
		go func() {
			select {
			case <-s:
				select {
				case stopped <- struct{}{}:
				case <-quit:
				}
			case <-quit:
			}
		}()
	}
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return true
		case <-end:
			return false
		case <-stopped:
			return false
		case <-poll.C:
			if done != nil && done() {
				return false
			}
		case now := <-ticks:
			tick(now)
		}
	}
}

// every is interval, or 0 (no live stats) with --json.
func every(interval time.Duration, json bool) time.Duration {
	if json {
		return 0
	}
	return interval
}

const hugePagesUsage = "back the UMEMs with 2 MiB huge pages (vm.nr_hugepages), falling back to normal pages with a note"

// hugePagesNote says on w, once, that huge pages were asked for and not
// obtained, and what to do.
func hugePagesNote(asked bool, m port.Modes, w io.Writer) {
	if asked && !m.HugePages {
		fmt.Fprintln(w, "note: --huge-pages: no free 2 MiB huge pages, running on normal pages; reserve some with: sysctl vm.nr_hugepages=N (N x 2 MiB, enough for every queue's UMEM)")
	}
}
