// Command plot draws docs/benchmarks-fanout.png from chatgate-bench results
// (JSON lines written with run --out): deliveries/s achieved and p99 latency
// against the offered rate, one line per system and publish path.
//
//	go run ./bench/plot -in bench/results/fanout.jsonl -out docs/benchmarks-fanout.png
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"os"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// result is the part of a chatgate-bench result line the plot needs.
type result struct {
	Label    string  `json:"label"`
	System   string  `json:"system"`
	Workload string  `json:"workload"`
	Path     string  `json:"path"`
	Offered  float64 `json:"offered_deliveries_per_s"`
	Rate     float64 `json:"deliveries_per_s"`
	P99      float64 `json:"p99_ms"`
	Noisy    bool    `json:"noisy"`
}

func main() {
	in := flag.String("in", "bench/results/fanout.jsonl", "results (JSON lines)")
	out := flag.String("out", "docs/benchmarks-fanout.png", "PNG to write")
	label := flag.String("label", "", "only results with this label (default: all)")
	flag.Parse()
	if err := run(*in, *out, *label); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(in, out, label string) error {
	series, err := load(in, label)
	if err != nil {
		return err
	}
	if len(series) == 0 {
		return fmt.Errorf("no fanout results in %s", in)
	}
	names := make([]string, 0, len(series))
	for k := range series {
		names = append(names, k)
	}
	sort.Strings(names)
	rate, lat := plot.New(), plot.New()
	rate.Title.Text = "Deliveries/s achieved vs offered (C=2000, 2 servers, 20 rooms of 100)"
	rate.X.Label.Text, rate.Y.Label.Text = "offered deliveries/s", "achieved deliveries/s"
	lat.Title.Text = "p99 latency vs offered rate (hollow: noisy step)"
	lat.X.Label.Text, lat.Y.Label.Text = "offered deliveries/s", "p99 latency (ms, log)"
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	rate.Add(plotter.NewGrid())
	lat.Add(plotter.NewGrid())
	for i, name := range names {
		rs := series[name]
		sort.Slice(rs, func(a, b int) bool { return rs[a].Offered < rs[b].Offered })
		rxy, lxy := make(plotter.XYs, len(rs)), make(plotter.XYs, len(rs))
		for j, r := range rs {
			rxy[j] = plotter.XY{X: r.Offered, Y: r.Rate}
			lxy[j] = plotter.XY{X: r.Offered, Y: max(r.P99, 0.1)}
		}
		col, dashed := styleOf(rs[0], i)
		for _, p := range []struct {
			pl  *plot.Plot
			xys plotter.XYs
		}{{rate, rxy}, {lat, lxy}} {
			l, pts, err := plotter.NewLinePoints(p.xys)
			if err != nil {
				return err
			}
			l.Color, pts.Color = col, col
			l.Width = vg.Points(1.5)
			if dashed {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			pts.Shape = draw.CircleGlyph{}
			p.pl.Add(l, pts)
			p.pl.Legend.Add(name, l, pts)
		}
		for j, r := range rs { // hollow markers flag noisy steps
			if r.Noisy {
				s, _ := plotter.NewScatter(plotter.XYs{lxy[j]})
				s.Shape, s.Color, s.Radius = draw.RingGlyph{}, color.Black, vg.Points(5)
				lat.Add(s)
			}
		}
	}
	ideal, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: maxOffered(series), Y: maxOffered(series)}})
	ideal.Color, ideal.Dashes = color.Gray{Y: 160}, []vg.Length{vg.Points(2), vg.Points(2)}
	rate.Add(ideal)
	rate.Legend.Add("ideal", ideal)
	limit, _ := plotter.NewLine(plotter.XYs{{X: 0, Y: 100}, {X: maxOffered(series), Y: 100}})
	limit.Color, limit.Dashes = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(2), vg.Points(2)}
	lat.Add(limit)
	lat.Legend.Add("p99 limit 100 ms", limit)
	rate.Legend.Top, lat.Legend.Top = true, true
	rate.Legend.Left, lat.Legend.Left = true, true

	img := vgimg.New(vg.Points(900), vg.Points(900))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(6), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(12), PadY: vg.Points(12)}
	canvases := plot.Align([][]*plot.Plot{{rate}, {lat}}, tiles, dc)
	rate.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return err
	}
	return f.Close()
}

// styleOf colors a series by system (chatgate blue, Socket.IO red) and
// dashes the client-publish path.
func styleOf(r result, i int) (color.Color, bool) {
	dashed := r.Path == "client"
	switch r.System {
	case "chatgate":
		return palette[0], dashed
	case "socketio":
		return palette[1], dashed
	}
	return palette[2+i%2], dashed
}

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 255}, // chatgate
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 255}, // socketio
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 255},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 255},
}

// load groups fanout results by "system, path" (plus label when several).
func load(in, label string) (map[string][]result, error) {
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string][]result{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r result
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", in, err)
		}
		if r.Workload != "fanout" || (label != "" && r.Label != label) {
			continue
		}
		key := r.System + ", " + r.Path + " publish"
		out[key] = append(out[key], r)
	}
	return out, sc.Err()
}

func maxOffered(series map[string][]result) float64 {
	m := 0.0
	for _, rs := range series {
		for _, r := range rs {
			m = max(m, r.Offered)
		}
	}
	return m
}
