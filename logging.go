package main

import (
	"io"
	"log/slog"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// logLevels maps --log.level values to the go-kit filter and to the slog
// level, so that the exporter's logs and exporter-toolkit's share one
// threshold.
var logLevels = map[string]struct {
	gokit level.Option
	slog  slog.Level
}{
	"debug": {level.AllowDebug(), slog.LevelDebug},
	"info":  {level.AllowInfo(), slog.LevelInfo},
	"warn":  {level.AllowWarn(), slog.LevelWarn},
	"error": {level.AllowError(), slog.LevelError},
}

// newLogger returns a go-kit logger with timestamps and callers, filtered at
// levelName, and an slog logger that writes through it.
func newLogger(w io.Writer, levelName, format string) (log.Logger, *slog.Logger) {
	var logger log.Logger
	if format == "json" {
		logger = log.NewJSONLogger(log.NewSyncWriter(w))
	} else {
		logger = log.NewLogfmtLogger(log.NewSyncWriter(w))
	}
	threshold := logLevels[levelName]
	logger = level.NewFilter(log.With(logger, "ts", log.DefaultTimestampUTC), threshold.gokit)

	// The slog bridge adds the caller of each slog call itself, so only the
	// go-kit logger gets a caller of its own.
	slogger := slog.New(sloggokit.NewGoKitHandler(logger, threshold.slog))
	return log.With(logger, "caller", log.DefaultCaller), slogger
}
