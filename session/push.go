package session

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

// Session is a client's app session: string fields set by the app. Field
// names starting with '_' are reserved for system fields and refused.
type Session map[string]string

// SendOption adjusts one send call.
type SendOption func(*sendOptions)

type sendOptions struct {
	exclude []string
	gateway string // OnGateway: publish to this gateway's inbox only
	// recoverable: log a group send, creating the group's log (recover.go)
	recoverable bool
}

// Exclude leaves the given client ids out of a send (GatewayWorker's
// $exclude_client_id).
func Exclude(cids ...string) SendOption {
	return func(o *sendOptions) { o.exclude = append(o.exclude, cids...) }
}

func (s *core) sendEnvelope(payload []byte, opts []SendOption) (*Envelope, sendOptions, error) {
	var o sendOptions
	for _, f := range opts {
		f(&o)
	}
	if !utf8.Valid(payload) {
		return nil, o, ErrInvalidPayload
	}
	if o.gateway != "" {
		if err := validGatewayID(o.gateway); err != nil {
			return nil, o, err
		}
	}
	return &Envelope{Op: OpSend, Payload: string(payload), Exclude: o.exclude}, o, nil
}

// SendToAll delivers payload as one text frame to every connected client
// (with OnGateway, to every client of that gateway).
func (s *Push) SendToAll(ctx context.Context, payload []byte, opts ...SendOption) error {
	env, o, err := s.sendEnvelope(payload, opts)
	if err != nil {
		return wrap("send to all", err)
	}
	if o.gateway != "" {
		// An envelope without targets on an inbox goes to every client of
		// that gateway (docs/redis-protocol.md).
		return wrap("send to all", s.publish(ctx, o.gateway, env.encode()))
	}
	// The broadcast channel is classic pub/sub even on Cluster: every gateway
	// needs every broadcast, which is what Cluster's bus does for PUBLISH.
	return wrap("send to all", s.rdb.Publish(ctx, string(s.k.broadcast()), env.encode()).Err())
}

// SendToClient delivers payload to one client. Like GatewayClient it does not
// check that the client exists: a message to a closed client is dropped.
func (s *Push) SendToClient(ctx context.Context, cid string, payload []byte, opts ...SendOption) error {
	return s.SendToClients(ctx, []string{cid}, payload, opts...)
}

// SendToClients delivers payload to each of cids (one envelope per gateway).
// With OnGateway, the clients of other gateways are left out.
func (s *Push) SendToClients(ctx context.Context, cids []string, payload []byte, opts ...SendOption) error {
	env, o, err := s.sendEnvelope(payload, opts)
	if err != nil {
		return wrap("send to clients", err)
	}
	byGw := make(map[string][]string, 1)
	for _, cid := range cids {
		gw, ok := GatewayOf(cid)
		if !ok {
			return wrap("send to clients", fmt.Errorf("%w: client id %q", ErrInvalidID, cid))
		}
		if o.gateway == "" || gw == o.gateway {
			byGw[gw] = append(byGw[gw], cid)
		}
	}
	pipe := s.rdb.Pipeline()
	for gw, list := range byGw {
		e := *env
		e.Clients = list
		s.publishPipe(ctx, pipe, gw, e.encode())
	}
	_, err = pipe.Exec(ctx)
	return wrap("send to clients", err)
}

// SendToUid delivers payload to every connection bound to uid, in one Redis
// round trip (two on Cluster).
func (s *Push) SendToUid(ctx context.Context, uid string, payload []byte, opts ...SendOption) error {
	return s.sendToSets(ctx, "send to uid", []string{uid}, payload, opts, false)
}

// SendToUids delivers payload to every connection of each uid; a connection
// reached through several uids gets it once.
func (s *Push) SendToUids(ctx context.Context, uids []string, payload []byte, opts ...SendOption) error {
	return s.sendToSets(ctx, "send to uids", uids, payload, opts, false)
}

// SendToGroup delivers payload to every member of gid, in one Redis round trip
// whatever the group's size (two on Cluster).
func (s *Push) SendToGroup(ctx context.Context, gid string, payload []byte, opts ...SendOption) error {
	return s.sendToSets(ctx, "send to group", []string{gid}, payload, opts, true)
}

// SendToGroups delivers payload to the members of several groups; a client in
// several of them gets it once, except that groups with a recovery log are
// sent through their logs, one envelope each: a client in a logged group and
// in another group of the same call gets it once per such envelope.
func (s *Push) SendToGroups(ctx context.Context, gids []string, payload []byte, opts ...SendOption) error {
	return s.sendToSets(ctx, "send to groups", gids, payload, opts, true)
}

// sendToSets resolves uids or groups to gateways and publishes one envelope
// naming all the targets to each gateway, which resolves them locally.
func (s *core) sendToSets(ctx context.Context, op string, ids []string, payload []byte, opts []SendOption, groups bool) error {
	env, o, err := s.sendEnvelope(payload, opts)
	if err != nil {
		return wrap(op, err)
	}
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		if err := validID(id); err != nil {
			return wrap(op, err)
		}
	}
	if groups && o.gateway != "" {
		// The gateway resolves the groups among its own clients.
		env.Groups = ids
		return wrap(op, s.publish(ctx, o.gateway, env.encode()))
	}
	if groups {
		// Groups with a recovery log (or all, with Recoverable) are sent
		// through it (recover.go): one script call for one group; for
		// several, one batch send (which groups have a log is read in the
		// same round trip as their gateways).
		if len(ids) == 1 {
			env.Groups = ids
			return wrap(op, s.sendGroupLogged(ctx, ids[0], env, &o))
		}
		send := Send{To: ToGroups, IDs: ids, Payload: payload, Exclude: o.exclude, Recoverable: o.recoverable}
		err := s.sendBatch(ctx, []Send{send})
		var be *BatchError
		if errors.As(err, &be) {
			err = be.Err
		}
		return wrap(op, err)
	}
	env.Uids = ids
	msg := env.encode()
	if o.gateway != "" {
		// The gateway resolves the targets among its own clients.
		return wrap(op, s.publish(ctx, o.gateway, msg))
	}
	if len(ids) == 1 && !s.sharded {
		// One round trip: the script reads the set and publishes to each inbox.
		return wrap(op, scriptSendUid.Run(ctx, s.rdb, []string{string(s.k.uid(ids[0]))}, s.k.p, msg).Err())
	}
	gws, err := s.resolveGateways(ctx, ids)
	if err != nil {
		return wrap(op, err)
	}
	if len(gws) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for gw := range gws {
		s.publishPipe(ctx, pipe, gw, msg)
	}
	_, err = pipe.Exec(ctx)
	return wrap(op, err)
}

// resolveGateways returns the gateways holding connections of the given uids.
func (s *core) resolveGateways(ctx context.Context, uids []string) (map[string]struct{}, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringSliceCmd, len(uids))
	for i, uid := range uids {
		cmds[i] = pipe.SMembers(ctx, string(s.k.uid(uid)))
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, err
	}
	gws := make(map[string]struct{})
	for _, c := range cmds {
		for _, cid := range c.Val() {
			if gw, ok := GatewayOf(cid); ok {
				gws[gw] = struct{}{}
			}
		}
	}
	return gws, nil
}

// gatewayOf validates a client id and returns its gateway.
func gatewayOf(cid string) (string, error) {
	gw, ok := GatewayOf(cid)
	if !ok {
		return "", fmt.Errorf("%w: client id %q", ErrInvalidID, cid)
	}
	return gw, nil
}

// CloseClient closes a client's connection, after sending it payload when
// payload is not nil (GatewayClient::closeClient with a message).
func (s *Push) CloseClient(ctx context.Context, cid string, payload []byte) error {
	gw, err := gatewayOf(cid)
	if err != nil {
		return wrap("close client", err)
	}
	if !utf8.Valid(payload) {
		return wrap("close client", ErrInvalidPayload)
	}
	env := Envelope{Op: OpClose, Clients: []string{cid}, Payload: string(payload)}
	return wrap("close client", s.publish(ctx, gw, env.encode()))
}

func validSession(sess Session) ([]any, error) {
	args := make([]any, 0, 2*len(sess))
	for f, v := range sess {
		if f == "" || strings.HasPrefix(f, "_") {
			return nil, fmt.Errorf("%w: %q", ErrReservedField, f)
		}
		args = append(args, f, v)
	}
	return args, nil
}

// SetSession replaces the app session of a live client.
func (s *Push) SetSession(ctx context.Context, cid string, sess Session) error {
	return s.writeSession(ctx, "set session", scriptSessionSet, OpSetSession, cid, sess)
}

// UpdateSession merges fields into the app session of a live client.
func (s *Push) UpdateSession(ctx context.Context, cid string, sess Session) error {
	return s.writeSession(ctx, "update session", scriptSessionUpdate, OpUpdateSession, cid, sess)
}

func (s *core) writeSession(ctx context.Context, op string, script *redis.Script, eop Op, cid string, sess Session) error {
	gw, err := gatewayOf(cid)
	if err != nil {
		return wrap(op, err)
	}
	args, err := validSession(sess)
	if err != nil {
		return wrap(op, err)
	}
	// The gateway keeps a copy so it can re-assert the session after Redis
	// loses its data; publishing for a client that turns out not to exist is
	// harmless (the gateway ignores unknown clients).
	env := Envelope{Op: eop, Clients: []string{cid}, Session: sess}
	pipe := s.rdb.Pipeline()
	res := script.Eval(ctx, pipe, []string{string(s.k.client(cid))}, args...)
	s.publishPipe(ctx, pipe, gw, env.encode())
	if _, err := pipe.Exec(ctx); err != nil {
		return wrap(op, err)
	}
	if n, _ := res.Int(); n == 0 {
		return wrap(op, fmt.Errorf("%w: %q", ErrNoClient, cid))
	}
	return nil
}

// Session returns the app session of a live client, or ErrNoClient.
func (s *Push) Session(ctx context.Context, cid string) (Session, error) {
	if _, err := gatewayOf(cid); err != nil {
		return nil, wrap("get session", err)
	}
	all, err := s.rdb.HGetAll(ctx, string(s.k.client(cid))).Result()
	if err != nil {
		return nil, wrap("get session", err)
	}
	if len(all) == 0 {
		return nil, wrap("get session", fmt.Errorf("%w: %q", ErrNoClient, cid))
	}
	return appFields(all), nil
}

// appFields drops the system fields of a client hash.
func appFields(all map[string]string) Session {
	for f := range all {
		if strings.HasPrefix(f, "_") {
			delete(all, f)
		}
	}
	return Session(all)
}
