package port

import (
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Pin locks the calling goroutine to its thread for good and, when core is
// 0 or more, binds the thread to that core. Call it first thing in a
// goroutine that drives a queue. The thread is never handed back: it exits
// with the goroutine, so no other goroutine inherits its affinity.
func Pin(core int) error {
	runtime.LockOSThread()
	if core < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(core)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("port: pin to core %d: %w (the cores this process may use: taskset -p $$)", core, err)
	}
	return nil
}

// Go runs fn for every queue, each on its own goroutine pinned to the
// queue's core (Pin). Done is closed when all have returned; Wait returns
// their errors. Call Go once.
func (p *Port) Go(fn func(q *Queue) error) {
	p.wg.Add(len(p.Queues))
	for _, q := range p.Queues {
		go func() {
			defer p.wg.Done()
			err := Pin(q.Core)
			if err == nil {
				err = fn(q)
			}
			if err != nil {
				p.mu.Lock()
				p.errs = append(p.errs, fmt.Errorf("queue %d: %w", q.ID, err))
				p.mu.Unlock()
			}
		}()
	}
	go func() { p.wg.Wait(); close(p.done) }()
}

// Done is closed when every goroutine Go started has returned.
func (p *Port) Done() <-chan struct{} { return p.done }

// Wait waits for the goroutines Go started and returns their errors.
func (p *Port) Wait() error {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}
