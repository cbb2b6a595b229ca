package session

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Prefix starts every key and channel name. Default "chat:". It must not
	// contain braces (they are Cluster hash tags).
	Prefix string
	// Logger receives the few things the store logs itself (pub/sub reconnects).
	// Default slog.Default().
	Logger *slog.Logger
	// GroupLogSize is how many messages a recoverable group's log keeps
	// (recover.go). Default DefaultGroupLogSize (1000).
	GroupLogSize int
	// GroupLogAge is how long a recoverable group's log keeps a message.
	// Default DefaultGroupLogAge (1h).
	GroupLogAge time.Duration
}

// Store is the Redis model of chatgate and its push API: the Go equivalent of
// GatewayWorker's GatewayClient. It is safe for concurrent use.
//
// Delivery is at-most-once over Redis pub/sub. Ordering and read-your-writes
// hold per caller: every operation on a client goes to the inbox channel of the
// gateway that holds it, and that gateway applies its inbox in order, so a
// caller that returns from JoinGroup and then calls SendToGroup reaches the new
// member.
type Store struct {
	rdb     redis.UniversalClient
	k       keys
	sharded bool // Redis Cluster: inboxes use SPUBLISH/SSUBSCRIBE
	log     *slog.Logger
	owned   bool          // Open created rdb; Close closes it
	logSize int           // Options.GroupLogSize
	logAge  time.Duration // Options.GroupLogAge
}

// New returns a Store over rdb. The client should be created with
// ContextTimeoutEnabled so that ctx deadlines reach the socket. New does no
// I/O; call Ping to check the connection. It panics on an invalid prefix,
// which is a programming error (cmd validates user input first).
func New(rdb redis.UniversalClient, opts *Options) *Store {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if err := validPrefix(o.Prefix); err != nil {
		panic(err)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.GroupLogSize <= 0 {
		o.GroupLogSize = DefaultGroupLogSize
	}
	if o.GroupLogAge <= 0 {
		o.GroupLogAge = DefaultGroupLogAge
	}
	_, sharded := rdb.(*redis.ClusterClient)
	return &Store{rdb: rdb, k: keys{o.Prefix}, sharded: sharded, log: o.Logger, logSize: o.GroupLogSize, logAge: o.GroupLogAge}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return wrap("ping", err)
	}
	return nil
}

// Redis returns the underlying client, for components (metrics, fiber storage)
// that share the connection pool. Build no key names with it: use the Store.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// publish sends an envelope to one gateway's inbox.
func (s *Store) publish(ctx context.Context, gw string, msg []byte) error {
	ch := string(s.k.inbox(gw))
	if s.sharded {
		return s.rdb.SPublish(ctx, ch, msg).Err()
	}
	return s.rdb.Publish(ctx, ch, msg).Err()
}

// publishPipe queues a publish to gw's inbox on a pipeline.
func (s *Store) publishPipe(ctx context.Context, p redis.Pipeliner, gw string, msg []byte) {
	ch := string(s.k.inbox(gw))
	if s.sharded {
		p.SPublish(ctx, ch, msg)
		return
	}
	p.Publish(ctx, ch, msg)
}
