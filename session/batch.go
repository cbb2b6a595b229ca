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
}

// BatchError is returned when one send of a batch is invalid; no send of the
// batch was made. It unwraps to the sentinel (ErrInvalidID, ErrInvalidPayload).
type BatchError struct {
	Index int // position of the invalid send in the batch
	Err   error
}

func (e *BatchError) Error() string { return fmt.Sprintf("send %d: %v", e.Index, e.Err) }
func (e *BatchError) Unwrap() error { return e.Err }

// SendBatch makes many sends in at most two Redis round trips, whatever their
// number: one pipeline reads the gateways of every uid and group named, and
// one pipeline publishes each send's envelope to each gateway it reaches, in
// batch order. Every send is checked before any is made: an invalid one fails
// the whole batch with a *BatchError and nothing is published. A gateway
// receives the envelopes of one batch in batch order, so one client gets its
// frames in that order. Like the single sends, a client that joins a group on
// a new gateway between the two round trips may miss a send made in them.
func (s *Push) SendBatch(ctx context.Context, sends []Send) error {
	envs := make([]*Envelope, len(sends))
	var sets []setRef // uids and groups to resolve, deduplicated
	seen := map[string]bool{}
	for i := range sends {
		env, err := s.batchEnvelope(&sends[i])
		if err != nil {
			return wrap("send batch", &BatchError{Index: i, Err: err})
		}
		envs[i] = env
		if t := sends[i].To; t == ToUids || t == ToGroups {
			for _, id := range sends[i].IDs {
				if k := s.setKey(t, id); !seen[k] {
					seen[k] = true
					sets = append(sets, setRef{key: k, group: t == ToGroups})
				}
			}
		}
	}
	gws, err := s.resolveSets(ctx, sets)
	if err != nil {
		return wrap("send batch", err)
	}
	pipe := s.rdb.Pipeline()
	for i := range sends {
		s.queueSend(ctx, pipe, &sends[i], envs[i], gws)
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err = pipe.Exec(ctx)
	return wrap("send batch", err)
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
	key   string
	group bool
}

// resolveSets reads each of sets in one pipeline and returns, by key, the
// gateways each one reaches.
func (s *core) resolveSets(ctx context.Context, sets []setRef) (map[string][]string, error) {
	if len(sets) == 0 {
		return nil, nil
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(sets))
	for i, r := range sets {
		if r.group {
			cmds[i] = pipe.HKeys(ctx, r.key)
		} else {
			cmds[i] = pipe.SMembers(ctx, r.key)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	out := make(map[string][]string, len(sets))
	for i, r := range sets {
		var gws []string
		for _, v := range cmds[i].Val() {
			if !r.group {
				var ok bool
				if v, ok = GatewayOf(v); !ok {
					continue
				}
			}
			gws = append(gws, v)
		}
		out[r.key] = gws
	}
	return out, nil
}

// queueSend adds the publishes of one send to pipe: the broadcast channel for
// ToAll, one envelope per gateway otherwise.
func (s *core) queueSend(ctx context.Context, pipe redis.Pipeliner, b *Send, env *Envelope, gws map[string][]string) {
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
		msg := env.encode()
		done := map[string]bool{}
		for _, id := range b.IDs {
			for _, gw := range gws[s.setKey(b.To, id)] {
				if !done[gw] {
					done[gw] = true
					s.publishPipe(ctx, pipe, gw, msg)
				}
			}
		}
	}
}
