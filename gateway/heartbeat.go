package gateway

import (
	"context"
	"time"

	"github.com/coder/websocket"
)

// sweepEvery is how often the sweeper checks write deadlines.
const sweepEvery = time.Second

// sweepLoop is the one goroutine that heartbeats every connection and
// enforces write deadlines, so that an idle connection needs no timer or
// goroutine of its own.
func (g *Gateway) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	nextPing := time.Now().Add(g.opts.PingInterval)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ping := g.opts.PingInterval > 0 && !now.Before(nextPing)
			if ping {
				nextPing = now.Add(g.opts.PingInterval)
			}
			g.sweep(now, ping)
		}
	}
}

func (g *Gateway) sweep(now time.Time, ping bool) {
	deadline := now.Add(-g.opts.WriteTimeout).UnixNano()
	for _, c := range g.idx.snapshot() {
		if ws := c.writeStart.Load(); ws != 0 && ws < deadline {
			g.log.Info("closing client: write timed out", "client", c.id)
			c.setCause(causeWriteTimeout)
			// Not CloseNow: with a close handshake under way (a slow client
			// being closed with 1008) it would wait for it, holding up the
			// sweep of every other connection.
			c.nc.abort()
			continue
		}
		if !ping {
			continue
		}
		if c.active.Swap(false) {
			c.missed.Store(0)
		} else if n := c.missed.Add(1); g.opts.PingNotResponseLimit > 0 && int(n) > g.opts.PingNotResponseLimit {
			g.closeAsync(c, causeHeartbeat, websocket.StatusPolicyViolation, reasonHeartbeat)
			continue
		}
		if g.pingData != nil {
			c.enqueue(g.pingData)
		}
		if c.missed.Load() > 0 {
			// A protocol ping makes a silent but healthy client (a browser
			// tab) answer with a pong, which counts as activity.
			g.goTracked(func() {
				pctx, cancel := context.WithTimeout(context.Background(), g.opts.PingInterval)
				defer cancel()
				_ = c.ws.Ping(pctx)
			})
		}
	}
}
