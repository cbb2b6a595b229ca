package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/testwait"
)

// pushDeadline bounds every wait of the push/php/events tests (a loaded
// 2-core machine needs generous ones).
const pushDeadline = 20 * time.Second

// pushStartGateway runs a gateway role in-process against redisURL, with a
// fixed gateway id, heartbeats off and events on; it returns its WebSocket
// address. t.Cleanup stops it and waits for it.
func pushStartGateway(t *testing.T, redisURL, id string, extra ...string) string {
	t.Helper()
	addr, _ := pushRunGateway(t, redisURL, id, extra...)
	return addr
}

// pushRunGateway is pushStartGateway that also returns a function stopping
// the gateway and waiting until it has drained and returned (the Cleanup
// then does nothing more).
func pushRunGateway(t *testing.T, redisURL, id string, extra ...string) (string, func()) {
	t.Helper()
	args := append([]string{"--redis-url", redisURL, "--ws-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--allow-unsigned",
		"--gateway-id", id, "--ping-interval", "0", "--log-level", "error"}, extra...)
	cfg, err := config.Load("gw", args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan app.Started, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, app.RoleGateway, cfg, log, func(s app.Started) { addr <- s }) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(pushDeadline):
				t.Errorf("gateway %s did not stop within %v", id, pushDeadline)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-addr:
		testwait.StatusOK(t, pushDeadline, "http://"+a.InternalAddr+"/readyz")
		return a.WSAddr, stop
	case err := <-done:
		t.Fatalf("gateway %s stopped at start: %v", id, err)
	case <-time.After(pushDeadline):
		t.Fatalf("gateway %s did not start within %v", id, pushDeadline)
	}
	return "", stop
}

// pushClient is a real WebSocket client that records every text frame after
// the init frame. Its reader goroutine stops when the connection closes.
type pushClient struct {
	ID   string
	conn *websocket.Conn
	done chan struct{}

	mu     sync.Mutex
	frames []string
	closed error // why the reader stopped
}

// pushConnect dials a gateway, reads the init frame and starts the reader.
func pushConnect(t *testing.T, addr string) *pushClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	_, data, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read init frame: %v", err)
	}
	var init struct {
		Type     string `json:"type"`
		ClientID string `json:"client_id"`
	}
	if err := json.Unmarshal(data, &init); err != nil || init.Type != "init" || init.ClientID == "" {
		t.Fatalf("bad init frame %q: %v", data, err)
	}
	c := &pushClient{ID: init.ClientID, conn: conn, done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() {
		c.conn.CloseNow()
		<-c.done
	})
	return c
}

func (c *pushClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.Read(context.Background())
		c.mu.Lock()
		if err != nil {
			c.closed = err
			c.mu.Unlock()
			return
		}
		c.frames = append(c.frames, string(data))
		c.mu.Unlock()
	}
}

// Frames returns the frames received so far.
func (c *pushClient) Frames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.frames)
}

// waitFrames polls until the client has received at least the frames in
// want (as a multiset) and returns everything it got.
func (c *pushClient) waitFrames(t *testing.T, name string, want ...string) []string {
	t.Helper()
	var got []string
	testwait.For(t, pushDeadline, fmt.Sprintf("client %s to get at least %q", name, want), func() error {
		if got = c.Frames(); !pushContainsAll(got, want) {
			return fmt.Errorf("got frames %q", got)
		}
		return nil
	})
	return got
}

// waitClosed polls until the gateway closed the connection and returns the close status.
func (c *pushClient) waitClosed(t *testing.T, name string) websocket.StatusCode {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(pushDeadline):
		t.Fatalf("client %s not closed within %v", name, pushDeadline)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return websocket.CloseStatus(c.closed)
}

// Close closes the connection normally, as a browser tab would.
func (c *pushClient) Close() { _ = c.conn.Close(websocket.StatusNormalClosure, "bye") }

func pushContainsAll(got, want []string) bool {
	left := slices.Clone(got)
	for _, w := range want {
		i := slices.Index(left, w)
		if i < 0 {
			return false
		}
		left = slices.Delete(left, i, i+1)
	}
	return true
}

// pushHostPort splits "host:port".
func pushHostPort(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}
