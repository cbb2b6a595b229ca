package gateway

import (
	"context"
	"maps"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

var _ session.InboxHandler = (*Gateway)(nil)

// HandleEnvelope applies one envelope from the inbox or broadcast channel. It
// never blocks on a client: deliveries are queued, slow clients are closed.
func (g *Gateway) HandleEnvelope(env *session.Envelope) {
	g.metrics.envelopes.Add(1)
	if env.TS > 0 && g.opts.OnInboxLag != nil {
		g.opts.OnInboxLag(time.Since(time.UnixMilli(env.TS)))
	}
	switch env.Op {
	case session.OpSend:
		g.deliver(env)
	case session.OpClose:
		g.closeClients(env)
	default:
		g.applyControl(env)
	}
}

// deliver frames the payload once and queues the same frame for every local
// target.
func (g *Gateway) deliver(env *session.Envelope) {
	logged := env.Seq > 0 && len(env.Groups) == 1 && len(env.Clients)+len(env.Uids) == 0
	at := seqMark{env.Epoch, env.Seq}
	if logged && !g.marks.advance(env.Groups[0], at) {
		return // delivered already, by the catch-up after an outage (recover.go)
	}
	msg := textFrame(env.Payload)
	x := g.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	send := func(c *conn) {
		for _, ex := range env.Exclude {
			if ex == c.id {
				return
			}
		}
		if logged {
			c.enqueueSeq(env.Groups[0], at, msg)
			return
		}
		c.enqueue(msg)
	}
	nTargets := len(env.Clients) + len(env.Uids) + len(env.Groups)
	switch {
	case nTargets == 0: // broadcast channel: every local client
		for _, c := range x.clients {
			send(c)
		}
	case nTargets == 1 && len(env.Groups) == 1:
		for c := range x.groups[env.Groups[0]] {
			send(c)
		}
	case nTargets == 1 && len(env.Uids) == 1:
		for c := range x.uids[env.Uids[0]] {
			send(c)
		}
	default: // several targets: a client reached twice gets one copy
		seen := make(map[*conn]struct{})
		visit := func(c *conn) {
			if _, dup := seen[c]; !dup {
				seen[c] = struct{}{}
				send(c)
			}
		}
		for _, id := range env.Clients {
			if c := x.clients[id]; c != nil {
				visit(c)
			}
		}
		for _, u := range env.Uids {
			for c := range x.uids[u] {
				visit(c)
			}
		}
		for _, gid := range env.Groups {
			for c := range x.groups[gid] {
				visit(c)
			}
		}
	}
}

func (g *Gateway) closeClients(env *session.Envelope) {
	var msg []byte
	if env.Payload != "" {
		msg = textFrame(env.Payload)
	}
	reason := env.Reason
	if reason == "" {
		reason = reasonClosed
	}
	x := g.idx
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, id := range env.Clients {
		if c := x.clients[id]; c != nil {
			if msg != nil {
				c.enqueue(msg)
			}
			c.closeAfterFlush(websocket.StatusNormalClosure, reason)
		}
	}
}

// applyControl keeps the local indexes in step with what the sender wrote to
// Redis. An envelope for a client this gateway no longer holds is a race with
// its close: what the sender recorded in Redis is undone.
func (g *Gateway) applyControl(env *session.Envelope) {
	x := g.idx
	var strays []string
	x.mu.Lock()
	if env.Op == session.OpUngroup {
		for _, gid := range env.Groups {
			for c := range x.groups[gid] {
				delete(c.groups, gid)
			}
			delete(x.groups, gid)
		}
	}
	for _, id := range env.Clients {
		if c := x.clients[id]; c != nil {
			x.apply(c, env)
		} else {
			strays = append(strays, id)
		}
	}
	x.mu.Unlock()
	for _, id := range strays {
		if env.Op != session.OpJoin && env.Op != session.OpBind {
			continue
		}
		g.goTracked(func() {
			ctx, cancel := context.WithTimeout(context.Background(), g.opts.RedisTimeout)
			defer cancel()
			if err := g.store.UndoStray(ctx, g.id, env, id); err != nil {
				g.log.Warn("undo stray membership", "client", id, "op", env.Op, "err", err)
			}
		})
	}
}

// apply applies a control envelope to one local connection. The caller
// holds x.mu for writing.
func (x *index) apply(c *conn, env *session.Envelope) {
	switch env.Op {
	case session.OpJoin:
		for _, gid := range env.Groups {
			if c.groups == nil {
				c.groups = make(map[string]struct{}, 1)
			}
			c.groups[gid] = struct{}{}
			addTo(x.groups, gid, c)
		}
	case session.OpLeave:
		for _, gid := range env.Groups {
			delete(c.groups, gid)
			removeFrom(x.groups, gid, c)
		}
	case session.OpBind:
		if c.uid != "" {
			removeFrom(x.uids, c.uid, c)
		}
		c.uid = env.Uids[0]
		addTo(x.uids, c.uid, c)
	case session.OpUnbind:
		if c.uid == env.Uids[0] {
			removeFrom(x.uids, c.uid, c)
			c.uid = ""
		}
	case session.OpSetSession:
		c.session = maps.Clone(env.Session)
	case session.OpUpdateSession:
		if c.session == nil {
			c.session = make(session.Session, len(env.Session))
		}
		maps.Copy(c.session, env.Session)
	}
}

// SubscriptionChanged records the inbox subscription's state for readiness,
// and re-asserts this gateway's connections when it comes back: Redis may
// have restarted and lost them.
func (g *Gateway) SubscriptionChanged(up bool) {
	was := g.subUp.Swap(up)
	if up && !was {
		if g.everUp.Swap(true) {
			g.log.Info("inbox subscription restored")
			g.requestResync()
			if g.logs != nil {
				g.catchUp()
			}
		} else {
			g.log.Info("inbox subscription up")
		}
	} else if !up && was {
		g.log.Warn("inbox subscription lost; messages published meanwhile are dropped")
		g.metrics.pubsubDrops.Add(1)
	}
}
