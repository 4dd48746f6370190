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

// median is a system's median rate for one mode and size.
type median struct {
	Mode    string  `json:"mode"`
	System  string  `json:"system"`
	Size    int     `json:"size"`
	PPS     float64 `json:"pps"`
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

func report(env environment, o options, samples []sample) reportOut {
	var out reportOut
	var md strings.Builder
	fmt.Fprintf(&md, "# fastpath against its peers, %s\n\n", env.Date)
	fmt.Fprintf(&md, "- Kernel %s, %s (%d CPUs)\n- %s; %s\n- %s; %d rounds of %s per system and size, order rotating each round; medians\n- fastpath / peer: the ratio of the medians, then (paired) the median of the ratios within each round and the rounds fastpath won\n\n",
		env.Kernel, env.CPU, env.CPUs, env.Topology, env.Mode, env.Pinning, env.Rounds, env.Duration)
	for _, mode := range o.modes {
		what := "frames/s arriving at the far end (counted by an XDP drop program in B)"
		systems := o.systems
		if mode != "rxdrop" {
			systems = slices.DeleteFunc(slices.Clone(systems), func(s string) bool { return s == "sink" || s == "fastpath-steer" })
		}
		switch mode {
		case "rxdrop":
			what = "frames/s received and dropped by the system in B (sender in A: " + rxSenderText[o.rxSender] + "; sink is fastpath's sink: the whole engine, steered by UDP port)"
		case "l2fwd":
			what = "frames/s fastpath's l2fwd in B sends back (sender in A: " + rxSenderText[o.rxSender] + "); no peer has an l2fwd here"
			systems = []string{"fastpath"}
		}
		fmt.Fprintf(&md, "## %s: %s\n\n| size |", mode, what)
		for _, sys := range systems {
			fmt.Fprintf(&md, " %s |", sys)
		}
		for _, sys := range systems[1:] {
			fmt.Fprintf(&md, " fastpath / %s (paired) |", sys)
		}
		md.WriteString("\n|---|")
		md.WriteString(strings.Repeat("---|", 2*len(systems)-1))
		md.WriteString("\n")
		for _, size := range o.sizes {
			fmt.Fprintf(&md, "| %d |", size)
			meds := map[string]float64{}
			for _, sys := range systems {
				var v []float64
				errs := 0
				for _, s := range samples {
					if s.Mode == mode && s.System == sys && s.Size == size {
						if s.Error != "" {
							errs++
							continue
						}
						v = append(v, s.PPS)
					}
				}
				m := median{Mode: mode, System: sys, Size: size, PPS: medianOf(v), Samples: len(v), Errors: errs}
				out.medians = append(out.medians, m)
				meds[sys] = m.PPS
				cell := fmt.Sprintf("%.3f M", m.PPS/1e6)
				if len(v) == 0 {
					cell = "failed"
				} else if errs > 0 {
					cell += fmt.Sprintf(" (%d failed)", errs)
				}
				fmt.Fprintf(&md, " %s |", cell)
			}
			for _, sys := range systems[1:] {
				if meds[sys] > 0 {
					r, wins, n := paired(samples, mode, size, systems[0], sys)
					fmt.Fprintf(&md, " %.2f (%.2f, %d of %d) |", meds[systems[0]]/meds[sys], r, wins, n)
				} else {
					md.WriteString(" - |")
				}
			}
			md.WriteString("\n")
		}
		md.WriteString("\n")
	}
	out.markdown = md.String()
	return out
}

// paired compares a with b round by round (the two ran moments apart, so
// slow drifts of the machine hit both): the median of the per-round
// ratios, and in how many of the n rounds a was faster.
func paired(samples []sample, mode string, size int, a, b string) (ratio float64, wins, n int) {
	byRound := map[int][2]float64{}
	for _, s := range samples {
		if s.Mode != mode || s.Size != size || s.Error != "" || s.PPS <= 0 {
			continue
		}
		v := byRound[s.Round]
		switch s.System {
		case a:
			v[0] = s.PPS
		case b:
			v[1] = s.PPS
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

// drawPlot draws pps by frame size for one mode, one line per system.
func drawPlot(path, mode string, env environment, o options, meds []median) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s, kernel %s, veth, copy mode, 1 queue", mode, env.Kernel)
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
			if m.Mode == mode && m.System == sys && m.Samples > 0 {
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
