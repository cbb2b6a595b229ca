package session

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// InboxHandler receives what arrives on a gateway's channels (its inbox and
// the broadcast channel).
type InboxHandler interface {
	// HandleEnvelope is called for each valid envelope, in channel order. On
	// Cluster the two channels are read by two goroutines, so calls for
	// different channels may be concurrent.
	HandleEnvelope(env *Envelope)
	// SubscriptionChanged reports the subscription going up (first subscribe,
	// and again after every reconnect) or down (connection lost, idle ping
	// failed). Messages published while it is down are lost.
	SubscriptionChanged(up bool)
}

// ListenOptions tunes Listen. The zero value is ready to use.
type ListenOptions struct {
	// IdlePing is how long a subscription may stay silent before Listen pings
	// it to prove it is alive. Default 5s.
	IdlePing time.Duration
	// OnBadEnvelope is called for a message that does not decode; default: log it.
	OnBadEnvelope func(err error)
	// MaxBackoff caps the wait between resubscribe attempts while Redis is
	// unreachable, so that the subscription is back within about this long
	// of Redis answering again. Default 500ms.
	MaxBackoff time.Duration
}

// Listen subscribes to gateway gw's inbox and the broadcast channel and
// calls h for each envelope until ctx ends. It reconnects with backoff by
// itself, and returns only ctx's error.
func (s *Store) Listen(ctx context.Context, gw string, h InboxHandler, opts *ListenOptions) error {
	var o ListenOptions
	if opts != nil {
		o = *opts
	}
	if o.IdlePing <= 0 {
		o.IdlePing = 5 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 500 * time.Millisecond
	}
	if o.OnBadEnvelope == nil {
		o.OnBadEnvelope = func(err error) { s.log.Warn("dropping bad envelope", "gateway", gw, "err", err) }
	}
	inbox, all := string(s.k.inbox(gw)), string(s.k.broadcast())
	if !s.sharded {
		ps := s.rdb.Subscribe(ctx, inbox, all)
		return s.receive(ctx, ps, 2, h, &o)
	}
	// Cluster: the inbox is a shard channel owned by one node; the broadcast
	// channel is classic pub/sub. They need two connections, so two readers,
	// and the subscription is up only when both are.
	var (
		mu  sync.Mutex
		ups [2]bool
		wg  sync.WaitGroup
	)
	both := func(i int) InboxHandler {
		return handlerFunc{h.HandleEnvelope, func(up bool) {
			mu.Lock()
			defer mu.Unlock()
			was := ups[0] && ups[1]
			ups[i] = up
			if now := ups[0] && ups[1]; now != was {
				h.SubscriptionChanged(now)
			}
		}}
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.receive(ctx, s.rdb.SSubscribe(ctx, inbox), 1, both(0), &o) }()
	go func() { defer wg.Done(); _ = s.receive(ctx, s.rdb.Subscribe(ctx, all), 1, both(1), &o) }()
	wg.Wait()
	return ctx.Err()
}

type handlerFunc struct {
	env func(*Envelope)
	sub func(bool)
}

func (f handlerFunc) HandleEnvelope(e *Envelope)  { f.env(e) }
func (f handlerFunc) SubscriptionChanged(up bool) { f.sub(up) }

// receive reads one PubSub until ctx ends. want is the number of channels it
// subscribes to: the subscription is up once that many confirmations arrived.
func (s *Store) receive(ctx context.Context, ps *redis.PubSub, want int, h InboxHandler, o *ListenOptions) error {
	// A blocked read does not watch ctx (only deadlines reach the socket):
	// closing the PubSub is what ends it promptly.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	defer ps.Close()
	var (
		up        bool
		confirmed int
		backoff   time.Duration
	)
	setUp := func(v bool) {
		if v != up {
			up = v
			h.SubscriptionChanged(v)
		}
	}
	for {
		msg, err := ps.ReceiveTimeout(ctx, o.IdlePing)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && up {
				// Idle: prove the subscription is alive. The pong arrives
				// through ReceiveTimeout; a failed ping marks it down.
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			setUp(false)
			confirmed = 0
			backoff = min(max(2*backoff, 50*time.Millisecond), o.MaxBackoff)
			s.log.Warn("pub/sub receive failed; reconnecting", "err", err, "backoff", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			continue
		}
		backoff = 0
		switch m := msg.(type) {
		case *redis.Message:
			env, err := DecodeEnvelope([]byte(m.Payload))
			if err != nil {
				o.OnBadEnvelope(err)
				continue
			}
			h.HandleEnvelope(env)
		case *redis.Subscription:
			if m.Kind == "subscribe" || m.Kind == "ssubscribe" {
				confirmed++
				if confirmed >= want {
					setUp(true)
				}
			}
		case *redis.Pong:
		}
	}
}
