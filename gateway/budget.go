package gateway

import (
	"time"

	"github.com/coder/websocket"
)

// rate is one token bucket of a client's frame budget (Options.FrameRate,
// ByteRate), kept per connection as a single timestamp: the generic cell
// rate algorithm. The timestamp (tat) is when the bucket would be full
// again; a frame may move it at most limit ahead of now. Checking a frame
// costs a clock read and a few arithmetic operations, and needs no timer.
type rate struct {
	per   float64 // nanoseconds one unit (frame or byte) adds; 0: unlimited
	limit int64   // how far tat may run ahead of now: the burst, in nanoseconds
}

func newRate(perSecond, burst int) rate {
	if perSecond <= 0 {
		return rate{}
	}
	per := float64(time.Second) / float64(perSecond)
	return rate{per: per, limit: int64(per * float64(burst))}
}

// allow charges n units at now (nanoseconds on the gateway's clock) to the
// bucket whose state is tat. Over the budget it reports false and leaves
// tat as it was.
func (r rate) allow(tat *int64, now int64, n int) bool {
	if r.per == 0 {
		return true
	}
	t := max(*tat, now) + int64(r.per*float64(n))
	if t-now > r.limit {
		return false
	}
	*tat = t
	return true
}

// charge counts one frame of n payload bytes from c against its budget. Over
// the budget it starts closing c with 1008 and reports false; the caller
// drops the frame, and every later one (the connection is closing).
//
// The reader goroutine calls it, and so do coder/websocket's ping and pong
// callbacks, which run on whichever goroutine reads: the reader, or a close
// handshake. The state is atomic for that; a lost update during a close
// does not matter.
func (g *Gateway) charge(c *conn, n int) bool {
	if c.overBudget.Load() {
		return false
	}
	now := time.Since(g.epoch).Nanoseconds()
	ft, bt := c.frameTAT.Load(), c.byteTAT.Load()
	if g.frames.allow(&ft, now, 1) && g.bytes.allow(&bt, now, n) {
		c.frameTAT.Store(ft)
		c.byteTAT.Store(bt)
		return true
	}
	if c.overBudget.Swap(true) {
		return false
	}
	g.log.Info("closing client: frame budget exceeded", "client", c.id, "ip", c.ip)
	g.closeAsync(c, causeRateLimit, websocket.StatusPolicyViolation, reasonRateLimit)
	return false
}
