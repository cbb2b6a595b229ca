package session

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Queries read Redis directly and return complete results (SMEMBERS, never a
// truncated SCAN page). Pipelined reads are sent in batches of this size.
const readBatch = 1000

// IsOnline reports whether a client id names a live connection.
func (s *Push) IsOnline(ctx context.Context, cid string) (bool, error) {
	if _, err := gatewayOf(cid); err != nil {
		return false, wrap("is online", err)
	}
	n, err := s.rdb.Exists(ctx, string(s.k.client(cid))).Result()
	return n > 0, wrap("is online", err)
}

// IsUidOnline reports whether uid has at least one live connection.
func (s *Push) IsUidOnline(ctx context.Context, uid string) (bool, error) {
	if err := validID(uid); err != nil {
		return false, wrap("is uid online", err)
	}
	n, err := s.rdb.SCard(ctx, string(s.k.uid(uid))).Result()
	return n > 0, wrap("is uid online", err)
}

// UidsOnline reports for each uid whether it has a live connection, in one round trip.
func (s *Push) UidsOnline(ctx context.Context, uids []string) (map[string]bool, error) {
	counts, err := s.cardinalities(ctx, "uids online", uids, s.k.uid)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(uids))
	for i, uid := range uids {
		out[uid] = counts[i] > 0
	}
	return out, nil
}

func (s *core) cardinalities(ctx context.Context, op string, ids []string, key func(string) Key) ([]int64, error) {
	for _, id := range ids {
		if err := validID(id); err != nil {
			return nil, wrap(op, err)
		}
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.SCard(ctx, string(key(id)))
	}
	if len(ids) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, wrap(op, err)
		}
	}
	out := make([]int64, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// ClientIDsByUid returns the client ids bound to uid.
func (s *Push) ClientIDsByUid(ctx context.Context, uid string) ([]string, error) {
	if err := validID(uid); err != nil {
		return nil, wrap("client ids by uid", err)
	}
	ids, err := s.rdb.SMembers(ctx, string(s.k.uid(uid))).Result()
	return ids, wrap("client ids by uid", err)
}

// ClientIDsByUids returns the client ids bound to each uid, in one round trip.
func (s *Push) ClientIDsByUids(ctx context.Context, uids []string) (map[string][]string, error) {
	keys := make([]Key, len(uids))
	for i, uid := range uids {
		if err := validID(uid); err != nil {
			return nil, wrap("client ids by uids", err)
		}
		keys[i] = s.k.uid(uid)
	}
	lists, err := s.members(ctx, keys)
	if err != nil {
		return nil, wrap("client ids by uids", err)
	}
	out := make(map[string][]string, len(uids))
	for i, uid := range uids {
		out[uid] = lists[i]
	}
	return out, nil
}

// UidByClient returns the uid a live client is bound to ("" when unbound), or ErrNoClient.
func (s *Push) UidByClient(ctx context.Context, cid string) (string, error) {
	if _, err := gatewayOf(cid); err != nil {
		return "", wrap("uid by client", err)
	}
	v, err := s.rdb.HMGet(ctx, string(s.k.client(cid)), fieldGateway, fieldUid).Result()
	if err != nil {
		return "", wrap("uid by client", err)
	}
	if v[0] == nil {
		return "", wrap("uid by client", fmt.Errorf("%w: %q", ErrNoClient, cid))
	}
	uid, _ := v[1].(string)
	return uid, nil
}

// ClientCount returns the number of live connections on all gateways.
func (s *Push) ClientCount(ctx context.Context) (int64, error) {
	gws, err := s.rdb.SMembers(ctx, string(s.k.gateways())).Result()
	if err != nil {
		return 0, wrap("client count", err)
	}
	keys := make([]Key, len(gws))
	for i, gw := range gws {
		keys[i] = s.k.gwClients(gw)
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.SCard(ctx, string(k))
	}
	if len(keys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return 0, wrap("client count", err)
		}
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return n, nil
}

// ClientIDs returns the ids of all live connections on all gateways.
func (s *Push) ClientIDs(ctx context.Context) ([]string, error) {
	gws, err := s.rdb.SMembers(ctx, string(s.k.gateways())).Result()
	if err != nil {
		return nil, wrap("client ids", err)
	}
	keys := make([]Key, len(gws))
	for i, gw := range gws {
		keys[i] = s.k.gwClients(gw)
	}
	lists, err := s.members(ctx, keys)
	if err != nil {
		return nil, wrap("client ids", err)
	}
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out, nil
}

// ClientCountByGroup returns the number of connections in a group.
func (s *Push) ClientCountByGroup(ctx context.Context, gid string) (int64, error) {
	if err := validID(gid); err != nil {
		return 0, wrap("client count by group", err)
	}
	n, err := s.rdb.SCard(ctx, string(s.k.group(gid))).Result()
	return n, wrap("client count by group", err)
}

// ClientIDsByGroup returns the client ids in a group.
func (s *Push) ClientIDsByGroup(ctx context.Context, gid string) ([]string, error) {
	if err := validID(gid); err != nil {
		return nil, wrap("client ids by group", err)
	}
	ids, err := s.rdb.SMembers(ctx, string(s.k.group(gid))).Result()
	return ids, wrap("client ids by group", err)
}

// SessionsByGroup returns the app session of every live client in a group,
// keyed by client id.
func (s *Push) SessionsByGroup(ctx context.Context, gid string) (map[string]Session, error) {
	ids, err := s.ClientIDsByGroup(ctx, gid)
	if err != nil {
		return nil, err
	}
	hashes, err := s.clientHashes(ctx, ids)
	if err != nil {
		return nil, wrap("sessions by group", err)
	}
	out := make(map[string]Session, len(ids))
	for i, h := range hashes {
		if len(h) > 0 {
			out[ids[i]] = appFields(h)
		}
	}
	return out, nil
}

// UidsByGroup returns the distinct uids bound to clients of a group.
func (s *Push) UidsByGroup(ctx context.Context, gid string) ([]string, error) {
	ids, err := s.ClientIDsByGroup(ctx, gid)
	if err != nil {
		return nil, err
	}
	out := []string{}
	seen := make(map[string]struct{})
	for start := 0; start < len(ids); start += readBatch {
		batch := ids[start:min(start+readBatch, len(ids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, len(batch))
		for i, cid := range batch {
			cmds[i] = pipe.HGet(ctx, string(s.k.client(cid)), fieldUid)
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			return nil, wrap("uids by group", err)
		}
		for _, c := range cmds {
			if uid := c.Val(); uid != "" {
				if _, dup := seen[uid]; !dup {
					seen[uid] = struct{}{}
					out = append(out, uid)
				}
			}
		}
	}
	return out, nil
}

// UidCountByGroup returns the number of distinct uids in a group.
func (s *Push) UidCountByGroup(ctx context.Context, gid string) (int, error) {
	uids, err := s.UidsByGroup(ctx, gid)
	return len(uids), err
}

// Uids returns every uid with at least one live connection.
func (s *Push) Uids(ctx context.Context) ([]string, error) {
	uids, err := s.rdb.SMembers(ctx, string(s.k.uids())).Result()
	return uids, wrap("uids", err)
}

// UidCount returns the number of uids with at least one live connection.
func (s *Push) UidCount(ctx context.Context) (int64, error) {
	n, err := s.rdb.SCard(ctx, string(s.k.uids())).Result()
	return n, wrap("uid count", err)
}

// GroupIDs returns every group with at least one member.
func (s *Push) GroupIDs(ctx context.Context) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, string(s.k.groups())).Result()
	return ids, wrap("group ids", err)
}

// members reads several sets in pipelined batches.
func (s *core) members(ctx context.Context, keys []Key) ([][]string, error) {
	out := make([][]string, len(keys))
	for start := 0; start < len(keys); start += readBatch {
		batch := keys[start:min(start+readBatch, len(keys))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.StringSliceCmd, len(batch))
		for i, k := range batch {
			cmds[i] = pipe.SMembers(ctx, string(k))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for i, c := range cmds {
			out[start+i] = c.Val()
		}
	}
	return out, nil
}

// clientHashes reads client hashes in pipelined batches; a missing client gives an empty map.
func (s *core) clientHashes(ctx context.Context, cids []string) ([]map[string]string, error) {
	out := make([]map[string]string, len(cids))
	for start := 0; start < len(cids); start += readBatch {
		batch := cids[start:min(start+readBatch, len(cids))]
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(batch))
		for i, cid := range batch {
			cmds[i] = pipe.HGetAll(ctx, string(s.k.client(cid)))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
		for i, c := range cmds {
			out[start+i] = c.Val()
		}
	}
	return out, nil
}
