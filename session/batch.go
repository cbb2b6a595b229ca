package session

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Target names who one Send of a batch goes to.
type Target int

// The targets of a Send: IDs holds client ids, uids or group ids (unused for
// ToAll).
const (
	ToAll Target = iota
	ToClients
	ToUids
	ToGroups
)

// Send is one send of a batch (Store.SendBatch): Payload to the IDs of kind
// To, less the Exclude client ids, with the semantics of SendToAll,
// SendToClients, SendToUids and SendToGroups.
type Send struct {
	To      Target
	IDs     []string
	Payload []byte
	Exclude []string
	// Recoverable sends to groups through their recovery logs, creating them,
	// as the Recoverable option does; ignored by the other targets. A group
	// that has a log is logged with or without it.
	Recoverable bool
}

// BatchError is returned when one send of a batch is invalid; no send of the
// batch was made. It unwraps to the sentinel (ErrInvalidID, ErrInvalidPayload,
// ErrRecoverablePayload).
type BatchError struct {
	Index int // position of the invalid send in the batch
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("send %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// SendBatch makes many sends in at most two Redis round trips, whatever their
// number (three on Cluster when a send is logged): one pipeline reads the
// gateways of every uid and group named and which of the groups have a
// recovery log, and one pipeline publishes each send's envelope to each
// gateway it reaches, in batch order; a send to a group with a log (or a
// Recoverable one) runs the group's log script in that pipeline instead, as
// SendToGroup does. Every send is checked before any is made: an invalid one
// (a malformed id, or a payload a logged group refuses) fails the whole batch
// with a *BatchError and nothing is published. A gateway receives the
// envelopes of one batch in batch order, so one client gets its frames in
// that order. Like the single sends, a client that joins a group on a new
// gateway between the two round trips may miss a send made in them, and a
// group whose log is created by someone else in between is sent to unlogged.
func (s *Push) SendBatch(ctx context.Context, sends []Send) error {
	return wrap("send batch", s.sendBatch(ctx, sends))
}

func (s *core) sendBatch(ctx context.Context, sends []Send) error {
	envs := make([]*Envelope, len(sends))
	var sets []setRef // uids and groups to resolve, deduplicated
	seen := map[string]bool{}
	for i := range sends {
		env, err := s.batchEnvelope(&sends[i])
		if err != nil {
			return &BatchError{Index: i, Err: err}
		}
		envs[i] = env
		if t := sends[i].To; t == ToUids || t == ToGroups {
			for _, id := range sends[i].IDs {
				if k := s.setKey(t, id); !seen[k] {
					seen[k] = true
					sets = append(sets, setRef{key: k, id: id, group: t == ToGroups})
				}
			}
		}
	}
	r, err := s.resolveSets(ctx, sets)
	if err != nil {
		return err
	}
	logged, err := r.splitLogged(sends)
	if err != nil {
		return err
	}
	pipe := s.rdb.Pipeline()
	if len(logged) > 0 && !s.sharded {
		// The log script runs by hash inside the pipeline, where go-redis
		// cannot fall back to EVAL: load it first, in the same round trip.
		pipe.ScriptLoad(ctx, srcSendGroupLog)
	}
	var logCmds []*redis.Cmd
	for i := range sends {
		s.queueSend(ctx, pipe, &sends[i], envs[i], r, r.plainOf[i])
		for _, gid := range logged[i] {
			logCmds = append(logCmds, s.queueLogged(ctx, pipe, gid, envs[i], sends[i].Recoverable))
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	if _, err = pipe.Exec(ctx); err != nil {
		return logScriptError(err)
	}
	if s.sharded && len(logCmds) > 0 {
		return s.publishLogged(ctx, logCmds)
	}
	return nil
}

// batchEnvelope validates one send and returns its envelope (targets filled
// in for uids and groups; per gateway for clients, in queueSend).
func (s *core) batchEnvelope(b *Send) (*Envelope, error) {
	env, _, err := s.sendEnvelope(b.Payload, []SendOption{Exclude(b.Exclude...)})
	if err != nil {
		return nil, err
	}
	switch b.To {
	case ToAll:
	case ToClients:
		for _, cid := range b.IDs {
			if _, err := gatewayOf(cid); err != nil {
				return nil, err
			}
		}
	case ToUids, ToGroups:
		for _, id := range b.IDs {
			if err := validID(id); err != nil {
				return nil, err
			}
		}
		if b.To == ToGroups {
			env.Groups = b.IDs
		} else {
			env.Uids = b.IDs
		}
	default:
		return nil, fmt.Errorf("%w: unknown send target %d", ErrInvalidID, b.To)
	}
	return env, nil
}

// setKey returns the key that lists the gateways (groups) or client ids
// (uids) of one id.
func (s *core) setKey(t Target, id string) string {
	if t == ToGroups {
		return string(s.k.groupGateways(id))
	}
	return string(s.k.uid(id))
}

// setRef is one key resolveSets reads: a group's gateway hash or a uid's
// client set.
type setRef struct {
	key, id string
	group   bool
}

// resolved is what the first round trip of a batch read: by key, the
// gateways each uid or group reaches, and the groups that have a log.
type resolved struct {
	gws     map[string][]string
	hasLog  map[string]bool
	plainOf map[int][]string // send index → its groups sent without the log
}

// resolveSets reads each of sets in one pipeline: the gateways each one
// reaches and, for groups, whether the group has a recovery log.
func (s *core) resolveSets(ctx context.Context, sets []setRef) (*resolved, error) {
	r := &resolved{gws: make(map[string][]string, len(sets)), hasLog: map[string]bool{}, plainOf: map[int][]string{}}
	if len(sets) == 0 {
		return r, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(sets))
	logs := make([]*redis.IntCmd, len(sets))
	for i, ref := range sets {
		if ref.group {
			cmds[i] = pipe.HKeys(ctx, ref.key)
			logs[i] = pipe.Exists(ctx, string(s.k.groupLogState(ref.id)))
		} else {
			cmds[i] = pipe.SMembers(ctx, ref.key)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	for i, ref := range sets {
		var gws []string
		for _, v := range cmds[i].Val() {
			if !ref.group {
				var ok bool
				if v, ok = GatewayOf(v); !ok {
					continue
				}
			}
			gws = append(gws, v)
		}
		r.gws[ref.key] = gws
		if logs[i] != nil && logs[i].Val() > 0 {
			r.hasLog[ref.id] = true
		}
	}
	return r, nil
}

// splitLogged returns, by send index, the groups each send makes through
// their log: every group of a Recoverable send, and the groups that have a
// log, in Redis or created by an earlier Recoverable send of the batch. It
// records the rest in r.plainOf and checks that each logged send's payload is
// one a log accepts.
func (r *resolved) splitLogged(sends []Send) (map[int][]string, error) {
	logged := map[int][]string{}
	for i := range sends {
		b := &sends[i]
		if b.To != ToGroups {
			continue
		}
		var plain []string
		checked := false // the payload is checked once per send
		for _, gid := range b.IDs {
			if !b.Recoverable && !r.hasLog[gid] {
				plain = append(plain, gid)
				continue
			}
			if !checked {
				if err := checkLoggedPayload(b.Payload); err != nil {
					return nil, &BatchError{Index: i, Err: fmt.Errorf("%w: group %q", err, gid)}
				}
				checked = true
			}
			r.hasLog[gid] = true
			logged[i] = append(logged[i], gid)
		}
		r.plainOf[i] = plain
	}
	return logged, nil
}

// queueSend adds the plain publishes of one send to pipe: the broadcast
// channel for ToAll, one envelope per gateway otherwise (for groups, naming
// plain, the groups sent without their log).
func (s *core) queueSend(ctx context.Context, pipe redis.Pipeliner, b *Send, env *Envelope, r *resolved, plain []string) {
	switch b.To {
	case ToAll:
		pipe.Publish(ctx, string(s.k.broadcast()), env.encode())
	case ToClients:
		byGw := map[string][]string{}
		var order []string
		for _, cid := range b.IDs {
			gw, _ := GatewayOf(cid)
			if _, ok := byGw[gw]; !ok {
				order = append(order, gw)
			}
			byGw[gw] = append(byGw[gw], cid)
		}
		for _, gw := range order {
			e := *env
			e.Clients = byGw[gw]
			s.publishPipe(ctx, pipe, gw, e.encode())
		}
	default:
		ids := b.IDs
		if b.To == ToGroups {
			if ids = plain; len(ids) == 0 {
				return
			}
			if len(ids) != len(b.IDs) {
				e := *env
				e.Groups = ids
				env = &e
			}
		}
		msg := env.encode()
		done := map[string]bool{}
		for _, id := range ids {
			for _, gw := range r.gws[s.setKey(b.To, id)] {
				if !done[gw] {
					done[gw] = true
					s.publishPipe(ctx, pipe, gw, msg)
				}
			}
		}
	}
}
