package main

import (
	"fmt"
	"image/color"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// median is a system's median rate for one mode, size and depth.
type median struct {
	Mode    string  `json:"mode"`
	System  string  `json:"system"`
	Size    int     `json:"size"`
	Depths  string  `json:"depths"`
	PPS     float64 `json:"pps"`
	OwnPPS  float64 `json:"own_pps"`
	Samples int     `json:"samples"`
	Errors  int     `json:"errors"`
}

type reportOut struct {
	medians  []median
	markdown string
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// modeSystems are the systems a mode measures.
func modeSystems(mode string, systems []string) []string {
	switch mode {
	case "rxdrop":
		return systems
	case "l2fwd":
		return []string{"fastpath"}
	}
	return slices.DeleteFunc(slices.Clone(systems), func(s string) bool { return s == "sink" || s == "fastpath-steer" })
}

// what says what a mode's figures are, and its systems' own.
func what(mode string, o options) (counted, own string) {
	switch mode {
	case "rxdrop":
		return "frames/s B's device handed to the system in B (for the AF_XDP systems its XDP redirect counter; for the kernel, datagrams its UDP delivered); sender in A: " + rxSenderText[o.rxSender] + "; sink is fastpath's sink: the whole engine, steered by UDP port",
			"what each receiver says it received, divided by the sender's time (the harness's figure before it counted at the device)"
	case "l2fwd":
		return "frames/s fastpath's l2fwd in B sent back, counted by B's device (tx_packets); sender in A: " + rxSenderText[o.rxSender] + "; no peer has an l2fwd here",
			"what l2fwd says it sent back (TX completions), divided by the sender's time"
	}
	return "frames/s arriving at the far end (counted by an XDP drop program in B)", "what each sender says it sent per second"
}

func report(env environment, o options, samples []sample) reportOut {
	var out reportOut
	var md strings.Builder
	fmt.Fprintf(&md, "# fastpath against its peers, %s\n\n", env.Date)
	fmt.Fprintf(&md, "- Kernel %s, %s (%d CPUs)\n- %s; %s\n- %s; %d rounds of %s per system, size and depths, order rotating each round; medians\n- Counted: %s\n- Depths (RING/FILL/FRAMES: RX, TX and completion rings, fill ring, UMEM frames per queue), the same for every AF_XDP system; own: each system's own defaults\n- fastpath / peer: the ratio of the medians, then (paired) the median of the ratios within each round and the rounds fastpath won\n\n",
		env.Kernel, env.CPU, env.CPUs, env.Topology, env.Mode, env.Pinning, env.Rounds, env.Duration, env.Counting)
	for _, mode := range o.modes {
		systems := modeSystems(mode, o.systems)
		counted, own := what(mode, o)
		for _, d := range o.depths {
			meds := table(&md, fmt.Sprintf("%s, depths %s: %s", mode, d.Name, counted), samples, o.sizes, mode, d.Name, systems, func(s sample) float64 { return s.PPS })
			owns := table(&md, fmt.Sprintf("%s, depths %s, the systems' own figures: %s", mode, d.Name, own), samples, o.sizes, mode, d.Name, systems, func(s sample) float64 { return s.OwnPPS })
			for i := range meds {
				meds[i].OwnPPS = owns[i].PPS
			}
			out.medians = append(out.medians, meds...)
		}
	}
	failed := slices.DeleteFunc(slices.Clone(samples), func(s sample) bool { return s.Error == "" })
	if len(failed) > 0 {
		md.WriteString("## Failed samples (not in the medians above)\n\n| mode | system | size | depths | round | reason |\n|---|---|---|---|---|---|\n")
		for _, s := range failed {
			fmt.Fprintf(&md, "| %s | %s | %d | %s | %d | %s |\n", s.Mode, s.System, s.Size, s.Depths, s.Round, strings.ReplaceAll(s.Error, "\n", " "))
		}
		md.WriteString("\n")
	}
	out.markdown = md.String()
	return out
}

// table writes one table, a row per size and a column per system, of the
// medians of the figure f picks, with the ratios of the first system to
// the others; a failed sample shows in its cell (and in the failures
// listed after the tables).
func table(md *strings.Builder, title string, samples []sample, sizes []int, mode, depths string, systems []string, f func(sample) float64) []median {
	var out []median
	fmt.Fprintf(md, "## %s\n\n| size |", title)
	for _, sys := range systems {
		fmt.Fprintf(md, " %s |", sys)
	}
	for _, sys := range systems[1:] {
		fmt.Fprintf(md, " fastpath / %s (paired) |", sys)
	}
	md.WriteString("\n|---|")
	md.WriteString(strings.Repeat("---|", 2*len(systems)-1))
	md.WriteString("\n")
	for _, size := range sizes {
		fmt.Fprintf(md, "| %d |", size)
		meds := map[string]float64{}
		for _, sys := range systems {
			var v []float64
			errs := 0
			for _, s := range samples {
				if s.Mode == mode && s.System == sys && s.Size == size && s.Depths == depths {
					if s.Error != "" {
						errs++
						continue
					}
					v = append(v, f(s))
				}
			}
			m := median{Mode: mode, System: sys, Size: size, Depths: depths, PPS: medianOf(v), Samples: len(v), Errors: errs}
			out = append(out, m)
			meds[sys] = m.PPS
			cell := fmt.Sprintf("%.3f M", m.PPS/1e6)
			if len(v) == 0 {
				cell = "failed"
			}
			if errs > 0 {
				cell += fmt.Sprintf(" (%d of %d failed)", errs, errs+len(v))
			}
			fmt.Fprintf(md, " %s |", cell)
		}
		for _, sys := range systems[1:] {
			if meds[sys] > 0 {
				r, wins, n := paired(samples, mode, size, depths, systems[0], sys, f)
				fmt.Fprintf(md, " %.2f (%.2f, %d of %d) |", meds[systems[0]]/meds[sys], r, wins, n)
			} else {
				md.WriteString(" - |")
			}
		}
		md.WriteString("\n")
	}
	md.WriteString("\n")
	return out
}

// paired compares a with b round by round (the two ran moments apart, so
// slow drifts of the machine hit both): the median of the per-round
// ratios of the figure f picks, and in how many of the n rounds a was
// faster.
func paired(samples []sample, mode string, size int, depths, a, b string, f func(sample) float64) (ratio float64, wins, n int) {
	byRound := map[int][2]float64{}
	for _, s := range samples {
		if s.Mode != mode || s.Size != size || s.Depths != depths || s.Error != "" || f(s) <= 0 {
			continue
		}
		v := byRound[s.Round]
		switch s.System {
		case a:
			v[0] = f(s)
		case b:
			v[1] = f(s)
		}
		byRound[s.Round] = v
	}
	var ratios []float64
	for _, v := range byRound {
		if v[0] > 0 && v[1] > 0 {
			ratios = append(ratios, v[0]/v[1])
			if v[0] > v[1] {
				wins++
			}
		}
	}
	return medianOf(ratios), wins, len(ratios)
}

// drawPlot draws pps by frame size for one mode and depths, one line per
// system.
func drawPlot(path, mode, depths string, env environment, o options, meds []median) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s, kernel %s, veth, copy mode, 1 queue, depths %s", mode, env.Kernel, depths)
	p.X.Label.Text = "frame size (bytes, with FCS)"
	p.Y.Label.Text = "Mpps"
	p.Legend.Top = true
	p.Y.Min = 0
	palette := []color.Color{
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
		color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
		color.RGBA{R: 0x7f, G: 0x7f, B: 0x7f, A: 0xff},
		color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	}
	for i, sys := range o.systems {
		var pts plotter.XYs
		for _, m := range meds {
			if m.Mode == mode && m.System == sys && m.Depths == depths && m.Samples > 0 {
				pts = append(pts, plotter.XY{X: float64(m.Size), Y: m.PPS / 1e6})
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
		line.Color, points.Color = c, c
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(sys, line, points)
	}
	return p.Save(7*vg.Inch, 4*vg.Inch, path)
}
