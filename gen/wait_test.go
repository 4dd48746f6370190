package gen

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWaitUntil: it never returns before the time, by the wall clock,
// and returns at it within what the spin allows: the best of five tries
// within 5 ms, every one within 100 ms (a loaded machine may take the CPU
// from any one); a time past is ErrStartPassed; a cancelled context ends
// it early.
func TestWaitUntil(t *testing.T) {
	best := time.Hour
	for range 5 {
		at := time.Now().Add(30 * time.Millisecond).Round(0)
		if err := WaitUntil(context.Background(), at); err != nil {
			t.Fatal(err)
		}
		late := time.Now().Round(0).Sub(at)
		if late < 0 || late > 100*time.Millisecond {
			t.Errorf("returned %v after the time", late)
		}
		best = min(best, late)
	}
	if best > 5*time.Millisecond {
		t.Errorf("returned at best %v after the time, want within 5ms", best)
	}
	if err := WaitUntil(context.Background(), time.Now().Add(-time.Second)); !errors.Is(err, ErrStartPassed) {
		t.Errorf("a time past: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := WaitUntil(ctx, time.Now().Add(time.Hour)); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > time.Second {
		t.Errorf("cancelled after %v: %v", time.Since(start), err)
	}
}
