package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// floodResult is what a flood got through before its close.
type floodResult struct{ sent, bytes int }

// TestFrameBudget: on a real gateway with the events stream on, a client
// that floods frames, bytes or protocol pings is closed with 1008 (counted as
// rate_limited) after its burst got through, and the stream grew by no more
// than its budget; a client on the same gateway that stays within the
// budget is untouched.
func TestFrameBudget(t *testing.T) {
	t.Parallel()
	const (
		frameRate, frameBurst = 10, 20
		readLimit             = 16 << 10
		byteRate, byteBurst   = 4 << 10, 4 * readLimit
	)
	small := []byte(`{"type":"say","content":"flood"}`)
	big := []byte(strings.Repeat("b", readLimit))
	tests := []struct {
		name  string
		opts  gateway.Options
		flood func(ctx context.Context, c *client) floodResult
		// normal sends within the budget, with pauses; it returns the frames sent.
		normal func(ctx context.Context, c *client) int
		// bounds of what the flood got through, given how long it ran.
		atLeast int
		atMost  func(elapsed time.Duration) floodResult
		events  bool // the flood's frames are message events
	}{
		{
			name:  "frames",
			opts:  gateway.Options{FrameRate: frameRate, FrameBurst: frameBurst, ByteRate: -1},
			flood: writeFlood(small),
			normal: func(ctx context.Context, c *client) int {
				return sendPaced(ctx, c, small, frameBurst/2, 15, time.Second/(frameRate/2))
			},
			atLeast: frameBurst,
			atMost: func(d time.Duration) floodResult {
				return floodResult{sent: frameBurst + int(d.Seconds()*frameRate) + 1}
			},
			events: true,
		},
		{
			name:  "bytes",
			opts:  gateway.Options{ReadLimit: readLimit, ByteRate: byteRate, ByteBurst: byteBurst, FrameRate: -1},
			flood: writeFlood(big),
			normal: func(ctx context.Context, c *client) int {
				// Half the burst at once, then 1 KiB every 0.5 s (2 KiB/s).
				n := sendPaced(ctx, c, big[:byteBurst/4], 2, 0, 0)
				return n + sendPaced(ctx, c, big[:1<<10], 0, 6, 500*time.Millisecond)
			},
			atLeast: byteBurst / readLimit,
			atMost: func(d time.Duration) floodResult {
				return floodResult{bytes: byteBurst + int(d.Seconds()*byteRate) + 1}
			},
			events: true,
		},
		{
			name: "protocol pings",
			opts: gateway.Options{FrameRate: frameRate, FrameBurst: frameBurst, ByteRate: -1},
			flood: func(ctx context.Context, c *client) (r floodResult) {
				for range 1000 {
					pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					err := c.ws.Ping(pctx)
					cancel()
					if err != nil {
						break
					}
					r.sent++
				}
				return r
			},
			normal: func(ctx context.Context, c *client) int {
				for range 5 {
					if err := c.ws.Ping(ctx); err != nil {
						return 0
					}
					time.Sleep(200 * time.Millisecond)
				}
				return sendPaced(ctx, c, small, 0, 5, 200*time.Millisecond)
			},
			atLeast: frameBurst,
			atMost: func(d time.Duration) floodResult {
				return floodResult{sent: frameBurst + int(d.Seconds()*frameRate) + 1}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := standaloneEnv(t)
			opts := tt.opts
			opts.Events = true
			gw := e.addGateway(opts)
			flooder, normal := e.dial(gw), e.dial(gw)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()

			normalSent := make(chan int, 1)
			go func() { normalSent <- tt.normal(ctx, normal) }()
			start := time.Now()
			got := tt.flood(ctx, flooder)
			if code := flooder.closeStatus(); code != websocket.StatusPolicyViolation {
				t.Fatalf("flooding client closed with %v, want 1008", code)
			}
			elapsed := time.Since(start)
			sent := <-normalSent

			// The flood's burst got through; no more than its budget did.
			inStream, bytes := messageEvents(t, e, flooder.id)
			if !tt.events {
				inStream = got.sent // pings are not events: count the answered ones
			}
			limit := tt.atMost(elapsed)
			t.Logf("flood: %d frames written, %d got through (%d bytes) in %v before the 1008", got.sent, inStream, bytes, elapsed.Round(time.Millisecond))
			if inStream < tt.atLeast {
				t.Errorf("only %d frames of the flood got through, want at least the burst (%d)", inStream, tt.atLeast)
			}
			if limit.sent > 0 && inStream > limit.sent || limit.bytes > 0 && bytes > limit.bytes {
				t.Errorf("the flood got %d frames (%d bytes) through in %v, over its budget (%d frames, %d bytes)",
					inStream, bytes, elapsed, limit.sent, limit.bytes)
			}
			if n := gw.g.CloseReasons()["rate_limited"]; n != 1 {
				t.Errorf("rate_limited closes = %d, want 1", n)
			}

			// The client within its budget is untouched: every frame is an
			// event, and a message pushed after them reaches it.
			if sent == 0 {
				t.Fatal("the client within the budget could not send")
			}
			waitFor(t, 10*time.Second, "every frame of the client within the budget in the stream", func() bool {
				n, _ := messageEvents(t, e, normal.id)
				return n == sent
			})
			if err := e.store.SendToClient(ctx, normal.id, []byte("still here")); err != nil {
				t.Fatal(err)
			}
			normal.expect("still here")
		})
	}
}

// writeFlood returns a flood of 1,000 copies of data, written as fast as the
// connection takes them until it fails.
func writeFlood(data []byte) func(ctx context.Context, c *client) floodResult {
	return func(ctx context.Context, c *client) (r floodResult) {
		for range 1000 {
			if c.ws.Write(ctx, websocket.MessageText, data) != nil {
				break
			}
			r.sent++
		}
		return r
	}
}

// sendPaced writes burst copies of data at once, then n more one every
// pause. It returns how many it wrote.
func sendPaced(ctx context.Context, c *client, data []byte, burst, n int, pause time.Duration) int {
	sent := 0
	for i := range burst + n {
		if i >= burst {
			time.Sleep(pause)
		}
		if c.ws.Write(ctx, websocket.MessageText, data) != nil {
			break
		}
		sent++
	}
	return sent
}

// messageEvents returns how many message events client cid has in the
// events stream, and their payload bytes.
func messageEvents(t *testing.T, e *env, cid string) (n, bytes int) {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), e.store.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Values["type"] == session.EventMessage && m.Values["client_id"] == cid {
			n++
			bytes += len(fmt.Sprint(m.Values["data"]))
		}
	}
	return n, bytes
}
