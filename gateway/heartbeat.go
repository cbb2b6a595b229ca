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
// goroutine of its own. Heartbeats are spread over the interval: each tick
// pings the connections of one slot (pingSlot), so that every connection is
// pinged once per interval and the pings of a busy gateway do not all go out
// in the same second.
func (g *Gateway) sweepLoop(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	slots := pingSlots(g.opts.PingInterval)
	for tick := 0; ; tick++ {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			slot := -1
			if g.opts.PingInterval > 0 {
				slot = tick % slots
			}
			g.sweep(now, slot, slots)
		}
	}
}

// pingSlots is how many sweeps one ping interval spans (at least 1).
func pingSlots(interval time.Duration) int {
	return max(1, int(interval/sweepEvery))
}

// pingSlot spreads connections over the slots of an interval by a hash of
// their id (FNV-1a): stable for a connection, even across connections.
func pingSlot(id string, slots int) int {
	h := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return int(h % uint32(slots))
}

// sweep closes the connections whose write has taken longer than
// WriteTimeout and heartbeats those of slot (none when slot < 0).
func (g *Gateway) sweep(now time.Time, slot, slots int) {
	deadline := now.Add(-g.opts.WriteTimeout).UnixNano()
	for _, c := range g.idx.snapshot() {
		if ws := c.writeStart.Load(); ws != 0 && ws < deadline {
			g.log.Info("closing client: write timed out", "client", c.id)
			c.setCause(causeWriteTimeout)
			// Not CloseNow: with a close handshake under way (a slow client
			// being closed with 1008) it would wait for it, holding up the
			// sweep of every other connection.
			c.t.abort()
			continue
		}
		if slot < 0 || pingSlot(c.id, slots) != slot {
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
			g.onSocket(c, func() {
				pctx, cancel := context.WithTimeout(context.Background(), g.opts.PingInterval)
				defer cancel()
				_ = c.t.ping(pctx)
			})
		}
	}
}
