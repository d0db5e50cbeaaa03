package app

import (
	"context"
	"fmt"
	"os"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/parley-im/parley/config"
)

// Logger is the root logger and the level that /loglevel on the admin server
// can change at run time.
type Logger struct {
	*zap.Logger
	Level zap.AtomicLevel
}

// NewLogger builds the root zap logger from config: JSON or console encoding,
// asynchronous writes through a bounded buffer (written out every
// FlushInterval, when half full, and on stop; a line that does not fit is
// dropped and counted, so no caller, above all no gev loop, ever waits for the
// log output), and sampling so a flood of identical lines cannot fill the disk.
func NewLogger(cfg config.Log, lc fx.Lifecycle) (Logger, error) {
	level, err := zap.ParseAtomicLevel(cfg.Level)
	if err != nil {
		return Logger{}, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	if cfg.Encoding == "console" {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	} else {
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	ws := newAsyncWriter(os.Stderr, cfg.BufferSize, cfg.FlushInterval)
	var core zapcore.Core = zapcore.NewCore(enc, zapcore.AddSync(ws), level)
	if cfg.SampleInitial > 0 {
		core = zapcore.NewSamplerWithOptions(core, 1e9, cfg.SampleInitial, cfg.SampleThereafter)
	}
	l := zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel))
	lc.Append(fx.StopHook(func(context.Context) error {
		if n := ws.Dropped(); n > 0 {
			l.Warn("log lines dropped because the log output was too slow", zap.Uint64("dropped", n))
		}
		return ws.Close()
	}))
	return Logger{Logger: l, Level: level}, nil
}

// fxLogger routes fx's own events to zap at debug level (fx logs every
// provide and invoke at info by default, which drowns real start-up lines).
func fxLogger(l *zap.Logger) fxevent.Logger {
	z := &fxevent.ZapLogger{Logger: l.Named("fx")}
	z.UseLogLevel(zapcore.DebugLevel)
	return z
}
