package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

// ServeHTTP upgrades a client to WebSocket, registers it, sends its init
// frame {"type":"init","client_id":"…"} and reads from it until it closes.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handlers.Add(1)
	defer g.handlers.Add(-1)
	if g.draining.Load() || !g.subUp.Load() {
		http.Error(w, "gateway not ready", http.StatusServiceUnavailable)
		return
	}
	ip := remoteIP(r)
	if max := g.opts.MaxConnsPerIP; max > 0 && g.idx.countIP(ip) >= max {
		http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
		return
	}
	var uid string
	var authErr error
	if g.opts.Authenticate != nil {
		uid, authErr = g.opts.Authenticate(r)
	}
	c := &conn{g: g, id: session.NewClientID(g.id), ip: ip, at: time.Now(), uid: uid}
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		OriginPatterns:     g.opts.OriginPatterns,
		InsecureSkipVerify: len(g.opts.OriginPatterns) == 1 && g.opts.OriginPatterns[0] == "*",
		OnPongReceived:     func(context.Context, []byte) { c.active.Store(true) },
	})
	if err != nil {
		g.log.Debug("websocket accept failed", "ip", ip, "err", err)
		return // Accept has written the HTTP error
	}
	c.ws, c.nc = ws, hw.conn
	ws.SetReadLimit(g.opts.ReadLimit)
	if authErr != nil {
		g.log.Info("connection refused", "ip", ip, "err", authErr)
		_ = ws.Close(StatusUnauthorized, truncateReason(authErr.Error()))
		return
	}
	if !g.idx.add(c, g.opts.MaxConnsPerIP) {
		_ = ws.Close(websocket.StatusTryAgainLater, "too many connections from this address")
		return
	}
	ctx, cancel := g.redisCtx()
	err = g.store.RegisterClient(ctx, c.state())
	cancel()
	if err != nil {
		g.idx.remove(c)
		g.log.Error("register client", "client", c.id, "err", err)
		_ = ws.Close(websocket.StatusInternalError, reasonInternal)
		return
	}
	g.metrics.connects.Add(1)
	g.event(&session.Event{Type: session.EventConnect, ClientID: c.id, Uid: uid, IP: ip, At: c.at})
	c.enqueue([]byte(`{"type":"init","client_id":"` + c.id + `"}`))
	why := g.readLoop(c)
	g.forget(c, why)
}

// readLoop reads client frames until the connection ends and returns why.
// It runs on the handler goroutine, the only goroutine an idle connection has.
func (g *Gateway) readLoop(c *conn) string {
	// Background: closing the connection (drain, slow client, close op)
	// unblocks Read; a ctx with Done would cost a timer registration per read.
	for {
		typ, data, err := c.ws.Read(context.Background())
		if err != nil {
			return closeWhy(err)
		}
		c.active.Store(true)
		g.metrics.framesIn.Add(1)
		if typ == websocket.MessageText && string(data) == clientPong {
			continue // heartbeat reply, not an event
		}
		if g.opts.Events {
			g.idx.mu.RLock()
			uid := c.uid
			g.idx.mu.RUnlock()
			g.event(&session.Event{Type: session.EventMessage, ClientID: c.id, Uid: uid, IP: c.ip, Data: string(data), At: time.Now()})
		}
	}
}

// clientPong is the text frame a page sends to answer {"type":"ping"}.
const clientPong = `{"type":"pong"}`

// forget removes every trace of a closed connection, locally then in Redis.
func (g *Gateway) forget(c *conn, why string) {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.ws.CloseNow()
	local := g.idx.remove(c)
	g.metrics.closes.Add(1)
	ctx, cancel := g.redisCtx()
	held, err := g.store.ForgetClient(ctx, local)
	cancel()
	if err != nil {
		// The crash reaper removes what is left once this gateway's
		// liveness key expires, or the next resync re-asserts only live ones.
		g.log.Warn("forget client", "client", c.id, "err", err)
	}
	if g.opts.Events {
		ev := &session.Event{Type: session.EventClose, ClientID: c.id, Uid: local.Uid, IP: c.ip, Session: local.Session, Groups: local.Groups, Reason: why, At: time.Now()}
		if held != nil {
			if ev.Uid == "" {
				ev.Uid = held.Uid
			}
			if len(held.Session) > 0 {
				ev.Session = held.Session
			}
			ev.Groups = held.Groups
		}
		if ev.Groups == nil {
			ev.Groups = []string{}
		}
		g.event(ev)
	}
}

func (g *Gateway) event(e *session.Event) {
	if !g.opts.Events {
		return
	}
	e.Gateway = g.id
	ctx, cancel := g.redisCtx()
	defer cancel()
	if err := g.store.AppendEvent(ctx, e, 0); err != nil {
		g.log.Warn("append event", "type", e.Type, "client", e.ClientID, "err", err)
	}
}

// closeWhy names why a read ended, for logs and close events.
func closeWhy(err error) string {
	if code := websocket.CloseStatus(err); code != -1 {
		return "client closed: " + code.String()
	}
	if errors.Is(err, net.ErrClosed) {
		return "closed by server"
	}
	return "connection lost"
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// truncateReason keeps a close reason within the 123 bytes a close frame allows.
func truncateReason(s string) string {
	if len(s) > 120 {
		return s[:120]
	}
	return s
}
