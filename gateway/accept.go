package gateway

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

// ServeHTTP upgrades a client to WebSocket, registers it, sends its init
// frame {"type":"init","client_id":"…"} (unless Options.NoInitFrame), tells
// Options.Hook, and starts the connection's reader.
// It returns once the reader runs: net/http's handler goroutine, its stack
// and its per-request buffers are not kept for the connection's lifetime.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.admit() {
		http.Error(w, "gateway not ready", http.StatusServiceUnavailable)
		return
	}
	defer g.inflight.Done()
	if !g.subUp.Load() {
		http.Error(w, "gateway not ready", http.StatusServiceUnavailable)
		return
	}
	ip := clientIP(r, g.opts.TrustedProxies)
	if max := g.opts.MaxConnsPerIP; max > 0 && g.idx.countIP(ip) >= max {
		g.logPerIPRefusal(ip)
		http.Error(w, "too many connections from this address", http.StatusTooManyRequests)
		return
	}
	var uid string
	var authErr error
	if g.opts.Authenticate != nil {
		uid, authErr = g.opts.Authenticate(r)
	}
	c := &conn{g: g, id: g.newClientID(), ip: ip, at: time.Now(), uid: uid}
	hw := &hijackWriter{ResponseWriter: w}
	ws, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		OriginPatterns:     g.originPatterns(r),
		InsecureSkipVerify: len(g.opts.OriginPatterns) == 1 && g.opts.OriginPatterns[0] == "*",
		OnPingReceived:     func(_ context.Context, p []byte) bool { return g.charge(c, len(p)) },
		OnPongReceived: func(_ context.Context, p []byte) {
			c.active.Store(true)
			g.charge(c, len(p))
		},
	})
	if err != nil {
		g.log.Debug("websocket accept failed", "ip", ip, "err", err)
		return // Accept has written the HTTP error
	}
	if g.nb == nil {
		ws.SetReadLimit(g.opts.ReadLimit)
		hw.conn.ws = ws
		c.t = hw.conn
	} else {
		// Only the handshake was coder/websocket's: nbio's pollers read
		// from here on (nbio.go). CloseNow frees ws (the socket it would
		// close is already handed over) and its finalizer, which would
		// otherwise keep it and its buffers alive.
		c.t, err = g.nb.adopt(hw.conn)
		_ = ws.CloseNow()
		if err != nil {
			g.log.Debug("websocket handover to nbio failed", "ip", ip, "err", err)
			return
		}
	}
	if authErr != nil {
		g.log.Info("connection refused", "ip", ip, "err", authErr)
		g.refuse(c, StatusUnauthorized, truncateReason(authErr.Error()))
		return
	}
	switch g.addToIndex(c) {
	case addFull:
		g.logPerIPRefusal(ip)
		g.refuse(c, websocket.StatusTryAgainLater, "too many connections from this address")
		return
	case addClosed: // upgraded while the drain began: it did not see c
		g.refuse(c, websocket.StatusServiceRestart, reasonRestart)
		return
	case addDuplicate:
		g.refuse(c, websocket.StatusTryAgainLater, "client id in use")
		return
	}
	ctx, cancel := g.connRedisCtx()
	err = g.store.RegisterClient(ctx, c.state())
	cancel()
	if err != nil {
		g.idx.remove(c)
		g.log.Error("register client", "client", c.id, "err", err)
		g.refuse(c, websocket.StatusInternalError, reasonInternal)
		return
	}
	g.metrics.connects.Add(1)
	g.event(&session.Event{Type: session.EventConnect, ClientID: c.id, Uid: uid, IP: ip, At: c.at})
	if !g.opts.NoInitFrame {
		c.enqueue(textFrame(`{"type":"init","client_id":"` + c.id + `"}`))
	}
	if g.opts.Hook != nil {
		// Before serve: the hook sees connect before any of the client's frames.
		g.opts.Hook.ClientConnected(c.id, ip, r)
	}
	c.t.serve(c)
}

// refuseTimeout bounds the close handshake with a refused connection.
const refuseTimeout = 5 * time.Second

// refuse closes a connection that was upgraded but not registered. The
// handshake is bounded by refuseTimeout, and during a drain by its deadline,
// since the drain waits for this call.
func (g *Gateway) refuse(c *conn, code websocket.StatusCode, reason string) {
	c.t.refuse(code, reason, g.connDeadline(refuseTimeout))
}

// logPerIPRefusal logs, at most once a minute, that a client IP hit
// MaxConnsPerIP: behind a proxy that is not in TrustedProxies every client
// has the proxy's IP, and this is how an operator finds out.
func (g *Gateway) logPerIPRefusal(ip string) {
	now := time.Now().UnixNano()
	last := g.perIPLogged.Load()
	if now-last < int64(time.Minute) || !g.perIPLogged.CompareAndSwap(last, now) {
		return
	}
	g.log.Warn("connections refused: too many from one IP (more refusals are not logged for a minute)",
		"ip", ip, "max_conns_per_ip", g.opts.MaxConnsPerIP)
}

// newClientID draws an id for a new connection (Options.CompactClientIDs).
func (g *Gateway) newClientID() string {
	if g.opts.CompactClientIDs {
		return session.NewCompactClientID(g.id)
	}
	return session.NewClientID(g.id)
}

// addToIndex adds c to the local index. A compact id holds only 32 random
// bits, so one a live connection holds is drawn again (a few times at most:
// a clash needs ~2³² live connections to be likely).
func (g *Gateway) addToIndex(c *conn) addResult {
	for range 8 {
		if r := g.idx.add(c, g.opts.MaxConnsPerIP); r != addDuplicate {
			return r
		}
		c.id = g.newClientID()
	}
	return addDuplicate
}

// readLoop reads client frames until the connection ends and returns the
// read error. It is the only goroutine an idle connection has (engine std).
func (g *Gateway) readLoop(c *conn) error {
	ws := c.t.(*rawConn).ws
	// Background: closing the connection (drain, slow client, close op)
	// unblocks Read; a ctx with Done would cost a timer registration per read.
	for {
		typ, data, err := ws.Read(context.Background())
		if err != nil {
			return err
		}
		g.readFrame(c, typ == websocket.MessageText, data)
	}
}

// readFrame handles one data frame from c (text or binary), in the order
// the client sent them: heartbeat replies, recovery requests, then the hook
// and the events stream. data is not retained.
func (g *Gateway) readFrame(c *conn, text bool, data []byte) {
	c.active.Store(true)
	g.metrics.framesIn.Add(1)
	if !g.charge(c, len(data)) {
		return // over budget: closing with 1008; the client's frames are dropped
	}
	if text && string(data) == clientPong {
		return // heartbeat reply, not an event
	}
	if text && g.logs != nil && bytes.HasPrefix(data, recoverPrefix) {
		g.recoverGroup(c, data) // a control frame, not an event
		return
	}
	if g.opts.Hook != nil {
		g.opts.Hook.ClientMessage(c.id, data, g.sessionOf(c))
	}
	if g.opts.Events {
		g.idx.mu.RLock()
		uid := c.uid
		g.idx.mu.RUnlock()
		g.event(&session.Event{Type: session.EventMessage, ClientID: c.id, Uid: uid, IP: c.ip, Data: string(data), At: time.Now()})
	}
}

// clientPong is the text frame a page sends to answer {"type":"ping"}.
const clientPong = `{"type":"pong"}`

// forget removes every trace of a closed connection, locally then in Redis.
func (g *Gateway) forget(c *conn, readErr error) {
	why := closeWhy(c, readErr)
	g.metrics.closesBy[why].Add(1)
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.t.closeNow()
	local := g.idx.remove(c)
	g.metrics.closes.Add(1)
	if g.opts.Hook != nil {
		g.opts.Hook.ClientClosed(c.id, local.Session)
	}
	ctx, cancel := g.connRedisCtx()
	held, err := g.store.ForgetClient(ctx, local)
	cancel()
	if err != nil {
		// Retried from the liveness loop once Redis answers again
		// (forgetStale), which also appends the close event.
		g.stale.Store(true)
		g.log.Warn("forget client failed; will retry", "client", c.id, "err", err)
		return
	}
	if g.opts.Events {
		ev := &session.Event{Type: session.EventClose, ClientID: c.id, Uid: local.Uid, IP: c.ip, Session: local.Session, Groups: local.Groups, Reason: why.String(), At: time.Now()}
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

// closeWhy names why a read ended, for logs and close events.
func closeWhy(c *conn, err error) cause {
	if why := cause(c.cause.Load()); why != causeUnknown {
		return why
	}
	return c.t.why(err)
}

// originPatterns is the Origin allowlist for r: the configured patterns, or
// by default the request's own host on any port — the chat page is usually
// served from the same host as the gateway but another port (8080 vs 7272).
func (g *Gateway) originPatterns(r *http.Request) []string {
	if len(g.opts.OriginPatterns) > 0 {
		return g.opts.OriginPatterns
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.Contains(host, ":") { // IPv6: brackets are path.Match syntax
		host = `\[` + host + `\]`
	}
	return []string{host, host + ":*"}
}

// clientIP is the address of the client: the peer, or, when the peer is a
// trusted proxy, the last address in X-Forwarded-For that is not one.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	isTrusted := func(s string) bool {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			return false
		}
		for _, p := range trusted {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	if len(trusted) == 0 || !isTrusted(host) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		if h := strings.TrimSpace(hops[i]); h != "" && !isTrusted(h) {
			if _, err := netip.ParseAddr(h); err == nil {
				return h
			}
			break
		}
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
