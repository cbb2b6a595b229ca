package session

import (
	"context"
	"fmt"
)

// Scripts queued on a pipeline use Eval, not EvalSha: the NOSCRIPT fallback of
// Script.Run cannot work inside a pipeline, and Redis may have lost its script
// cache in a restart.

// JoinGroup adds a live client to a group. When it returns, Redis holds the
// membership and the client's gateway has it queued in its inbox, so a
// following SendToGroup reaches the client.
func (s *Store) JoinGroup(ctx context.Context, cid, gid string) error {
	const op = "join group"
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(gid)
	}
	if err != nil {
		return wrap(op, err)
	}
	ok, err := scriptClientJoin.Run(ctx, s.rdb, []string{string(s.k.client(cid)), string(s.k.clientGroups(cid))}, gid).Int()
	if err != nil {
		return wrap(op, err)
	}
	if ok == 0 {
		return wrap(op, fmt.Errorf("%w: %q", ErrNoClient, cid))
	}
	// If the client closes between the check above and this pipeline, its
	// gateway gets the join for an unknown client and undoes it (HandleStray).
	env := Envelope{Op: OpJoin, Clients: []string{cid}, Groups: []string{gid}}
	pipe := s.rdb.Pipeline()
	scriptGroupJoin.Eval(ctx, pipe, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}, cid, gw)
	pipe.SAdd(ctx, string(s.k.groups()), gid)
	s.publishPipe(ctx, pipe, gw, env.encode())
	_, err = pipe.Exec(ctx)
	return wrap(op, err)
}

// LeaveGroup removes a client from a group. Leaving a group one is not in is
// not an error.
func (s *Store) LeaveGroup(ctx context.Context, cid, gid string) error {
	const op = "leave group"
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(gid)
	}
	if err != nil {
		return wrap(op, err)
	}
	env := Envelope{Op: OpLeave, Clients: []string{cid}, Groups: []string{gid}}
	pipe := s.rdb.Pipeline()
	pipe.SRem(ctx, string(s.k.clientGroups(cid)), gid)
	left := scriptGroupLeave.Eval(ctx, pipe, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}, cid, gw)
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if n, _ := left.Int(); n == 0 {
		return wrap(op, s.dropIfEmpty(ctx, s.k.groups(), gid, s.k.group(gid)))
	}
	return nil
}

// Ungroup dissolves a group: every member leaves it.
func (s *Store) Ungroup(ctx context.Context, gid string) error {
	const op = "ungroup"
	if err := validID(gid); err != nil {
		return wrap(op, err)
	}
	res, err := scriptGroupDissolve.Run(ctx, s.rdb, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}).Slice()
	if err != nil {
		return wrap(op, err)
	}
	members, gws := strings2(res, 0), strings2(res, 1)
	env := Envelope{Op: OpUngroup, Groups: []string{gid}}
	msg := env.encode()
	pipe := s.rdb.Pipeline()
	for _, cid := range members {
		pipe.SRem(ctx, string(s.k.clientGroups(cid)), gid)
	}
	for _, gw := range gws {
		s.publishPipe(ctx, pipe, gw, msg)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.dropIfEmpty(ctx, s.k.groups(), gid, s.k.group(gid)))
}

// BindUid binds a live client to uid (one uid may have many clients). A client
// bound to another uid is moved.
func (s *Store) BindUid(ctx context.Context, cid, uid string) error {
	const op = "bind uid"
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(uid)
	}
	if err != nil {
		return wrap(op, err)
	}
	res, err := scriptClientBind.Run(ctx, s.rdb, []string{string(s.k.client(cid))}, uid).Slice()
	if err != nil {
		return wrap(op, err)
	}
	if n, _ := res[0].(int64); n == 0 {
		return wrap(op, fmt.Errorf("%w: %q", ErrNoClient, cid))
	}
	old, _ := res[1].(string)
	env := Envelope{Op: OpBind, Clients: []string{cid}, Uids: []string{uid}}
	pipe := s.rdb.Pipeline()
	pipe.SAdd(ctx, string(s.k.uid(uid)), cid)
	pipe.SAdd(ctx, string(s.k.uids()), uid)
	var left interface{ Int() (int, error) }
	if old != "" && old != uid {
		left = scriptUidRemove.Eval(ctx, pipe, []string{string(s.k.uid(old))}, cid)
	}
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if left != nil {
		if n, _ := left.Int(); n == 0 {
			return wrap(op, s.dropIfEmpty(ctx, s.k.uids(), old, s.k.uid(old)))
		}
	}
	return nil
}

// UnbindUid undoes BindUid. Unbinding a client that is not bound to uid is not
// an error.
func (s *Store) UnbindUid(ctx context.Context, cid, uid string) error {
	const op = "unbind uid"
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(uid)
	}
	if err != nil {
		return wrap(op, err)
	}
	env := Envelope{Op: OpUnbind, Clients: []string{cid}, Uids: []string{uid}}
	pipe := s.rdb.Pipeline()
	scriptClientUnbind.Eval(ctx, pipe, []string{string(s.k.client(cid))}, uid)
	left := scriptUidRemove.Eval(ctx, pipe, []string{string(s.k.uid(uid))}, cid)
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if n, _ := left.Int(); n == 0 {
		return wrap(op, s.dropIfEmpty(ctx, s.k.uids(), uid, s.k.uid(uid)))
	}
	return nil
}

// dropIfEmpty removes member from index (groups or uids) and puts it back if
// set gained a member meanwhile. Joiners add to set before index, so
// whichever order the two callers interleave in, index ends up right. The
// steps are sequential on purpose: on Cluster they run on different nodes.
func (s *Store) dropIfEmpty(ctx context.Context, index Key, member string, set Key) error {
	if err := s.rdb.SRem(ctx, string(index), member).Err(); err != nil {
		return err
	}
	n, err := s.rdb.SCard(ctx, string(set)).Result()
	if err != nil {
		return err
	}
	if n > 0 {
		return s.rdb.SAdd(ctx, string(index), member).Err()
	}
	return nil
}

// strings2 returns element i of a script's array-of-arrays reply as strings.
func strings2(res []any, i int) []string {
	if i >= len(res) {
		return nil
	}
	arr, _ := res[i].([]any)
	out := make([]string, 0, len(arr))
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
