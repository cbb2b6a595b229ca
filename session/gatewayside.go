package session

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The methods in this file are called by gateways about the connections they
// hold; apps use the push API instead.

// ClientState is what a gateway knows about one of its connections. A
// gateway's own copy is the source of truth for its live connections: it is
// written on connect and re-asserted after Redis loses data.
type ClientState struct {
	ID          string
	Gateway     string
	IP          string
	ConnectedAt time.Time
	Uid         string   // "" when unbound
	Groups      []string // groups the client is in
	Session     Session  // app session fields
}

// RegisterClient writes a connection's state to Redis in one round trip:
// its hash, its gateway's client set, and, when set, its uid binding, groups
// and session (used at connect and to re-assert state after data loss).
func (s *Registry) RegisterClient(ctx context.Context, c *ClientState) error {
	pipe := s.rdb.Pipeline()
	s.registerPipe(ctx, pipe, c)
	_, err := pipe.Exec(ctx)
	return wrap("register client", err)
}

// RegisterClients is RegisterClient for many connections, pipelined in batches.
func (s *Registry) RegisterClients(ctx context.Context, cs []*ClientState) error {
	const batch = 200
	for start := 0; start < len(cs); start += batch {
		pipe := s.rdb.Pipeline()
		for _, c := range cs[start:min(start+batch, len(cs))] {
			s.registerPipe(ctx, pipe, c)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return wrap("register clients", err)
		}
	}
	return nil
}

func (s *core) registerPipe(ctx context.Context, pipe redis.Pipeliner, c *ClientState) {
	fields := make([]any, 0, 8+2*len(c.Session))
	fields = append(fields, fieldGateway, c.Gateway, fieldIP, c.IP, fieldAt, strconv.FormatInt(c.ConnectedAt.UnixMilli(), 10))
	if c.Uid != "" {
		fields = append(fields, fieldUid, c.Uid)
	}
	for f, v := range c.Session {
		fields = append(fields, f, v)
	}
	pipe.HSet(ctx, string(s.k.client(c.ID)), fields...)
	pipe.SAdd(ctx, string(s.k.gwClients(c.Gateway)), c.ID)
	if c.Uid != "" {
		pipe.SAdd(ctx, string(s.k.uid(c.Uid)), c.ID)
		pipe.SAdd(ctx, string(s.k.uids()), c.Uid)
	}
	for _, g := range c.Groups {
		pipe.SAdd(ctx, string(s.k.clientGroups(c.ID)), g)
		scriptGroupJoin.Eval(ctx, pipe, []string{string(s.k.group(g)), string(s.k.groupGateways(g))}, c.ID, c.Gateway)
		pipe.SAdd(ctx, string(s.k.groups()), g)
	}
}

// ForgetClient removes every trace of a closed connection from Redis: its
// hash and groups set, its place in each group and uid set, and its gateway's
// client set. c supplies the gateway's local view; what Redis holds is undone
// too, so a join or bind that raced the close leaves nothing behind. It
// returns the state Redis held (uid, groups and app session), which the caller
// may report (close events, room notices).
func (s *Registry) ForgetClient(ctx context.Context, c *ClientState) (*ClientState, error) {
	return s.forgetClient(ctx, c)
}

// forgetClient is ForgetClient, shared with the reaper.
func (s *core) forgetClient(ctx context.Context, c *ClientState) (*ClientState, error) {
	const op = "forget client"
	res, err := scriptClientForget.Run(ctx, s.rdb, []string{string(s.k.client(c.ID)), string(s.k.clientGroups(c.ID))}).Slice()
	if err != nil {
		return nil, wrap(op, err)
	}
	held := &ClientState{ID: c.ID, Gateway: c.Gateway, Groups: strings2(res, 1)}
	hash := strings2(res, 0)
	sess := make(Session)
	for i := 0; i+1 < len(hash); i += 2 {
		switch f, v := hash[i], hash[i+1]; f {
		case fieldUid:
			held.Uid = v
		case fieldIP:
			held.IP = v
		case fieldAt:
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
				held.ConnectedAt = time.UnixMilli(ms)
			}
		case fieldGateway:
		default:
			sess[f] = v
		}
	}
	held.Session = sess
	groups := union(held.Groups, c.Groups)
	uids := union(nonEmpty(held.Uid), nonEmpty(c.Uid))
	if err := s.removeMemberships(ctx, c.ID, c.Gateway, groups, uids, true); err != nil {
		return held, wrap(op, err)
	}
	return held, nil
}

// removeMemberships takes cid out of groups and uid sets (and, when fromGateway, out of
// its gateway's client set), then drops emptied groups and uids from their indexes.
func (s *core) removeMemberships(ctx context.Context, cid, gw string, groups, uids []string, fromGateway bool) error {
	pipe := s.rdb.Pipeline()
	gLeft := make([]*redis.Cmd, len(groups))
	for i, g := range groups {
		pipe.SRem(ctx, string(s.k.clientGroups(cid)), g)
		gLeft[i] = scriptGroupLeave.Eval(ctx, pipe, []string{string(s.k.group(g)), string(s.k.groupGateways(g))}, cid, gw)
	}
	uLeft := make([]*redis.Cmd, len(uids))
	for i, u := range uids {
		uLeft[i] = scriptUidRemove.Eval(ctx, pipe, []string{string(s.k.uid(u))}, cid)
	}
	if fromGateway {
		pipe.SRem(ctx, string(s.k.gwClients(gw)), cid)
	}
	if len(groups)+len(uids) == 0 && !fromGateway {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	for i, c := range gLeft {
		if n, err := c.Int(); err == nil && n == 0 {
			if err := s.dropIfEmpty(ctx, s.k.groups(), groups[i], s.k.group(groups[i])); err != nil {
				return err
			}
		}
	}
	for i, c := range uLeft {
		if n, err := c.Int(); err == nil && n == 0 {
			if err := s.dropIfEmpty(ctx, s.k.uids(), uids[i], s.k.uid(uids[i])); err != nil {
				return err
			}
		}
	}
	return nil
}

// UndoStray undoes in Redis what a join or bind envelope recorded for a client
// its gateway no longer holds (the client closed while the operation was in
// flight). Gateways call it for such envelopes; other ops need no undo.
func (s *Registry) UndoStray(ctx context.Context, gw string, env *Envelope, cid string) error {
	switch env.Op {
	case OpJoin:
		return wrap("undo stray join", s.removeMemberships(ctx, cid, gw, env.Groups, nil, false))
	case OpBind:
		return wrap("undo stray bind", s.removeMemberships(ctx, cid, gw, nil, env.Uids, false))
	}
	return nil
}

// MarkAlive refreshes a gateway's liveness key for ttl and registers the
// gateway. It reports whether the key was still there: false on a gateway's
// first call, or after Redis lost its data (restart without persistence,
// FLUSHALL), when the gateway must re-assert its connections.
func (s *Registry) MarkAlive(ctx context.Context, gw string, ttl time.Duration) (existed bool, err error) {
	pipe := s.rdb.Pipeline()
	prev := pipe.SetArgs(ctx, string(s.k.gwAlive(gw)), strconv.FormatInt(time.Now().UnixMilli(), 10), redis.SetArgs{TTL: ttl, Get: true})
	pipe.SAdd(ctx, string(s.k.gateways()), gw)
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return false, wrap("mark alive", err)
	}
	return prev.Err() == nil, nil
}

// RemoveGateway deletes a gateway's own keys (client set, liveness key) and
// unregisters it. Call it after forgetting its clients, on shutdown.
func (s *Registry) RemoveGateway(ctx context.Context, gw string) error {
	return s.removeGateway(ctx, gw)
}

// removeGateway is RemoveGateway, shared with the reaper.
func (s *core) removeGateway(ctx context.Context, gw string) error {
	pipe := s.rdb.Pipeline()
	pipe.Del(ctx, string(s.k.gwClients(gw)), string(s.k.gwAlive(gw)))
	pipe.SRem(ctx, string(s.k.gateways()), gw)
	_, err := pipe.Exec(ctx)
	return wrap(fmt.Sprintf("remove gateway %q", gw), err)
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// union returns a ∪ b without duplicates, keeping order.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	out := append([]string(nil), a...)
	for _, v := range b {
		dup := false
		for _, w := range out {
			if v == w {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}
