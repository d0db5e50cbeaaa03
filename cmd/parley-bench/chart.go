package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"strings"
	"time"
)

// series is one line of a chart.
type series struct {
	name string
	x, y []float64
}

// chart draws line charts into a PNG with the standard library only: axes,
// numeric ticks and a legend in a built-in 3x5 pixel font (scaled 2x).
type chart struct {
	title, xLabel, yLabel string
	series                []series
	logX                  bool
}

var palette = []color.RGBA{
	{31, 119, 180, 255}, {214, 39, 40, 255}, {44, 160, 44, 255},
	{255, 127, 14, 255}, {148, 103, 189, 255}, {23, 190, 207, 255},
}

const (
	chartW, chartH = 900, 540
	padL, padR     = 80, 20
	padT, padB     = 40, 60
)

func (c chart) save(path string) error {
	img := image.NewRGBA(image.Rect(0, 0, chartW, chartH))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	x0, x1, y0, y1 := math.Inf(1), math.Inf(-1), 0.0, math.Inf(-1)
	for _, s := range c.series {
		for i := range s.x {
			x := c.tx(s.x[i])
			x0, x1 = math.Min(x0, x), math.Max(x1, x)
			y1 = math.Max(y1, s.y[i])
		}
	}
	if math.IsInf(x0, 0) {
		return nil
	}
	if x1 == x0 {
		x1 = x0 + 1
	}
	if y1 <= 0 {
		y1 = 1
	}
	y1 *= 1.05
	pw, ph := chartW-padL-padR, chartH-padT-padB
	px := func(x float64) int { return padL + int((c.tx(x)-x0)/(x1-x0)*float64(pw)) }
	py := func(y float64) int { return padT + ph - int((y-y0)/(y1-y0)*float64(ph)) }
	grey, black := color.RGBA{220, 220, 220, 255}, color.RGBA{0, 0, 0, 255}
	for i := 0; i <= 5; i++ {
		yv := y0 + (y1-y0)*float64(i)/5
		y := py(yv)
		line(img, padL, y, padL+pw, y, grey)
		text(img, 4, y-5, num(yv), black)
		xv := x0 + (x1-x0)*float64(i)/5
		if c.logX {
			xv = math.Pow(10, xv)
		}
		x := padL + pw*i/5
		line(img, x, padT, x, padT+ph, grey)
		text(img, x-10, padT+ph+8, num(xv), black)
	}
	line(img, padL, padT+ph, padL+pw, padT+ph, black)
	line(img, padL, padT, padL, padT+ph, black)
	text(img, padL, 10, c.title, black)
	text(img, padL+pw/2-40, chartH-24, c.xLabel, black)
	text(img, 4, padT-22, c.yLabel, black)
	for si, s := range c.series {
		col := palette[si%len(palette)]
		for i := 1; i < len(s.x); i++ {
			line(img, px(s.x[i-1]), py(s.y[i-1]), px(s.x[i]), py(s.y[i]), col)
		}
		if len(s.x) == 1 {
			fill(img, image.Rect(px(s.x[0])-2, py(s.y[0])-2, px(s.x[0])+3, py(s.y[0])+3), col)
		}
		ly := padT + 8 + 16*si
		fill(img, image.Rect(padL+pw-260, ly, padL+pw-250, ly+10), col)
		text(img, padL+pw-244, ly, s.name, black)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c chart) tx(x float64) float64 {
	if c.logX {
		return math.Log10(math.Max(x, 1e-3))
	}
	return x
}

func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100000:
		return fmt.Sprintf("%.0fk", v/1000)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws with Bresenham, two pixels thick.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * err
		if e2 >= dy {
			err += dy
			x0 += sx
		}
		if e2 <= dx {
			err += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// glyphs is a 3x5 font: each rune is five rows of three bits.
var glyphs = map[rune][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 1, 1},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7}, '.': {0, 0, 0, 0, 2}, '-': {0, 0, 7, 0, 0},
	'/': {1, 1, 2, 4, 4}, '%': {5, 1, 2, 4, 5}, ':': {0, 2, 0, 2, 0}, '=': {0, 7, 0, 7, 0},
	'(': {1, 2, 2, 2, 1}, ')': {4, 2, 2, 2, 4}, ',': {0, 0, 0, 2, 4}, '<': {1, 2, 4, 2, 1},
	'>': {4, 2, 1, 2, 4}, '+': {0, 2, 7, 2, 0}, '_': {0, 0, 0, 0, 7},
	'a': {2, 5, 7, 5, 5}, 'b': {6, 5, 6, 5, 6}, 'c': {7, 4, 4, 4, 7}, 'd': {6, 5, 5, 5, 6},
	'e': {7, 4, 6, 4, 7}, 'f': {7, 4, 6, 4, 4}, 'g': {7, 4, 5, 5, 7}, 'h': {5, 5, 7, 5, 5},
	'i': {7, 2, 2, 2, 7}, 'j': {1, 1, 1, 5, 7}, 'k': {5, 5, 6, 5, 5}, 'l': {4, 4, 4, 4, 7},
	'm': {5, 7, 7, 5, 5}, 'n': {6, 5, 5, 5, 5}, 'o': {7, 5, 5, 5, 7}, 'p': {7, 5, 7, 4, 4},
	'q': {7, 5, 5, 7, 1}, 'r': {6, 5, 6, 5, 5}, 's': {7, 4, 7, 1, 7}, 't': {7, 2, 2, 2, 2},
	'u': {5, 5, 5, 5, 7}, 'v': {5, 5, 5, 5, 2}, 'w': {5, 5, 7, 7, 5}, 'x': {5, 5, 2, 5, 5},
	'y': {5, 5, 2, 2, 2}, 'z': {7, 1, 2, 4, 7},
}

// text draws s at (x, y) in the 3x5 font at scale 2; unknown runes are blank.
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	const scale = 2
	for _, r := range strings.ToLower(s) {
		if g, ok := glyphs[r]; ok {
			for row := 0; row < 5; row++ {
				for col := 0; col < 3; col++ {
					if g[row]&(4>>col) != 0 {
						fill(img, image.Rect(x+col*scale, y+row*scale, x+col*scale+scale, y+row*scale+scale), c)
					}
				}
			}
		}
		x += 4 * scale
	}
}

// cdf turns sorted latencies into a distribution line: x = latency in ms,
// y = percent of operations at or below it (at most 400 points).
func cdf(name string, lat []time.Duration) series {
	s := series{name: name}
	n := len(lat)
	if n == 0 {
		return s
	}
	step := max(1, n/400)
	for i := 0; i < n; i += step {
		s.x = append(s.x, float64(lat[i])/1e6)
		s.y = append(s.y, 100*float64(i+1)/float64(n))
	}
	s.x = append(s.x, float64(lat[n-1])/1e6)
	s.y = append(s.y, 100)
	return s
}
