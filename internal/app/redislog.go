package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// redisLogger is go-redis's logger (redis.SetLogger) over the process's
// slog logger, so that its own lines — "connection pool: failed to dial
// after 5 attempts", which it would print to stderr in the log package's
// format with a file:line — come out like every other line, as warnings
// with component=go-redis. go-redis has one global logger: Main sets it
// once per process (STYLE.md 10 allows no other global setter).
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	l.log.WarnContext(ctx, strings.TrimPrefix(msg, "redis: "), "component", "go-redis")
}
