package vmlab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// InGuest reports whether this process runs inside a lab guest.
func InGuest() bool {
	_, err := os.Stat(filepath.Join(GuestJobDir, "run.sh"))
	return err == nil
}

var reqSeq atomic.Uint64

// Request asks the host, from inside a guest, to carry out one request
// (see requestDir: "link 1 off", "unplug 1") and waits until it has.
func Request(ctx context.Context, line string) error {
	dir := filepath.Join(GuestJobDir, requestDir)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	name := filepath.Join(dir, fmt.Sprintf("r%d-%d", os.Getpid(), reqSeq.Add(1)))
	if err := os.WriteFile(name+".tmp", []byte(line+"\n"), 0o644); err != nil {
		return err
	}
	// The host reads only names without a dot: the rename publishes it.
	if err := os.Rename(name+".tmp", name); err != nil {
		return err
	}
	for {
		b, err := os.ReadFile(name + ".done")
		if err == nil {
			if res := strings.TrimSpace(string(b)); res != "ok" {
				return fmt.Errorf("vmlab: request %q: %s", line, res)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("vmlab: request %q: %w", line, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
