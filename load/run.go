package load

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/fastpathnet/fastpath/stack"
	"github.com/fastpathnet/fastpath/tcp"
)

// Run is a load run on a stack: one Client per engine. The engines own
// their clients; a Run reaches them only through Engine.Do (a function
// run on the engine goroutine between rounds), so nothing the engines
// touch is shared or locked. Its own lock guards the totals it gathers,
// for its readers (the live lines, the control API, Prometheus).
type Run struct {
	st      *stack.Stack
	cfg     Config
	clients []*Client
	// interval: a histogram per client and latency, into which Sample
	// moves what the engine recorded since the last Sample.
	interval [][NumLatencies]*hdrhistogram.Histogram

	// sampling serialises Sample and Finish: the interval histograms
	// are theirs.
	sampling sync.Mutex
	mu       sync.Mutex
	counters Counters
	total    [NumLatencies]*hdrhistogram.Histogram
	last     [NumLatencies]*hdrhistogram.Histogram // the last Sample's interval
	window   [NumLatencies]*hdrhistogram.Histogram // since the last TakeWindow
	finished bool
	paused   atomic.Bool // as last set: Config.Paused, then Pause
	stopped  atomic.Bool // Stop was called
}

// TCPConfig is the TCP configuration a load run needs on each of engines
// engines, from base (tcp.DefaultConfig with the caller's choices):
// buffers sized to the messages, a table with room for the open
// connections and for those in TIME-WAIT, and TIME-WAIT reuse.
func TCPConfig(cfg Config, base tcp.Config, engines int) tcp.Config {
	t := base
	t.SendBuffer = clamp(cfg.RequestSize, 4<<10, 256<<10)
	if cfg.HTTP {
		t.SendBuffer = 4 << 10
	}
	t.RecvBuffer = clamp(cfg.ResponseSize+4096, 16<<10, 256<<10)
	share := cfg.share(0, engines)
	// Open at once: Conns, or else a rate times the time one may last.
	open := share.Conns
	if open == 0 {
		open = int(share.CPS * cfg.Timeout.Seconds())
	}
	// In TIME-WAIT (the client closes raw connections): a rate's worth
	// of TimeWait, at most a port range per source address.
	tw := 0
	if !cfg.HTTP {
		ports := (int(t.EphemeralHi) - int(t.EphemeralLo) + 1) * max(1, len(cfg.Src))
		rate := share.CPS
		if rate == 0 {
			rate = float64(share.Conns) * 1000 // a connection a ms each, at most
		}
		tw = min(ports, int(rate*float64(t.TimeWait)/1e9))
	}
	t.MaxConns = min(max(4096, open+tw+1024), 1<<21)
	t.MaxTimeWait = max(t.MaxConns-open-1024, t.MaxConns/2)
	t.PoolConns = min(t.MaxConns, max(1024, open+1024))
	t.TimeWaitReuse = true
	return t
}

func clamp(v, lo, hi int) int { return min(max(v, lo), hi) }

// New makes a load run of cfg on st: a Client on each engine, which
// starts opening connections with the engine's first round. Call it after
// st.EnableTCP (TCPConfig's configuration), before st.Start.
func New(st *stack.Stack, cfg Config) (*Run, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	engines := st.Engines()
	if engines[0].TCP() == nil {
		return nil, errors.New("load: the stack has no TCP: call EnableTCP(load.TCPConfig(...)) first")
	}
	r := &Run{st: st, cfg: cfg}
	r.paused.Store(cfg.Paused)
	for i, e := range engines {
		r.clients = append(r.clients, NewClient(e, cfg.share(i, len(engines))))
		var h [NumLatencies]*hdrhistogram.Histogram
		for l := range h {
			h[l] = newHistogram()
		}
		r.interval = append(r.interval, h)
	}
	for l := range r.total {
		r.total[l], r.last[l], r.window[l] = newHistogram(), newHistogram(), newHistogram()
	}
	return r, nil
}

// Config is the run's configuration (its CPS as last set).
func (r *Run) Config() Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// on runs fn on every engine's goroutine with its client, and waits for
// them all (or for the engines to stop: then it reports false).
func (r *Run) on(fn func(i int, cl *Client)) bool {
	done := make(chan struct{}, len(r.clients))
	for i, cl := range r.clients {
		run := func(*stack.Engine) { fn(i, cl); done <- struct{}{} }
		for cl.e.Do(run) != nil {
			select {
			case <-r.st.Done():
				return false
			case <-time.After(time.Millisecond):
			}
		}
	}
	for range r.clients {
		select {
		case <-done:
		case <-r.st.Done():
			return false
		}
	}
	return true
}

// Sample gathers the engines' counts and the latencies recorded since the
// last Sample, adds those to the totals, and returns the totals' counts.
// It fails once the engines have stopped (Finish then reads them).
func (r *Run) Sample() (Counters, error) {
	r.sampling.Lock()
	defer r.sampling.Unlock()
	counts := make([]Counters, len(r.clients))
	ok := r.on(func(i int, cl *Client) {
		counts[i] = cl.counters
		for l, h := range cl.hist {
			r.interval[i][l].Merge(h)
			h.Reset()
		}
	})
	if !ok {
		return Counters{}, errors.New("load: the engines have stopped")
	}
	r.gather(counts)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters, nil
}

// gather adds the clients' counts and interval histograms to the totals.
func (r *Run) gather(counts []Counters) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sum Counters
	for i := range counts {
		sum.Add(&counts[i])
	}
	r.counters = sum
	for l := range r.last {
		r.last[l].Reset()
		for i := range r.interval {
			r.last[l].Merge(r.interval[i][l])
			r.interval[i][l].Reset()
		}
		r.total[l].Merge(r.last[l])
		r.window[l].Merge(r.last[l])
	}
}

// Finish reads the clients once the stack's engines have stopped
// (Stack.Wait returned): the last counts and latencies.
func (r *Run) Finish() Counters {
	r.sampling.Lock()
	defer r.sampling.Unlock()
	counts := make([]Counters, len(r.clients))
	for i, cl := range r.clients {
		counts[i] = cl.counters
		for l, h := range cl.hist {
			r.interval[i][l].Merge(h)
			h.Reset()
		}
	}
	r.gather(counts)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = true
	return r.counters
}

// Counters are the totals as of the last Sample (or Finish).
func (r *Run) Counters() Counters {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counters
}

// Latencies calls fn with the run's histograms since the start, under
// the Run's lock: fn must not keep them.
func (r *Run) Latencies(fn func(total *[NumLatencies]*hdrhistogram.Histogram)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.total)
}

// TakeWindow calls fn with the latencies sampled since the last
// TakeWindow (a live line's second), then empties them; fn must not keep
// them.
func (r *Run) TakeWindow(fn func(window *[NumLatencies]*hdrhistogram.Histogram)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fn(&r.window)
	for _, h := range r.window {
		h.Reset()
	}
}

// Done reports, from the last Sample, whether every connection Count
// asked for was opened and has ended (never, without a Count).
func (r *Run) Done() bool {
	cfg := r.Config()
	if cfg.Count == 0 {
		return false
	}
	c := r.Counters()
	return int64(c[Dialed]+c[ErrLocal]) >= cfg.Count && c.Open() == 0
}

// SetRate changes the connections per second (split between the engines
// as New did); 0 with Conns: as fast as Conns allows.
func (r *Run) SetRate(cps float64) error {
	if cps < 0 || cps == 0 && r.Config().Conns == 0 {
		return fmt.Errorf("load: %w: rate %v: use a positive rate (or keep a number open, Conns)", ErrConfig, cps)
	}
	n := len(r.clients)
	cfg := r.Config()
	cfg.CPS = cps
	if !r.on(func(i int, cl *Client) {
		share := cfg.share(i, n)
		cl.cfg.CPS = share.CPS
		cl.idle = share.CPS == 0 && share.Conns == 0
		if cl.bucket != nil {
			cl.bucket = newBucket(cl.cfg.CPS, cl.e.Now())
		}
	}) {
		return errors.New("load: the engines have stopped")
	}
	r.mu.Lock()
	r.cfg.CPS = cps
	r.mu.Unlock()
	return nil
}

// Pause stops (or resumes) opening connections; open ones carry on.
func (r *Run) Pause(on bool) error {
	if !r.on(func(_ int, cl *Client) { cl.paused = on }) {
		return errors.New("load: the engines have stopped")
	}
	r.paused.Store(on)
	return nil
}

// Paused reports whether the run is paused (Config.Paused until a
// Pause(false), or Pause(true)). Safe from any goroutine.
func (r *Run) Paused() bool { return r.paused.Load() }

// Stopped reports whether Stop was called: the run dials no more. Safe
// from any goroutine.
func (r *Run) Stopped() bool { return r.stopped.Load() }

// Stop ends the run: no more connections open; those open get up to grace
// to finish (a request answered in the grace counts), then are reset and
// counted Aborted. Stop the stack after it.
func (r *Run) Stop(grace time.Duration) {
	r.stopped.Store(true)
	r.on(func(_ int, cl *Client) { cl.paused = true })
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		c, err := r.Sample()
		if err != nil || c.Open() == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.on(func(_ int, cl *Client) {
		cl.stopping = true
		for len(cl.active) > 0 {
			k := cl.active[len(cl.active)-1]
			if k.lingering {
				k.complete() // answered in full
				continue
			}
			k.unlist()
			k.c.Abort() // Closed counts it Aborted
		}
	})
}
