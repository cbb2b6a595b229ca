package session

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// Observer receives one observation per Redis round trip the Store makes:
// cmd is the lower-case command name ("hset", "evalsha", "publish"), or
// "pipeline" for a pipeline or transaction, or "dial" for a new connection;
// d is its duration; err is nil on success. A missing key (redis.Nil) and
// NOSCRIPT (the script is then sent with EVAL) are successes. Observer is called on the caller's goroutine: keep it cheap and
// never block in it.
type Observer func(cmd string, d time.Duration, err error)

// Instrument makes the Store report every command, pipeline and dial to
// observe (metrics: latency and errors per command). Call it once, right
// after Open or New and before the Store is in use; it cannot be undone.
// Pub/sub reads on a subscription connection are not commands and are not
// reported (the gateway counts subscription losses itself).
func (s *Store) Instrument(observe Observer) {
	if observe == nil {
		return
	}
	s.rdb.AddHook(instrumentHook{observe: observe})
}

// instrumentHook is the go-redis hook behind Instrument.
type instrumentHook struct{ observe Observer }

var _ redis.Hook = instrumentHook{}

func (h instrumentHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		start := time.Now()
		c, err := next(ctx, network, addr)
		h.observe("dial", time.Since(start), err)
		return c, err
	}
}

func (h instrumentHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if handshake[cmd.Name()] {
			return next(ctx, cmd)
		}
		start := time.Now()
		err := next(ctx, cmd)
		h.observe(cmd.Name(), time.Since(start), realError(err))
		return err
	}
}

func (h instrumentHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if isHandshake(cmds) {
			return next(ctx, cmds)
		}
		start := time.Now()
		err := next(ctx, cmds)
		h.observe("pipeline", time.Since(start), realError(err))
		return err
	}
}

// handshake names the commands go-redis sends while it sets up a connection.
// They pass through hooks too, and some fail by design on older servers
// (CLIENT SETINFO before Redis 7.2, CLIENT MAINT_NOTIFICATIONS before 8), so
// reporting them would show errors on every new connection. chatgate issues
// none of them itself; a failed handshake fails the caller's command, which
// is reported.
var handshake = map[string]bool{"hello": true, "auth": true, "client": true, "select": true, "readonly": true}

func isHandshake(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if !handshake[c.Name()] {
			return false
		}
	}
	return len(cmds) > 0
}

// realError hides answers that are not failures: redis.Nil ("no such key")
// and NOSCRIPT, on which go-redis's Script.Run loads the script with EVAL
// (once per script after every Redis restart).
func realError(err error) error {
	if errors.Is(err, redis.Nil) || redis.HasErrorPrefix(err, "NOSCRIPT") {
		return nil
	}
	return err
}
