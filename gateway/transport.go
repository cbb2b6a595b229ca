package gateway

import (
	"context"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// transport is one client connection's socket as the gateway's shared logic
// (index, queue, coalescing, budgets, heartbeat, recovery, hooks, events,
// drain) uses it. Two engines implement it (Options.Engine): rawConn, where
// coder/websocket reads on a goroutine per connection, and nbConn, where
// nbio's pollers read and no goroutine or buffer is held while idle.
type transport interface {
	// tryWrite writes as much of frame as the socket takes now, without
	// waiting, and returns what is left for the writer goroutine (nil when
	// all of it went out).
	tryWrite(frame []byte) ([]byte, error)
	// writeFrames writes complete frames, waiting until the socket took
	// them (it runs on the writer goroutine). It may modify the slice headers.
	writeFrames(frames [][]byte) error
	// serve starts delivering the client's frames to the gateway (readFrame)
	// once c is registered; the gateway forgets c when the connection ends.
	serve(c *conn)
	// refuse closes a connection that was upgraded but not registered,
	// giving the close handshake until deadline.
	refuse(code websocket.StatusCode, reason string, deadline time.Time)
	// close starts the close handshake; the connection ends when the client
	// answers or after closeTimeout.
	close(code websocket.StatusCode, reason string) error
	// closeNow closes without a handshake, letting one under way finish.
	closeNow()
	// abort closes the socket at once: every read and write in progress fails.
	abort()
	// ping sends a protocol ping; the pong counts as client activity.
	ping(ctx context.Context) error
	// waits reports whether close and ping wait for the client (std: the
	// close handshake, the pong), so that the gateway runs them on a
	// goroutine of their own; nbio's only hand a frame to the poller.
	waits() bool
	// why classifies the error that ended the connection's reads.
	why(err error) cause
}

var (
	_ transport = (*rawConn)(nil)
	_ transport = (*nbConn)(nil)
)

// closeTimeout bounds a close handshake the gateway starts, as
// coder/websocket's Close does.
const closeTimeout = 5 * time.Second

func (c *rawConn) serve(cn *conn) {
	g := cn.g
	g.inflight.Add(1) // legal during the drain's Wait: ServeHTTP is counted until it returns
	go func() {
		defer g.inflight.Done()
		g.forget(cn, g.readLoop(cn))
	}()
}

func (c *rawConn) refuse(code websocket.StatusCode, reason string, deadline time.Time) {
	_ = c.SetDeadline(deadline)
	_ = c.ws.Close(code, reason)
}

func (c *rawConn) close(code websocket.StatusCode, reason string) error {
	return c.ws.Close(code, reason)
}

func (c *rawConn) closeNow() { _ = c.ws.CloseNow() }

func (c *rawConn) ping(ctx context.Context) error { return c.ws.Ping(ctx) }

func (c *rawConn) waits() bool { return true }

func (c *rawConn) why(err error) cause {
	switch {
	case websocket.CloseStatus(err) == websocket.StatusMessageTooBig || strings.Contains(err.Error(), "read limited"):
		return causeTooBig
	case websocket.CloseStatus(err) != -1:
		return causeClient
	}
	return causeLost
}
