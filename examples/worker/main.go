// Command worker is an example business worker for chatgate: GatewayWorker's
// BusinessWorker (onConnect, onMessage, onClose) as a consumer of the events
// stream (docs/push-api.md, part 3).
//
//	go run ./examples/worker --redis-url redis://127.0.0.1:6379/0 --group workers
//
// Start several with the same --group and they share the events; each event
// is acknowledged after its handler returns (at-least-once). On start a
// worker first finishes its own pending entries, then claims entries other
// consumers left pending for longer than --claim-idle (they died). Every flag
// has an environment variable of the same name (--redis-url / REDIS_URL).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chatgate/chatgate/session"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// config is the worker's settings.
type config struct {
	redisURL  string
	prefix    string
	group     string
	consumer  string
	max       int
	idleExit  time.Duration
	claimIdle time.Duration
	block     time.Duration
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host, _ := os.Hostname()
	fs.StringVar(&c.redisURL, "redis-url", "redis://127.0.0.1:6379/0", "Redis URL (as chatgate's --redis-url)")
	fs.StringVar(&c.prefix, "redis-prefix", session.DefaultPrefix, "chatgate's --redis-prefix")
	fs.StringVar(&c.group, "group", "workers", "consumer group: workers of one group share the events")
	fs.StringVar(&c.consumer, "consumer", fmt.Sprintf("%s-%d", host, os.Getpid()), "this worker's name in the group (keep it across restarts to resume its pending events)")
	fs.IntVar(&c.max, "max", 0, "stop after this many events; 0 runs until SIGTERM")
	fs.DurationVar(&c.idleExit, "idle-exit", 0, "stop after this long without an event; 0 never")
	fs.DurationVar(&c.claimIdle, "claim-idle", time.Minute, "claim events another consumer left pending this long")
	fs.DurationVar(&c.block, "block", 2*time.Second, "how long one XREADGROUP waits for new events")
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v := getenv(strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))); v != "" && envErr == nil {
			envErr = fs.Set(f.Name, v)
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 2
	}
	store, err := session.Open(ctx, cfg.redisURL, 5*time.Second, &session.Options{Prefix: cfg.prefix})
	if err != nil {
		fmt.Fprintln(stderr, "worker:", err)
		return 1
	}
	defer store.Close()
	w := &worker{cfg: cfg, events: store.Events, handle: printer(stdout)}
	n, err := w.Run(ctx)
	fmt.Fprintf(stderr, "worker %s: handled %d events\n", cfg.consumer, n)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "worker:", err)
		return 1
	}
	return 0
}
