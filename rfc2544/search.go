// Package rfc2544 measures a device under test as RFC 2544 and FD.io
// CSIT define it.
//
// The path of a trial: Tester (tester.go) starts gen on the sending
// device with its own stamp streams, the receiver (receiver.go, a UDP
// handler on the engine at the receiving device) counts only those
// streams into a fresh gen.Tracker, and the Measurement is what the
// kernel took from gen's TX ring over the trial's time against what came
// back. Search (this file) decides the next rate from the measurements;
// report.go writes the table and the plots.
//
// This file is the throughput search (RFC 2544 section 26.1): the
// highest offered load at which the device loses no frame (NDR), or at
// most a ratio of them (PDR), found to a relative resolution by trials of
// a fixed duration, the last ones longer to confirm it. The search is
// independent of how a trial sends and counts: it calls a Trial and reads
// its Measurement.
package rfc2544

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"
)

// Measurement is what one trial saw.
type Measurement struct {
	// Asked is the rate the trial asked the sender for, frames/s.
	Asked float64
	// Duration is the trial's sending time.
	Duration time.Duration
	// Sent is the stamped frames the sender put on the wire, Received
	// those of them that came back.
	Sent, Received uint64
}

// Offered is the load the trial actually offered: frames sent over its
// time. It is what a verdict is about, not Asked: a sender the host or
// the device held back offered less.
func (m Measurement) Offered() float64 {
	if m.Duration <= 0 {
		return 0
	}
	return float64(m.Sent) / m.Duration.Seconds()
}

// Loss is the ratio of the frames sent that did not come back (1 when
// none was sent).
func (m Measurement) Loss() float64 {
	if m.Sent == 0 {
		return 1
	}
	return float64(m.Sent-min(m.Received, m.Sent)) / float64(m.Sent)
}

// SenderLimited reports whether the sender fell short of the asked rate by
// more than resolution (relative).
func (m Measurement) SenderLimited(resolution float64) bool {
	return m.Offered() < m.Asked*(1-resolution)
}

// Trial sends at rate frames/s for d through the device and counts what
// comes back.
type Trial func(ctx context.Context, rate float64, d time.Duration) (Measurement, error)

// Config is one search.
type Config struct {
	// MinRate and MaxRate bound the search, frames/s: MaxRate is tried
	// first (the link's line rate for the frame size, say), MinRate is
	// the floor below which the search reports no rate.
	MinRate, MaxRate float64
	// Resolution is the relative width of the final interval: the search
	// stops when the lowest failing load is within Resolution of the
	// highest passing one. Default 0.005.
	Resolution float64
	// LossRatio is the most a passing trial may lose: 0 for NDR (RFC
	// 2544's throughput), 0.005 for a 0.5% PDR.
	LossRatio float64
	// Trial is a searching trial's duration, FinalTrial a confirming
	// one's; Confirm is how many confirming trials the result must pass
	// (default 1). RFC 2544 asks for 60 s trials; CSIT narrows with short
	// ones and confirms with long ones.
	Trial, FinalTrial time.Duration
	Confirm           int
	// Known are trials already made through the same device (another
	// search's, at another loss ratio): they set the bounds before the
	// search starts, and MaxRate is not tried again. A PDR search seeded
	// with the NDR search's trials starts at the NDR.
	Known []Step
	// OnStep, when set, is called after each trial with its verdict and
	// the bounds it left.
	OnStep func(Step)
}

// ErrConfig reports a Config out of range.
var ErrConfig = errors.New("rfc2544: invalid search configuration")

func (c *Config) check() error {
	if c.Resolution == 0 {
		c.Resolution = 0.005
	}
	if c.Confirm == 0 {
		c.Confirm = 1
	}
	switch {
	case !(c.MinRate > 0) || !(c.MaxRate > c.MinRate) || math.IsInf(c.MaxRate, 0):
		return fmt.Errorf("%w: rates %v to %v frames/s: use 0 < min < max", ErrConfig, c.MinRate, c.MaxRate)
	case !(c.Resolution > 0 && c.Resolution < 0.5):
		return fmt.Errorf("%w: resolution %v: use a ratio above 0 and below 0.5 (0.005 is 0.5%%)", ErrConfig, c.Resolution)
	case !(c.LossRatio >= 0 && c.LossRatio < 1):
		return fmt.Errorf("%w: loss ratio %v: use 0 (NDR) to below 1", ErrConfig, c.LossRatio)
	case c.Trial <= 0 || c.FinalTrial <= 0 || c.Confirm < 0:
		return fmt.Errorf("%w: trial %v, final trial %v, %d confirmations: use positive durations", ErrConfig, c.Trial, c.FinalTrial, c.Confirm)
	}
	return nil
}

// Step is one trial of a search, with its verdict and the bounds after it.
type Step struct {
	Measurement
	Pass, Final bool
	// Lo is the highest load that passed so far (0: none), Hi the
	// lowest that failed (0: none).
	Lo, Hi float64
}

// Outcome is a search's result.
type Outcome struct {
	// Rate is the highest offered load that passed, confirmed, frames/s;
	// 0 when nothing at or above MinRate passed.
	Rate float64
	// Upper is the lowest offered load that failed (0: none did).
	Upper float64
	// AtMax: MaxRate passed (Rate is what the sender offered of it):
	// the device kept up with the whole range.
	AtMax bool
	// SenderLimited: a passing trial offered less than it asked (by more
	// than the resolution), at MaxRate or no higher than what had passed
	// already, so the search could not go higher: the device's rate is
	// at least Rate, and the sender's is the limit.
	SenderLimited bool
	// Steps are the trials in order; Time their total duration.
	Steps []Step
	Time  time.Duration
}

// Bound is the most searching trials a search of c makes before its
// confirmations: one at MaxRate, one at MinRate, and a bisection of the
// range down to the resolution. Each failed confirmation can add as many
// again below it.
func (c Config) Bound() int {
	return 2 + int(math.Ceil(math.Log2((c.MaxRate-c.MinRate)/(c.Resolution*c.MinRate))))
}

// Search finds the highest rate the device passes, with trial: MaxRate
// first; then bisection between the highest load that passed (or the
// floor, MinRate) and the lowest that failed, both as offered, until they
// are within the resolution; then Confirm trials of FinalTrial at the
// highest that passed. A failed confirmation is a new upper bound and the
// search goes on below it with long trials, first stepping down from it
// by the resolution, then twice that, and so on, until a trial passes. Bounds are offered loads, never asked ones: no
// rate above what was offered is ever reported. A passing trial whose
// sender fell short of the asked rate ends the search when asking for
// more cannot help (at MaxRate, or no higher than what had passed).
func Search(ctx context.Context, c Config, trial Trial) (Outcome, error) {
	if err := c.check(); err != nil {
		return Outcome{}, err
	}
	s := searcher{c: c, trial: trial}
	err := s.run(ctx)
	return s.out, err
}

type searcher struct {
	c      Config
	trial  Trial
	lo, hi float64 // highest passing offered load, lowest failing one; 0: none
	// loFinal is the highest load a confirming trial (a long one) passed.
	loFinal float64
	// floorFailed: a trial at MinRate itself failed.
	floorFailed bool
	// expand, above 0 after a failed confirmation and until a trial
	// passes: how far below the failure (relative) to try next; it
	// doubles with each failure, as MLRsearch's external search does.
	expand float64
	// limited: a passing trial's sender fell short of its rate.
	limited bool
	// long: a confirmation failed; searching trials take FinalTrial.
	long bool
	out  Outcome
}

func (s *searcher) run(ctx context.Context) error {
	c := s.c
	for _, k := range c.Known {
		// In another search's order, "no higher than what had passed"
		// says nothing of the sender: only a shortfall at MaxRate does.
		s.file(k.Measurement, k.Final, k.Asked >= c.MaxRate)
	}
	if len(c.Known) == 0 {
		if _, err := s.step(ctx, c.MaxRate, c.Trial, false); err != nil {
			return err
		}
	}
	// A bound on the trials, so that a device whose answers keep
	// changing cannot keep the search going.
	limit := (c.Bound() + c.Confirm) * (c.Confirm + 2)
	for len(s.out.Steps) < limit {
		rate, settled := s.next()
		if !settled {
			d := c.Trial
			if s.long {
				d = c.FinalTrial
			}
			if _, err := s.step(ctx, rate, d, false); err != nil {
				return err
			}
			continue
		}
		if s.lo == 0 {
			s.out.Upper = s.hi
			return nil // nothing at or above the floor passed
		}
		confirmed, rate, offered := true, s.lo, s.lo
		for i := s.confirmedAt(rate); i < c.Confirm && confirmed; i++ {
			st, err := s.step(ctx, rate, c.FinalTrial, true)
			if err != nil {
				return err
			}
			confirmed, offered = st.Pass, min(offered, st.Offered())
		}
		if confirmed {
			// What the confirmations offered, if less (by less than
			// the resolution, or they would be sender-limited).
			s.out.Rate, s.out.Upper = offered, s.hi
			s.out.SenderLimited = s.limited
			s.out.AtMax = s.hi == 0 && !s.limited
			return nil
		}
		// The rate failed, whatever the offered load's rounding: it
		// bounds what is left from above, and the rest is searched
		// with trials as long as the confirming ones, which showed the
		// short ones optimistic here.
		if s.hi == 0 || rate < s.hi {
			s.hi = rate
		}
		s.lo, s.limited, s.long, s.expand = 0, false, true, c.Resolution
		if s.loFinal > 0 && s.loFinal < s.hi {
			// A long trial passed below: the search goes on from it.
			s.lo, s.expand = s.loFinal, 0
		}
	}
	return fmt.Errorf("rfc2544: no settled rate after %d trials (last bounds %.0f to %.0f frames/s): the device's answers change from trial to trial; use longer trials", len(s.out.Steps), s.lo, s.hi)
}

// next is the rate to try next, or settled when the bounds answer the
// search.
func (s *searcher) next() (rate float64, settled bool) {
	c := s.c
	switch {
	case s.limited, s.hi == 0: // the sender's limit, or MaxRate passed
		return 0, true
	case s.lo > 0 && s.hi-s.lo <= c.Resolution*s.hi:
		return 0, true
	case s.lo == 0 && (s.floorFailed || s.hi <= c.MinRate):
		return 0, true // nothing at the floor passes
	case s.lo == 0 && s.hi-c.MinRate <= c.Resolution*s.hi:
		return c.MinRate, false
	case s.lo == 0 && s.expand > 0:
		return max(s.hi*(1-s.expand), c.MinRate), false
	}
	lo := s.lo
	if lo == 0 {
		lo = c.MinRate
	}
	return (lo + s.hi) / 2, false
}

// step runs one trial and files it.
// A trial whose sender fell short of the asked rate is made again once:
// a sender descheduled for a moment is not the sender's limit, and what it
// sends to catch up comes in bursts above its average, so a failure at
// that average says little of the device.
func (s *searcher) step(ctx context.Context, rate float64, d time.Duration, final bool) (Step, error) {
	for try := 0; ; try++ {
		m, err := s.trial(ctx, rate, d)
		if err != nil {
			return Step{}, fmt.Errorf("rfc2544: trial at %.0f frames/s: %w", rate, err)
		}
		if m.Sent == 0 || m.Duration <= 0 {
			// Not a verdict on the device: the sender did not send.
			return Step{}, fmt.Errorf("rfc2544: trial at %.0f frames/s for %v sent nothing: check the sender", rate, d)
		}
		again := try == 0 && m.SenderLimited(s.c.Resolution)
		// A trial made again is recorded but judges nothing.
		st := Step{Measurement: m, Final: final, Pass: m.Loss() <= s.c.LossRatio, Lo: s.lo, Hi: s.hi}
		if !again {
			st = s.file(m, final, true)
		}
		s.out.Steps = append(s.out.Steps, st)
		s.out.Time += m.Duration
		if s.c.OnStep != nil {
			s.c.OnStep(st)
		}
		if !again {
			return st, nil
		}
	}
}

// confirmedAt counts the confirming trials, known or this search's, that
// passed at offered load rate: they need not be made again.
func (s *searcher) confirmedAt(rate float64) int {
	n := 0
	for _, k := range append(s.c.Known[:len(s.c.Known):len(s.c.Known)], s.out.Steps...) {
		if k.Final && k.Measurement.Loss() <= s.c.LossRatio && k.Offered() == rate {
			n++
		}
	}
	return n
}

// file judges a trial and moves the bounds. mayLimit: a pass whose sender
// fell short may end the search as sender-limited.
func (s *searcher) file(m Measurement, final, mayLimit bool) Step {
	st := Step{Measurement: m, Final: final, Pass: m.Loss() <= s.c.LossRatio}
	if m.Asked == s.c.MinRate && !st.Pass {
		s.floorFailed = true
	}
	if st.Pass {
		s.expand = 0
	} else if s.lo == 0 {
		s.expand *= 2
	}
	off := m.Offered()
	switch {
	case st.Pass:
		// A sender that fell short is the limit when asking for more
		// gains nothing: at MaxRate, or when what it offered is no
		// more than the resolution above what had passed. Otherwise
		// (a moment's stall) the search goes on from what it offered.
		prev := s.lo
		s.lo = max(s.lo, off)
		if mayLimit && m.SenderLimited(s.c.Resolution) && (s.hi == 0 || off <= prev*(1+s.c.Resolution)) {
			s.limited = true
		}
		if final {
			s.loFinal = max(s.loFinal, off)
		}
	case s.hi == 0 || off < s.hi:
		s.hi = off
	}
	if s.hi > 0 && s.lo >= s.hi {
		// A pass at or above a failure: the device is not steady
		// there. The failure stands (the rate must be below it), and
		// a pass below it is searched for again.
		s.lo, s.limited = 0, false
	}
	st.Lo, st.Hi = s.lo, s.hi
	return st
}
