package gen

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWaitUntil: it returns at the time, by the wall clock, within what
// the spin allows (the test allows 5 ms, for a loaded machine); a time past is
// ErrStartPassed; a cancelled context ends it early.
func TestWaitUntil(t *testing.T) {
	for range 3 {
		at := time.Now().Add(30 * time.Millisecond).Round(0)
		if err := WaitUntil(context.Background(), at); err != nil {
			t.Fatal(err)
		}
		if late := time.Now().Round(0).Sub(at); late < 0 || late > 5*time.Millisecond {
			t.Errorf("returned %v after the time", late)
		}
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
