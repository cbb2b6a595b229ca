package gateway

import (
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

// admit counts a ServeHTTP call in flight, unless the gateway drains. The
// drain closes the index under the same lock, so that every call it does not
// wait for was refused here, and inflight.Add never races its Wait.
func (g *Gateway) admit() bool {
	g.idx.mu.Lock()
	defer g.idx.mu.Unlock()
	if g.idx.closed {
		return false
	}
	g.inflight.Add(1)
	return true
}

// drainClients refuses new clients, closes connected ones with 1012 so they
// reconnect elsewhere, and waits, bounded by DrainTimeout, until every
// reader has forgotten its connection and every ServeHTTP call has returned.
// Past the deadline it drops what is left: closing the sockets ends every
// read and write at once, and Redis calls made for connections end by the
// deadline too (connRedisCtx), so the wait after it is short.
func (g *Gateway) drainClients() {
	deadline := time.Now().Add(g.opts.DrainTimeout)
	g.stopAt.Store(deadline.UnixNano())
	// Under the index lock: a connection upgraded after this is refused by
	// index.add and closed with 1012 by its ServeHTTP, at once.
	conns := g.idx.close()
	g.draining.Store(true)
	g.log.Info("draining", "clients", len(conns))
	for _, c := range conns {
		g.closeAsync(c, causeRestart, websocket.StatusServiceRestart, reasonRestart)
	}
	if waitBefore(&g.inflight, deadline) {
		return
	}
	// Readers still in a Redis call end by the deadline on their own.
	if left := g.idx.snapshot(); len(left) > 0 {
		g.log.Warn("drain timed out; dropping remaining clients", "clients", len(left))
		for _, c := range left {
			c.setCause(causeRestart)
			c.t.abort()
		}
	}
	g.inflight.Wait()
}

// unregister removes the gateway's own state from Redis once every client is
// gone. Clients whose forget failed are forgotten first; if that fails too,
// the gateway stays registered and, once its liveness key expires, a reaper
// cleans up (as after a crash). Unregistering with clients left would make
// them orphans that only the slower orphan sweep finds.
func (g *Gateway) unregister() {
	if g.stale.Load() && !g.forgetStale(func(string) bool { return false }, session.ReasonStale) {
		g.log.Warn("leaving this gateway's clients to the crash reaper")
		return
	}
	ctx, cancel := g.redisCtx()
	defer cancel()
	if err := g.store.RemoveGateway(ctx, g.id); err != nil {
		g.log.Warn("remove gateway state", "err", err)
	}
}

// waitBefore waits for wg until deadline and reports whether it got there.
// Its helper goroutine ends with wg's wait, which the caller makes anyway.
func waitBefore(wg *sync.WaitGroup, deadline time.Time) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
