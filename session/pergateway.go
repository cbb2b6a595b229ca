package session

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Per-gateway operations: what one gateway holds. They serve callers that
// answer for one gateway at a time, like the GatewayWorker-compatible inner
// listener: a GatewayClient asks every gateway and adds the answers up
// (docs/gatewayworker.md). A client id names its gateway, so a set of client
// ids is split by gateway without reading anything else.

// OnGateway restricts a send to the clients held by gateway gw: the envelope
// goes to gw's inbox only, and gw resolves the targets among its own clients
// (with SendToAll: all of them). It costs one PUBLISH whatever the targets.
// Read-your-writes holds as for every send: a membership change of gw's
// clients that returned went through the same inbox first. A send to a group
// with a recovery log bypasses the log: a client that recovers the group
// later is not replayed it.
func OnGateway(gw string) SendOption {
	return func(o *sendOptions) { o.gateway = gw }
}

var (
	scriptGroupDropGateway = mustScript("group_drop_gateway")
	scriptSessionSwap      = mustScript("session_swap")
)

// OwnedBy reports whether client id cid names gateway gw.
func OwnedBy(cid, gw string) bool {
	g, ok := GatewayOf(cid)
	return ok && g == gw
}

// UngroupOnGateway removes from group gid the members that gateway gw
// holds, and tells gw; members on other gateways stay (GatewayWorker's
// ungroup, which each gateway applies to its own members). Two round trips,
// plus two or three when the group emptied.
func (s *Push) UngroupOnGateway(ctx context.Context, gid, gw string) error {
	const op = "ungroup on gateway"
	if err := validID(gid); err != nil {
		return wrap(op, err)
	}
	if err := validGatewayID(gw); err != nil {
		return wrap(op, err)
	}
	res, err := scriptGroupDropGateway.Run(ctx, s.rdb, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}, gw).Slice()
	if err != nil {
		return wrap(op, err)
	}
	env := Envelope{Op: OpUngroup, Groups: []string{gid}}
	pipe := s.rdb.Pipeline()
	for _, cid := range strings2(res, 0) {
		pipe.SRem(ctx, string(s.k.clientGroups(cid)), gid)
	}
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if left, _ := res[1].(int64); left == 0 {
		return wrap(op, s.dropIfEmpty(ctx, s.k.groups(), gid, s.k.group(gid)))
	}
	return nil
}

// ClientCountOnGateway returns the number of live connections gateway gw holds.
func (s *Push) ClientCountOnGateway(ctx context.Context, gw string) (int64, error) {
	n, err := s.rdb.SCard(ctx, string(s.k.gwClients(gw))).Result()
	return n, wrap("client count on gateway", err)
}

// ClientIDsOnGateway returns the ids of the live connections gateway gw holds.
func (s *Push) ClientIDsOnGateway(ctx context.Context, gw string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, string(s.k.gwClients(gw))).Result()
	return ids, wrap("client ids on gateway", err)
}

// GroupCountsOnGateway returns, for each of gids, how many of its members
// gateway gw holds, in one round trip (from the groups' routing hashes).
func (s *Push) GroupCountsOnGateway(ctx context.Context, gw string, gids []string) ([]int64, error) {
	const op = "group counts on gateway"
	for _, gid := range gids {
		if err := validID(gid); err != nil {
			return nil, wrap(op, err)
		}
	}
	out := make([]int64, len(gids))
	if len(gids) == 0 {
		return out, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(gids))
	for i, gid := range gids {
		cmds[i] = pipe.HGet(ctx, string(s.k.groupGateways(gid)), gw)
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, wrap(op, err)
	}
	for i, c := range cmds {
		if n, err := strconv.ParseInt(c.Val(), 10, 64); err == nil && n > 0 {
			out[i] = n
		}
	}
	return out, nil
}

// GroupIDsOnGateway returns the groups with at least one member on gateway
// gw. It reads every group's routing hash (pipelined): its cost grows with
// the number of groups.
func (s *Push) GroupIDsOnGateway(ctx context.Context, gw string) ([]string, error) {
	ids, err := s.groupsHeldBy(ctx, gw)
	return ids, wrap("group ids on gateway", err)
}

// SessionState is a client's app session as stored: its fields, and the
// serialized copy a GatewayWorker client wrote beside them (the `_php`
// field, docs/gatewayworker.md), which session treats as opaque bytes.
type SessionState struct {
	Fields     Session
	Serialized string // "" when none
}

// ClientRecord is what Redis holds about one live client.
type ClientRecord struct {
	ID      string
	Uid     string   // "" when unbound
	Groups  []string // nil unless asked for
	Session SessionState
}

// ClientRecords reads the given clients in pipelined batches. The result is
// aligned with cids: nil for a client that does not exist. Groups are read
// only when withGroups is set.
func (s *Push) ClientRecords(ctx context.Context, cids []string, withGroups bool) ([]*ClientRecord, error) {
	out := make([]*ClientRecord, len(cids))
	for start := 0; start < len(cids); start += readBatch {
		batch := cids[start:min(start+readBatch, len(cids))]
		pipe := s.rdb.Pipeline()
		hashes := make([]*redis.MapStringStringCmd, len(batch))
		groups := make([]*redis.StringSliceCmd, len(batch))
		for i, cid := range batch {
			hashes[i] = pipe.HGetAll(ctx, string(s.k.client(cid)))
			if withGroups {
				groups[i] = pipe.SMembers(ctx, string(s.k.clientGroups(cid)))
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, wrap("client records", err)
		}
		for i, h := range hashes {
			all := h.Val()
			if len(all) == 0 {
				continue
			}
			r := &ClientRecord{ID: batch[i], Uid: all[fieldUid], Session: SessionState{Serialized: all[fieldSerialized]}}
			r.Session.Fields = appFields(all)
			if withGroups {
				r.Groups = groups[i].Val()
			}
			out[start+i] = r
		}
	}
	return out, nil
}

// ReplaceSessionIf replaces the session of a live client with next if it is
// still prev (compare-and-swap, atomic in Redis), then tells the client's
// gateway. It returns false when the session changed since prev was read
// (read it again and retry), and ErrNoClient when the client is gone. Field
// names of next must not start with '_'. Two round trips.
func (s *Push) ReplaceSessionIf(ctx context.Context, cid string, prev, next SessionState) (bool, error) {
	const op = "replace session"
	gw, err := gatewayOf(cid)
	if err != nil {
		return false, wrap(op, err)
	}
	newArgs, err := validSession(next.Fields)
	if err != nil {
		return false, wrap(op, err)
	}
	args := make([]any, 0, 4+2*len(prev.Fields)+len(newArgs))
	args = append(args, prev.Serialized, len(prev.Fields))
	for f, v := range prev.Fields {
		args = append(args, f, v)
	}
	args = append(args, next.Serialized)
	args = append(args, newArgs...)
	n, err := scriptSessionSwap.Run(ctx, s.rdb, []string{string(s.k.client(cid))}, args...).Int()
	switch {
	case err != nil:
		return false, wrap(op, err)
	case n == 0:
		return false, wrap(op, fmt.Errorf("%w: %q", ErrNoClient, cid))
	case n < 0:
		return false, nil
	}
	// The gateway keeps a copy (with the serialized form) to re-assert it
	// after Redis loses data.
	local := make(Session, len(next.Fields)+1)
	for f, v := range next.Fields {
		local[f] = v
	}
	if next.Serialized != "" {
		local[fieldSerialized] = next.Serialized
	}
	env := Envelope{Op: OpSetSession, Clients: []string{cid}, Session: local}
	return true, wrap(op, s.publish(ctx, gw, env.encode()))
}
