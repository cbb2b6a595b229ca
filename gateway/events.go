package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/session"
)

// events is the gateway's one writer of the events stream: connections queue
// their events, and the writer appends them in queue order, many per
// pipelined round trip. Run starts it and, once every connection has been
// forgotten, closes the queue and waits until everything queued is written.
type events struct {
	q      chan *session.Event
	done   chan struct{}
	stopBy atomic.Int64 // unix nanos: the final flush's deadline, 0 until stop
}

func newEvents(queue int) *events {
	return &events{q: make(chan *session.Event, queue), done: make(chan struct{})}
}

// event queues e for the events stream. It waits for room at most until the
// per-connection Redis deadline; past it the event is dropped and logged.
func (g *Gateway) event(e *session.Event) {
	if !g.opts.Events {
		return
	}
	e.Gateway = g.id
	select {
	case g.events.q <- e:
		return
	default:
	}
	t := time.NewTimer(time.Until(g.connDeadline(g.opts.RedisTimeout)))
	defer t.Stop()
	select {
	case g.events.q <- e:
	case <-t.C:
		g.log.Warn("append event: queue full, event dropped", "type", e.Type, "client", e.ClientID)
	}
}

// eventsLoop writes queued events until the queue is closed and empty.
func (g *Gateway) eventsLoop() {
	defer close(g.events.done)
	batch := make([]*session.Event, 0, g.opts.EventsBatch)
	for e := range g.events.q {
		batch = append(batch[:0], e)
	fill:
		for len(batch) < g.opts.EventsBatch {
			select {
			case e, ok := <-g.events.q:
				if !ok {
					break fill
				}
				batch = append(batch, e)
			default:
				break fill
			}
		}
		g.writeEvents(batch)
		clear(batch) // let the events be collected
	}
}

func (g *Gateway) writeEvents(batch []*session.Event) {
	d := time.Now().Add(g.opts.RedisTimeout)
	if by := g.events.stopBy.Load(); by != 0 && by < d.UnixNano() {
		d = time.Unix(0, by)
	}
	ctx, cancel := context.WithDeadline(context.Background(), d)
	defer cancel()
	if err := g.store.AppendEvents(ctx, batch, g.opts.EventsMaxLen); err != nil {
		g.log.Warn("append events", "events", len(batch), "first_type", batch[0].Type, "first_client", batch[0].ClientID, "err", err)
	}
}

// stopEvents closes the queue once no connection can queue more, and waits
// until the writer has written what was queued, within one RedisTimeout.
func (g *Gateway) stopEvents() {
	g.events.stopBy.Store(time.Now().Add(g.opts.RedisTimeout).UnixNano())
	close(g.events.q)
	<-g.events.done
}
