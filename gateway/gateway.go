package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/session"
)

// Registry is what a gateway needs from session: registering and forgetting
// its clients, its inbox, its liveness and the events stream. session.Store
// implements it (its Registry part and Events.AppendEvent); tests wrap or
// fake it.
type Registry interface {
	RegisterClient(ctx context.Context, c *session.ClientState) error
	RegisterClients(ctx context.Context, cs []*session.ClientState) error
	ForgetClient(ctx context.Context, c *session.ClientState) (*session.ClientState, error)
	UndoStray(ctx context.Context, gw string, env *session.Envelope, cid string) error
	MarkAlive(ctx context.Context, gw string, ttl time.Duration) (bool, error)
	RemoveGateway(ctx context.Context, gw string) error
	Listen(ctx context.Context, gw string, h session.InboxHandler, opts *session.ListenOptions) error
	AppendEvents(ctx context.Context, es []*session.Event, maxLen int64) error
	ForgetStaleClients(ctx context.Context, gw string, held func(cid string) bool, opts *session.ReaperOptions) (int, error)
}

var _ Registry = (*session.Store)(nil)

// Recovery is what the gateway reads to recover recoverable groups: a
// group's log since a client's position, and whether the client is a member
// (session.Store.Recovery). See Options.Recovery.
type Recovery interface {
	GroupLogSince(ctx context.Context, gid, epoch string, since int64) (*session.GroupLog, error)
	IsMember(ctx context.Context, gid, cid string) (bool, error)
}

var _ Recovery = (*session.Recovery)(nil)

// Gateway is a WebSocket server holding client connections. It is an
// http.Handler: mount it where clients connect, and call Run for its
// lifetime. It is safe for concurrent use.
type Gateway struct {
	store    Registry
	opts     Options
	id       string
	log      *slog.Logger
	idx      *index
	pingData []byte
	events   *events   // the events stream writer (events.go)
	nb       *nbEngine // Options.Engine "nbio"; nil for "std"

	epoch         time.Time // the frame budget's clock starts here
	frames, bytes rate      // per-connection frame budget (budget.go)

	wg          sync.WaitGroup // writers, closers, pings, stray undos
	inflight    sync.WaitGroup // ServeHTTP calls and readers; Add only through admit or while counted (drain.go)
	stopAt      atomic.Int64   // unix nanos by which per-connection Redis calls must end; 0 until the drain
	running     atomic.Bool
	draining    atomic.Bool
	subUp       atomic.Bool
	everUp      atomic.Bool
	aliveErr    atomic.Pointer[error]
	perIPLogged atomic.Int64 // unix nanos of the last MaxConnsPerIP warning
	stale       atomic.Bool  // a closed client could not be forgotten in Redis: clean up when Redis answers
	resync      chan struct{}

	logs  Recovery // Options.Recovery; nil: no recovery (recover.go)
	marks logMarks // last (epoch, seq) delivered per recoverable group

	metrics counters
}

// New returns a gateway over store. It does no I/O; Run starts it.
func New(store Registry, opts *Options) (*Gateway, error) {
	o := opts.withDefaults()
	if o.ID == "" {
		o.ID = session.NewGatewayID()
	}
	if err := session.ValidGatewayID(o.ID); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if o.Engine != EngineStd && o.Engine != EngineNbio {
		return nil, fmt.Errorf("gateway: engine %q: want %q or %q", o.Engine, EngineStd, EngineNbio)
	}
	if o.CompactClientIDs && !session.IsCompactGatewayID(o.ID) {
		return nil, fmt.Errorf("gateway: compact client ids need a compact gateway id (12 hex digits), not %q", o.ID)
	}
	g := &Gateway{
		store:  store,
		opts:   o,
		id:     o.ID,
		log:    o.Logger.With("gateway", o.ID),
		idx:    newIndex(),
		events: newEvents(o.EventsQueue),
		resync: make(chan struct{}, 1),
		epoch:  time.Now(),
		frames: newRate(o.FrameRate, o.FrameBurst),
		bytes:  newRate(o.ByteRate, o.ByteBurst),
		logs:   o.Recovery,
	}
	if o.Engine == EngineNbio {
		g.nb = newNBEngine(g)
	}
	if o.PingData != "" {
		g.pingData = textFrame(o.PingData)
	}
	noErr := error(nil)
	g.aliveErr.Store(&noErr)
	return g, nil
}

// ID returns the gateway id.
func (g *Gateway) ID() string { return g.id }

// Engine returns the engine serving the connections (Options.Engine).
func (g *Gateway) Engine() string { return g.opts.Engine }

// Run subscribes to the gateway's inbox, keeps its liveness key fresh and
// heartbeats clients until ctx ends; then it drains: refuses new clients,
// closes the connected ones with 1012 (service restart), removes the
// gateway's state from Redis, and returns. It returns once every goroutine
// of the gateway has ended: at most about DrainTimeout plus two RedisTimeouts
// after ctx ends (drain.go).
func (g *Gateway) Run(ctx context.Context) error {
	if !g.running.CompareAndSwap(false, true) {
		return errors.New("gateway: Run called twice")
	}
	if g.nb != nil {
		if err := g.nb.start(); err != nil {
			return err
		}
		defer g.nb.stop() // after the drain: only refused connections are left
	}
	// A previous process with this id (fixed id, or a GatewayWorker-style
	// gateway restarted at the same address) may have died holding clients
	// that no reaper will see, since this gateway is alive again: forget them
	// before serving. On failure the liveness loop retries.
	g.forgetStale(g.idx.has, session.ReasonRestarted)
	loopCtx, stop := context.WithCancel(context.Background())
	var loops sync.WaitGroup
	start := func(f func(context.Context)) {
		loops.Add(1)
		go func() { defer loops.Done(); f(loopCtx) }()
	}
	start(g.aliveLoop)
	start(func(ctx context.Context) {
		_ = g.store.Listen(ctx, g.id, g, &session.ListenOptions{MaxBackoff: g.opts.ResubscribeBackoff})
	})
	start(g.sweepLoop)
	go g.eventsLoop()
	g.log.Info("gateway running")
	<-ctx.Done()
	// The loops run on while clients drain: the liveness key must stay fresh
	// and pushes still reach clients until they are closed. They stop before
	// the gateway unregisters, so that no refresh recreates its keys.
	g.drainClients()
	stop()
	loops.Wait()
	g.wg.Wait()
	// Every connection is forgotten: no event can be queued any more.
	g.stopEvents()
	g.unregister()
	g.log.Info("gateway stopped")
	return nil
}

// Ready reports whether the gateway can serve: not draining, inbox
// subscribed, liveness key written.
func (g *Gateway) Ready() error {
	switch {
	case g.draining.Load():
		return errors.New("draining")
	case !g.subUp.Load():
		return errors.New("inbox subscription down")
	}
	if err := *g.aliveErr.Load(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Connections returns the number of clients connected to this gateway.
func (g *Gateway) Connections() int { return g.idx.len() }

// goTracked runs f on a goroutine the gateway waits for on shutdown.
func (g *Gateway) goTracked(f func()) {
	g.wg.Add(1)
	go func() { defer g.wg.Done(); f() }()
}

func (g *Gateway) redisCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), g.opts.RedisTimeout)
}

// connRedisCtx bounds a Redis call made for one connection (register,
// forget, events) by connDeadline(RedisTimeout). A call cut short by the
// drain leaves its cleanup to the drain (forgetStale).
func (g *Gateway) connRedisCtx() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), g.connDeadline(g.opts.RedisTimeout))
}

// connDeadline is the deadline of work done for one connection: d from now,
// and once the gateway drains, no later than the drain's deadline, so that
// the drain can wait for all of it.
func (g *Gateway) connDeadline(d time.Duration) time.Time {
	t := time.Now().Add(d)
	if at := g.stopAt.Load(); at != 0 && at < t.UnixNano() {
		t = time.Unix(0, at)
	}
	return t
}

// aliveLoop refreshes the liveness key. Finding it gone means Redis lost its
// data (restart without persistence, FLUSHALL): re-assert every connection.
func (g *Gateway) aliveLoop(ctx context.Context) {
	every := g.opts.AliveTTL / 3
	first := true
	t := time.NewTicker(every)
	defer t.Stop()
	for ctx.Err() == nil { // a select with a tick and ctx both ready may pick the tick
		rctx, cancel := g.redisCtx()
		existed, err := g.store.MarkAlive(rctx, g.id, g.opts.AliveTTL)
		cancel()
		g.aliveErr.Store(&err)
		if err == nil && g.stale.Swap(false) {
			g.forgetStale(g.idx.has, session.ReasonStale)
		}
		if err != nil {
			g.log.Warn("refresh liveness key", "err", err)
		} else if !existed && !first {
			g.log.Warn("liveness key was gone: Redis lost data; re-asserting connections")
			g.requestResync()
		}
		if err == nil {
			first = false
		}
		select {
		case <-ctx.Done():
			return
		case <-g.resync:
			g.resyncNow()
		case <-t.C:
		}
	}
}

// forgetStale forgets the clients Redis lists for this gateway that held
// says it no longer holds: closes whose cleanup failed while Redis was
// unreachable, or clients of a previous process with this id. reason goes
// into their close events. It reports whether it succeeded (else it
// retries later).
func (g *Gateway) forgetStale(held func(string) bool, reason string) bool {
	ctx, cancel := g.redisCtx()
	defer cancel()
	n, err := g.store.ForgetStaleClients(ctx, g.id, held, &session.ReaperOptions{
		Events: g.opts.Events, EventsMaxLen: g.opts.EventsMaxLen, Logger: g.log, StaleReason: reason,
	})
	if err != nil {
		g.stale.Store(true)
		g.log.Warn("forget stale clients; will retry", "err", err)
		return false
	}
	if n > 0 {
		g.log.Info("forgot stale clients", "clients", n, "reason", reason)
	}
	return true
}

func (g *Gateway) requestResync() {
	select {
	case g.resync <- struct{}{}:
	default:
	}
}

// resyncNow writes every live connection's local state back to Redis.
func (g *Gateway) resyncNow() {
	states := g.idx.states()
	ctx, cancel := context.WithTimeout(context.Background(), g.opts.RedisTimeout+time.Duration(len(states))*time.Millisecond)
	defer cancel()
	if err := g.store.RegisterClients(ctx, states); err != nil {
		g.log.Warn("re-assert connections failed; will retry", "err", err)
		g.requestResync()
		return
	}
	g.metrics.resyncs.Add(1)
	g.log.Info("re-asserted connections", "count", len(states))
}

// closeAsync closes c with a close frame on a tracked goroutine: a close
// handshake can take seconds and must never block the inbox or a writer.
// why is the cause recorded for metrics and the close event (the first one
// set wins).
func (g *Gateway) closeAsync(c *conn, why cause, code websocketStatus, reason string) {
	c.setCause(why)
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	g.onSocket(c, func() { _ = c.t.close(code, reason) })
}

// onSocket runs f, a close or ping on c's socket: on a tracked goroutine
// when the engine's close and ping wait for the client, else at once (nbio:
// a drain or a heartbeat tick starts no goroutine per connection).
func (g *Gateway) onSocket(c *conn, f func()) {
	if c.t.waits() {
		g.goTracked(f)
		return
	}
	f()
}

var _ http.Handler = (*Gateway)(nil)
