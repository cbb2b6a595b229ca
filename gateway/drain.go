package gateway

import (
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

// drain refuses new clients, closes connected ones with 1012 so they
// reconnect elsewhere, waits for them to be forgotten in Redis (bounded by
// DrainTimeout), then removes the gateway's own keys.
func (g *Gateway) drain() {
	g.draining.Store(true)
	conns := g.idx.snapshot()
	g.log.Info("draining", "clients", len(conns))
	for _, c := range conns {
		g.closeAsync(c, websocket.StatusServiceRestart, reasonRestart)
	}
	deadline := time.Now().Add(g.opts.DrainTimeout)
	for (g.idx.len() > 0 || g.handlers.Load() > 0) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := g.idx.len(); n > 0 {
		g.log.Warn("drain timed out; dropping remaining clients", "clients", n)
		for _, c := range g.idx.snapshot() {
			c.ws.CloseNow()
		}
		for g.handlers.Load() > 0 && time.Now().Before(deadline.Add(2*time.Second)) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if g.stale.Load() && !g.forgetStale(func(string) bool { return false }, session.ReasonStale) {
		// Stay registered: the liveness key expires and a reaper cleans up.
		g.log.Warn("leaving this gateway's clients to the crash reaper")
		return
	}
	ctx, cancel := g.redisCtx()
	defer cancel()
	if err := g.store.RemoveGateway(ctx, g.id); err != nil {
		g.log.Warn("remove gateway state", "err", err)
	}
}
