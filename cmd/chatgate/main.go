// Command chatgate runs the chat backend. With no arguments it runs
// everything on one machine (embedded Redis, gateway, HTTP app) on
// loopback; "chatgate gateway --redis-url …" runs one gateway of a
// scaled-out deployment. "chatgate check", "chatgate token" and
// "chatgate version" check a configuration, mint a connect token and print
// the build. See --help and docs/config.md; the work is in internal/app.Main.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/chatgate/chatgate/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
