package session

import (
	"context"
	"fmt"
)

// Each membership operation has two implementations with the same resulting
// keys and envelopes (ops_test.go checks it):
//
//   - standalone and Sentinel: one op_*.lua script that does everything,
//     inbox publish included, atomically in one round trip (Script.Run, so a
//     NOSCRIPT falls back to EVAL);
//   - Cluster (s.sharded): a sequence of single-slot scripts and commands,
//     because the keys live in different slots.
//
// Scripts queued on a pipeline use Eval, not EvalSha: the NOSCRIPT fallback of
// Script.Run cannot work inside a pipeline, and Redis may have lost its script
// cache in a restart.

// JoinGroup adds a live client to a group. When it returns, Redis holds the
// membership and the client's gateway has it queued in its inbox, so a
// following SendToGroup reaches the client. One round trip (op_join.lua);
// on Cluster two.
func (s *Push) JoinGroup(ctx context.Context, cid, gid string) error {
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(gid)
	}
	if err == nil {
		if s.sharded {
			err = s.joinSteps(ctx, cid, gw, gid)
		} else {
			err = s.joinOp(ctx, cid, gw, gid)
		}
	}
	return wrap("join group", err)
}

// joinOp runs op_join.lua: one round trip.
func (s *core) joinOp(ctx context.Context, cid, gw, gid string) error {
	env := Envelope{Op: OpJoin, Clients: []string{cid}, Groups: []string{gid}}
	keys := []string{string(s.k.client(cid)), string(s.k.clientGroups(cid)),
		string(s.k.group(gid)), string(s.k.groupGateways(gid)), string(s.k.groups())}
	ok, err := scriptOpJoin.Run(ctx, s.rdb, keys, gid, cid, gw, string(s.k.inbox(gw)), env.encode()).Int()
	if err == nil && ok == 0 {
		err = fmt.Errorf("%w: %q", ErrNoClient, cid)
	}
	return err
}

// joinSteps is JoinGroup for Cluster: client_join.lua, then one pipeline
// (group_join.lua, SADD groups, SPUBLISH): two round trips.
func (s *core) joinSteps(ctx context.Context, cid, gw, gid string) error {
	ok, err := scriptClientJoin.Run(ctx, s.rdb, []string{string(s.k.client(cid)), string(s.k.clientGroups(cid))}, gid).Int()
	if err != nil {
		return err
	}
	if ok == 0 {
		return fmt.Errorf("%w: %q", ErrNoClient, cid)
	}
	// If the client closes between the check above and this pipeline, its
	// gateway gets the join for an unknown client and undoes it (gateway
	// inbox.go calls UndoStray).
	env := Envelope{Op: OpJoin, Clients: []string{cid}, Groups: []string{gid}}
	pipe := s.rdb.Pipeline()
	scriptGroupJoin.Eval(ctx, pipe, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}, cid, gw)
	pipe.SAdd(ctx, string(s.k.groups()), gid)
	s.publishPipe(ctx, pipe, gw, env.encode())
	_, err = pipe.Exec(ctx)
	return err
}

// LeaveGroup removes a client from a group. Leaving a group one is not in is
// not an error. One round trip (op_leave.lua); on Cluster one, plus two or
// three when the group emptied.
func (s *Push) LeaveGroup(ctx context.Context, cid, gid string) error {
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(gid)
	}
	if err == nil {
		if s.sharded {
			err = s.leaveSteps(ctx, cid, gw, gid)
		} else {
			err = s.leaveOp(ctx, cid, gw, gid)
		}
	}
	return wrap("leave group", err)
}

// leaveOp runs op_leave.lua: one round trip.
func (s *core) leaveOp(ctx context.Context, cid, gw, gid string) error {
	env := Envelope{Op: OpLeave, Clients: []string{cid}, Groups: []string{gid}}
	keys := []string{string(s.k.clientGroups(cid)), string(s.k.group(gid)),
		string(s.k.groupGateways(gid)), string(s.k.groups())}
	return scriptOpLeave.Run(ctx, s.rdb, keys, gid, cid, gw, string(s.k.inbox(gw)), env.encode()).Err()
}

// leaveSteps is LeaveGroup for Cluster: one pipeline (SREM, group_leave.lua,
// SPUBLISH), then drop-if-empty when the group emptied.
func (s *core) leaveSteps(ctx context.Context, cid, gw, gid string) error {
	env := Envelope{Op: OpLeave, Clients: []string{cid}, Groups: []string{gid}}
	pipe := s.rdb.Pipeline()
	pipe.SRem(ctx, string(s.k.clientGroups(cid)), gid)
	left := scriptGroupLeave.Eval(ctx, pipe, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}, cid, gw)
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if n, _ := left.Int(); n == 0 {
		return s.dropIfEmpty(ctx, s.k.groups(), gid, s.k.group(gid))
	}
	return nil
}

// Ungroup dissolves a group: every member leaves it. One round trip
// (op_ungroup.lua); on Cluster two, plus two or three for drop-if-empty.
func (s *Push) Ungroup(ctx context.Context, gid string) error {
	err := validID(gid)
	if err == nil {
		if s.sharded {
			err = s.ungroupSteps(ctx, gid)
		} else {
			err = s.ungroupOp(ctx, gid)
		}
	}
	return wrap("ungroup", err)
}

// ungroupOp runs op_ungroup.lua: one round trip.
func (s *core) ungroupOp(ctx context.Context, gid string) error {
	env := Envelope{Op: OpUngroup, Groups: []string{gid}}
	keys := []string{string(s.k.group(gid)), string(s.k.groupGateways(gid)), string(s.k.groups())}
	return scriptOpUngroup.Run(ctx, s.rdb, keys, gid, s.k.p, env.encode()).Err()
}

// ungroupSteps is Ungroup for Cluster: group_dissolve.lua, one pipeline (SREM
// per member, SPUBLISH per gateway), then drop-if-empty.
func (s *core) ungroupSteps(ctx context.Context, gid string) error {
	res, err := scriptGroupDissolve.Run(ctx, s.rdb, []string{string(s.k.group(gid)), string(s.k.groupGateways(gid))}).Slice()
	if err != nil {
		return err
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
		return err
	}
	return s.dropIfEmpty(ctx, s.k.groups(), gid, s.k.group(gid))
}

// BindUid binds a live client to uid (one uid may have many clients). A client
// bound to another uid is moved. One round trip (op_bind.lua); on Cluster two,
// plus two or three when the previous uid emptied.
func (s *Push) BindUid(ctx context.Context, cid, uid string) error {
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(uid)
	}
	if err == nil {
		if s.sharded {
			err = s.bindSteps(ctx, cid, gw, uid)
		} else {
			err = s.bindOp(ctx, cid, gw, uid)
		}
	}
	return wrap("bind uid", err)
}

// bindOp runs op_bind.lua: one round trip.
func (s *core) bindOp(ctx context.Context, cid, gw, uid string) error {
	env := Envelope{Op: OpBind, Clients: []string{cid}, Uids: []string{uid}}
	keys := []string{string(s.k.client(cid)), string(s.k.uid(uid)), string(s.k.uids())}
	ok, err := scriptOpBind.Run(ctx, s.rdb, keys, uid, cid, s.k.p, string(s.k.inbox(gw)), env.encode()).Int()
	if err == nil && ok == 0 {
		err = fmt.Errorf("%w: %q", ErrNoClient, cid)
	}
	return err
}

// bindSteps is BindUid for Cluster: client_bind.lua, one pipeline (SADD uid,
// SADD uids, uid_remove.lua on a previous uid, SPUBLISH), then drop-if-empty
// of the previous uid when it emptied.
func (s *core) bindSteps(ctx context.Context, cid, gw, uid string) error {
	res, err := scriptClientBind.Run(ctx, s.rdb, []string{string(s.k.client(cid))}, uid).Slice()
	if err != nil {
		return err
	}
	if n, _ := res[0].(int64); n == 0 {
		return fmt.Errorf("%w: %q", ErrNoClient, cid)
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
		return err
	}
	if left != nil {
		if n, _ := left.Int(); n == 0 {
			return s.dropIfEmpty(ctx, s.k.uids(), old, s.k.uid(old))
		}
	}
	return nil
}

// UnbindUid undoes BindUid. Unbinding a client that is not bound to uid is not
// an error. One round trip (op_unbind.lua); on Cluster one, plus two or three
// when the uid emptied.
func (s *Push) UnbindUid(ctx context.Context, cid, uid string) error {
	gw, err := gatewayOf(cid)
	if err == nil {
		err = validID(uid)
	}
	if err == nil {
		if s.sharded {
			err = s.unbindSteps(ctx, cid, gw, uid)
		} else {
			err = s.unbindOp(ctx, cid, gw, uid)
		}
	}
	return wrap("unbind uid", err)
}

// unbindOp runs op_unbind.lua: one round trip.
func (s *core) unbindOp(ctx context.Context, cid, gw, uid string) error {
	env := Envelope{Op: OpUnbind, Clients: []string{cid}, Uids: []string{uid}}
	keys := []string{string(s.k.client(cid)), string(s.k.uid(uid)), string(s.k.uids())}
	return scriptOpUnbind.Run(ctx, s.rdb, keys, uid, cid, string(s.k.inbox(gw)), env.encode()).Err()
}

// unbindSteps is UnbindUid for Cluster: one pipeline (client_unbind.lua,
// uid_remove.lua, SPUBLISH), then drop-if-empty when the uid emptied.
func (s *core) unbindSteps(ctx context.Context, cid, gw, uid string) error {
	env := Envelope{Op: OpUnbind, Clients: []string{cid}, Uids: []string{uid}}
	pipe := s.rdb.Pipeline()
	scriptClientUnbind.Eval(ctx, pipe, []string{string(s.k.client(cid))}, uid)
	left := scriptUidRemove.Eval(ctx, pipe, []string{string(s.k.uid(uid))}, cid)
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return err
	}
	if n, _ := left.Int(); n == 0 {
		return s.dropIfEmpty(ctx, s.k.uids(), uid, s.k.uid(uid))
	}
	return nil
}

// dropIfEmpty removes member from index (groups or uids) and puts it back if
// set gained a member meanwhile. Joiners add to set before index, so
// whichever order the two callers interleave in, index ends up right. The
// steps are sequential on purpose: on Cluster they run on different nodes.
func (s *core) dropIfEmpty(ctx context.Context, index Key, member string, set Key) error {
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
