package importseed

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
)

// NewBar returns a Progress drawing one bar per step on w (a terminal),
// with rows/s and the time left.
func NewBar(w io.Writer) Progress { return &barProgress{w: w} }

type barProgress struct {
	w   io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Start(step string, total int64) {
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(p.w),
		progressbar.OptionSetDescription(step),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("rows"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { _, _ = io.WriteString(p.w, "\n") }),
		progressbar.OptionSetWidth(30),
	)
}

func (p *barProgress) Add(n int) { _ = p.bar.Add(n) }

func (p *barProgress) Finish() {
	if !p.bar.IsFinished() {
		_ = p.bar.Finish()
	}
}

// NewLogProgress returns a Progress for a log (stderr not a terminal): a
// line per step at its start and end, and one at most every interval
// between, with the rate and the time left.
func NewLogProgress(log *zap.Logger, every time.Duration) Progress {
	return &logProgress{log: log, every: every}
}

type logProgress struct {
	log          *zap.Logger
	every        time.Duration
	step         string
	total, done  int64
	start, shown time.Time
}

func (p *logProgress) Start(step string, total int64) {
	p.step, p.total, p.done = step, total, 0
	p.start, p.shown = time.Now(), time.Now()
	p.log.Info("import step", zap.String("step", step), zap.Int64("rows", total))
}

func (p *logProgress) Add(n int) {
	p.done += int64(n)
	if time.Since(p.shown) >= p.every {
		p.shown = time.Now()
		p.line("import progress")
	}
}

func (p *logProgress) Finish() { p.line("import step done") }

func (p *logProgress) line(msg string) {
	elapsed := time.Since(p.start)
	rate := float64(p.done) / max(elapsed.Seconds(), 1e-9)
	fields := []zap.Field{
		zap.String("step", p.step), zap.Int64("done", p.done), zap.Int64("total", p.total),
		zap.Float64("rows_per_s", float64(int64(rate*10))/10), zap.Duration("elapsed", elapsed.Round(time.Second)),
	}
	if left := p.total - p.done; left > 0 && rate > 0 {
		fields = append(fields, zap.Duration("eta", time.Duration(float64(left)/rate*float64(time.Second)).Round(time.Second)))
	}
	p.log.Info(msg, fields...)
}
