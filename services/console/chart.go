package console

import (
	"fmt"

	"github.com/lethe-gdpr/lethe/pkg/api"
)

// The charts are SVG drawn on the server: no script, attributes rather than inline styles
// (the CSP allows none), and every bar carries its count as text, so they read without
// colour; inactive bars are hatched as well as tinted.

// bar is one horizontal bar of a count chart.
type bar struct {
	Label string
	Count int
	// Width and Y are the drawn bar's, in SVG units.
	Width, Y float64
	TextX    float64
	Href     string
}

const barHeight = 26.0

// barChart is a horizontal bar chart: a label column, then bars up to MaxW.
type barChart struct {
	Bars          []bar
	LabelW, Width float64
	Height        float64
}

func layoutBars(bars []bar, labelW, maxW float64) barChart {
	maxN := 0
	for _, b := range bars {
		maxN = max(maxN, b.Count)
	}
	for i := range bars {
		w := 0.0
		if maxN > 0 {
			w = maxW * float64(bars[i].Count) / float64(maxN)
		}
		if bars[i].Count > 0 && w < 2 {
			w = 2
		}
		bars[i].Width, bars[i].Y, bars[i].TextX = w, float64(i)*barHeight, labelW+w+6
	}
	return barChart{Bars: bars, LabelW: labelW, Width: labelW + maxW + 50, Height: float64(len(bars)) * barHeight}
}

// histogramChart is the recency histogram with the threshold line.
type histogramChart struct {
	Width, Height, PlotH, Base float64
	Bars                       []histBar
	ThresholdX                 float64
	ThresholdLabel             string
	HasThreshold               bool
}

type histBar struct {
	X, Y, W, H, TextY float64
	Count             int
	Label             string
	Tick              string // the axis label under the bar, on the first bar of each year
	Inactive          bool
}

func chartOf(s api.SummaryView) histogramChart {
	const step, plotH, top = 18.0, 180.0, 34.0
	c := histogramChart{PlotH: plotH, Base: top + plotH}
	maxN := 0
	for _, b := range s.Histogram {
		maxN = max(maxN, b.Count)
	}
	c.Width = max(float64(len(s.Histogram))*step+20, 300)
	c.Height = top + plotH + 40
	lastYear := -1
	for i, b := range s.Histogram {
		h := 0.0
		if maxN > 0 {
			h = plotH * float64(b.Count) / float64(maxN)
		}
		x := 10 + float64(i)*step
		hb := histBar{X: x, W: step - 3, H: h, Y: top + plotH - h, TextY: top + plotH - h - 3, Count: b.Count, Label: b.Label, Inactive: b.Inactive}
		if y := b.Start.Year(); y != lastYear {
			hb.Tick, lastYear = fmt.Sprint(y), y
		}
		c.Bars = append(c.Bars, hb)
		if !s.Threshold.Before(b.Start) && s.Threshold.Before(b.End) {
			frac := float64(s.Threshold.Sub(b.Start)) / float64(b.End.Sub(b.Start))
			c.ThresholdX, c.HasThreshold = x+frac*step, true
		}
	}
	c.ThresholdLabel = "inactivity threshold " + s.Threshold.UTC().Format("2006-01-02")
	return c
}
