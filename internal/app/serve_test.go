package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// A listener stopped right after it started (a SIGTERM during start-up)
// returns: fasthttp's Shutdown closes only the listeners its Serve has
// already taken, so a Shutdown that comes first leaves Serve accepting
// forever unless serveFiber closes ln itself.
func TestServeFiberStopsBeforeServing(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // stopped before Serve runs
		done := make(chan error, 1)
		go func() { done <- serveFiber(ctx, fiber.New(fiber.Config{DisableStartupMessage: true}), ln, "test", log) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: serveFiber did not return within 20s of a stop before serving", i)
		}
	}
}
