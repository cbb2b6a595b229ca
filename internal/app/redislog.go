package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisLogger is go-redis's logger (redis.SetLogger) over the slog logger of
// the running command, so that its own lines — "connection pool: failed to
// dial after 5 attempts", which it would print to stderr in the log
// package's format with a file:line — come out like every other line, as
// warnings with component=go-redis.
//
// go-redis has one global logger, and it logs from goroutines that outlive
// the call that started them: a dial queued by a ping that timed out logs
// its failure after the ping, and after Main, returned. So the global is set
// once per process (STYLE.md 10 allows no other global setter), to this
// type, and each Main command routes the lines to its own logger only while
// it runs (routeRedisLogs): a finished command's writer never gets another
// line. Lines logged between commands go to slog.Default().
type redisLogger struct{}

var redisLogs struct {
	once   sync.Once
	mu     sync.RWMutex   // held for reading while a line is written
	active []*slog.Logger // running commands' loggers; the last one gets the lines (none: slog.Default())
}

// routeRedisLogs sends go-redis's lines to log until the returned function
// is called; that function returns once no line is being written to log.
// Overlapping commands (tests) may finish in any order: each removes its own
// logger, and the lines go to the latest command still running.
func routeRedisLogs(log *slog.Logger) (restore func()) {
	redisLogs.once.Do(func() { redis.SetLogger(redisLogger{}) })
	redisLogs.mu.Lock()
	redisLogs.active = append(redisLogs.active, log)
	redisLogs.mu.Unlock()
	return func() {
		redisLogs.mu.Lock()
		defer redisLogs.mu.Unlock()
		if i := slices.Index(redisLogs.active, log); i >= 0 {
			redisLogs.active = slices.Delete(redisLogs.active, i, i+1)
		}
	}
}

func (redisLogger) Printf(ctx context.Context, format string, v ...any) {
	redisLogs.mu.RLock()
	defer redisLogs.mu.RUnlock()
	log := slog.Default()
	if n := len(redisLogs.active); n > 0 {
		log = redisLogs.active[n-1]
	}
	msg := strings.TrimSpace(fmt.Sprintf(format, v...))
	log.WarnContext(ctx, strings.TrimPrefix(msg, "redis: "), "component", "go-redis")
}
