package rfc2544

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WriteTable writes the standard table: per size, the NDR and PDR in
// Mpps, Gbit/s on the wire (L1) and % of line rate, the trials made (all
// of them: searches, latency, loss curve, back-to-back), their time and
// the size's, and latency at the fractions of the NDR.
func WriteTable(w io.Writer, r Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	pdr := r.Config.PDRLoss > 0
	head := "size\tNDR Mpps\tGbit/s L1\t% line\t"
	if pdr {
		head += fmt.Sprintf("PDR %g%% Mpps\tGbit/s L1\t%% line\t", 100*r.Config.PDRLoss)
	}
	head += "trials\ttrial s\telapsed s\t"
	fracs := latencyFractions(r)
	for _, f := range fracs {
		head += fmt.Sprintf("lat %.0f%% p50/p99/max µs\t", 100*f)
	}
	fmt.Fprintln(tw, head)
	for _, s := range r.Sizes {
		line := s.Name + "\t" + cells(s.NDR, s.LineRate)
		if pdr {
			if s.PDR != nil {
				line += cells(*s.PDR, s.LineRate)
			} else {
				line += "-\t-\t-\t"
			}
		}
		line += fmt.Sprintf("%d\t%.1f\t%.1f\t", len(s.Trials), s.TrialS, s.ElapsedS)
		for _, f := range fracs {
			cell := "-"
			for _, l := range s.Latency {
				if l.Fraction == f {
					cell = fmt.Sprintf("%.0f/%.0f/%.0f", l.Latency.P50, l.Latency.P99, l.Latency.Max)
				}
			}
			line += cell + "\t"
		}
		fmt.Fprintln(tw, line)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range r.Sizes {
		if s.Incomplete != "" {
			fmt.Fprintf(w, "%s: not finished: %s\n", s.Name, s.Incomplete)
		}
		if b := s.BackToBack; b != nil {
			more := ""
			if b.AtMax {
				more = " (every burst tried passed: the device holds at least that)"
			}
			fmt.Fprintf(w, "%s: back-to-back %.0f frames (min %d, max %d over %d searches), bursts sent at %.4f Mpps%s\n",
				s.Name, b.Mean, b.Min, b.Max, len(b.Bursts), b.SentFPS/1e6, more)
		}
		for _, th := range []*Throughput{&s.NDR, s.PDR} {
			if th == nil {
				continue
			}
			if note := th.Note(s.MinRate, s.MaxRate); note != "" {
				fmt.Fprintf(w, "%s, loss %g%%: %s\n", s.Name, 100*th.LossRatio, note)
			}
		}
	}
	_, err := fmt.Fprintf(w, "kernel %s; %s -> %s (%s AF_XDP, queues %v) -> %s (%s AF_XDP, %s XDP); %d flow(s); resolution %g%%, trials %gs, final %gs x %d\n",
		r.Kernel, r.TX, r.Dst, r.Mode, r.Queues, r.RX, r.RXMode, r.XDPMode, r.Flows, 100*r.Config.Resolution,
		r.Config.TrialS, r.Config.FinalTrialS, r.Config.Confirm)
	return err
}

// cells are a Throughput's three columns.
func cells(t Throughput, line float64) string {
	if t.Incomplete {
		return "incomplete\t-\t-\t"
	}
	if t.FPS == 0 {
		return "none\t-\t-\t"
	}
	mark := ""
	switch {
	case t.SenderLimited:
		mark = " (sender)"
	case t.AtMax:
		mark = " (max)"
	}
	pct := "-"
	if line > 0 {
		pct = fmt.Sprintf("%.2f", t.LinePct)
	}
	return fmt.Sprintf("%.4f%s\t%.3f\t%s\t", t.FPS/1e6, mark, t.L1BPS/1e9, pct)
}

// Note says what a Throughput's figure means when it is not a plain
// answer: nothing passed, the range was too low, or the sender was the
// limit.
func (t Throughput) Note(minRate, maxRate float64) string {
	switch {
	case t.Incomplete:
		return fmt.Sprintf("the search did not finish; it had passed %.0f frames/s and failed at %.0f (0: none)", t.Bounds[0], t.Bounds[1])
	case t.FPS == 0:
		return fmt.Sprintf("no rate at or above the floor (%.0f frames/s) passed; the lowest that failed offered %.0f", minRate, t.Upper)
	case t.SenderLimited:
		return fmt.Sprintf("the sender offered only %.0f frames/s and the device passed it: the device's rate is at least that (more queues or cores for the sender)", t.FPS)
	case t.AtMax:
		return fmt.Sprintf("the device passed the maximum rate tried (%.0f frames/s): its rate is at least that (raise --max-rate)", maxRate)
	}
	return ""
}

func latencyFractions(r Result) []float64 {
	var out []float64
	seen := map[float64]bool{}
	for _, s := range r.Sizes {
		for _, l := range s.Latency {
			if !seen[l.Fraction] {
				seen[l.Fraction] = true
				out = append(out, l.Fraction)
			}
		}
	}
	return out
}

// WriteDir writes the table (table.txt), the JSON (result.json) and the
// plots (throughput.svg: NDR and PDR against frame size; loss.svg: every
// trial's loss against its offered load, per size) into dir.
func WriteDir(dir string, r Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var tb strings.Builder
	if err := WriteTable(&tb, r); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "table.txt"), []byte(tb.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := throughputPlot(filepath.Join(dir, "throughput.svg"), r); err != nil {
		return err
	}
	return lossPlot(filepath.Join(dir, "loss.svg"), r)
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff},
	color.RGBA{R: 0x17, G: 0xbe, B: 0xcf, A: 0xff},
}

func title(r Result) string {
	return fmt.Sprintf("kernel %s, %s -> %s, %s AF_XDP, queues %v, resolution %g%%", r.Kernel, r.TX, r.RX, r.Mode, r.Queues, 100*r.Config.Resolution)
}

// throughputPlot draws NDR (and PDR) in Mpps against the mean frame size,
// with the line rate for reference.
func throughputPlot(path string, r Result) error {
	p := plot.New()
	p.Title.Text = "RFC 2544 throughput: " + title(r)
	p.X.Label.Text = "frame size (bytes, with FCS)"
	p.Y.Label.Text = "Mpps"
	p.Y.Min = 0
	p.Legend.Top = true
	series := []struct {
		name string
		at   func(SizeResult) (float64, bool)
	}{
		{"NDR", func(s SizeResult) (float64, bool) { return s.NDR.FPS, true }},
		{fmt.Sprintf("PDR %g%%", 100*r.Config.PDRLoss), func(s SizeResult) (float64, bool) {
			if s.PDR == nil {
				return 0, false
			}
			return s.PDR.FPS, true
		}},
		{"line rate", func(s SizeResult) (float64, bool) { return s.LineRate, s.LineRate > 0 }},
	}
	for i, se := range series {
		var pts plotter.XYs
		for _, s := range r.Sizes {
			if v, ok := se.at(s); ok {
				pts = append(pts, plotter.XY{X: s.FrameBytes, Y: v / 1e6})
			}
		}
		if len(pts) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		c := palette[i%len(palette)]
		line.Color, points.Color, line.Width, points.Shape = c, c, vg.Points(1.5), draw.CircleGlyph{}
		if se.name == "line rate" {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		p.Add(line, points)
		p.Legend.Add(se.name, line, points)
	}
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}

// lossPlot draws every trial's loss (%) against its offered load, one
// colour per size; the loss curve's trials joined by a line.
func lossPlot(path string, r Result) error {
	p := plot.New()
	p.Title.Text = "RFC 2544 frame loss: " + title(r)
	p.X.Label.Text = "offered load (Mpps)"
	p.Y.Label.Text = "frames lost (%)"
	p.Y.Min = 0
	p.Legend.Top = true
	for i, s := range r.Sizes {
		c := palette[i%len(palette)]
		var pts plotter.XYs
		for _, tr := range s.Trials {
			pts = append(pts, plotter.XY{X: tr.Offered / 1e6, Y: 100 * tr.Loss})
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		sc.Color, sc.Shape = c, draw.CircleGlyph{}
		p.Add(sc)
		p.Legend.Add(s.Name, sc)
		if len(s.LossCurve) > 1 {
			var cp plotter.XYs
			for _, q := range s.LossCurve {
				cp = append(cp, plotter.XY{X: q.Offered / 1e6, Y: 100 * q.Loss})
			}
			l, err := plotter.NewLine(cp)
			if err != nil {
				return err
			}
			l.Color = c
			p.Add(l)
		}
	}
	return p.Save(8*vg.Inch, 4.5*vg.Inch, path)
}
