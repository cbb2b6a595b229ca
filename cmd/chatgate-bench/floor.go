package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"
	"github.com/valyala/fasthttp"
)

// floorMain is the floor of one push request on this machine, for
// docs/BENCHMARKS.md: an HTTP server that answers every request with
// {"ok":true} and does nothing else (--redis-url empty), or one go-redis
// PUBLISH per request first. `bench/push.sh` drives it with SYSTEM=floor
// exactly as it drives chatgate, so the difference between the two is the
// part of a push request that is chatgate's code.
func floorMain(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	redisURL := fs.String("redis-url", "", "publish once per request to this Redis; empty: no Redis")
	server := fs.String("server", "fasthttp", "fasthttp (a bare handler) or fiber (one route on a Fiber app)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h, closeRedis, err := floorHandler(*redisURL)
	if err != nil {
		return err
	}
	defer closeRedis()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("floor: listen on %s: %w", *addr, err)
	}
	slog.New(slog.NewJSONHandler(os.Stderr, nil)).Info("floor listening", "addr", ln.Addr().String(), "server", *server)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var serve func() error
	var shutdown func() error
	switch *server {
	case "fasthttp":
		srv := &fasthttp.Server{Handler: h, IdleTimeout: 2 * time.Minute}
		serve, shutdown = func() error { return srv.Serve(ln) }, srv.Shutdown
	case "fiber":
		a := fiber.New(fiber.Config{DisableStartupMessage: true, IdleTimeout: 2 * time.Minute})
		a.All("/*", func(c *fiber.Ctx) error { h(c.Context()); return nil })
		serve, shutdown = func() error { return a.Listener(ln) }, a.Shutdown
	default:
		return fmt.Errorf("floor: --server %q: want fasthttp or fiber", *server)
	}
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err = <-done:
		return fmt.Errorf("floor: serve: %w", err)
	case <-ctx.Done():
	}
	err = shutdown()
	if serr := <-done; serr != nil && !errors.Is(serr, net.ErrClosed) && err == nil {
		err = serr
	}
	return err
}

var floorOK = []byte(`{"ok":true}`)

// floorHandler returns the request handler: answer {"ok":true}, after one
// PUBLISH of the request body when redisURL is set.
func floorHandler(redisURL string) (fasthttp.RequestHandler, func(), error) {
	ok := func(c *fasthttp.RequestCtx) {
		c.SetContentType("application/json")
		c.SetBody(floorOK)
	}
	if redisURL == "" {
		return ok, func() {}, nil
	}
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("floor: --redis-url: %w", err)
	}
	rdb := redis.NewClient(o)
	h := func(c *fasthttp.RequestCtx) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := rdb.Publish(ctx, "floor", c.PostBody()).Err()
		cancel()
		if err != nil {
			c.Error(err.Error(), fasthttp.StatusServiceUnavailable)
			return
		}
		ok(c)
	}
	return h, func() { _ = rdb.Close() }, nil
}
