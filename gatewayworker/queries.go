package gatewayworker

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/session"
)

// Queries answer for this gateway's clients only, with exactly the reply
// values GatewayWorker serializes (docs/gatewayworker.md, "Replies").
// Connection ids in replies are the 32-bit numbers at the end of client ids.

// own returns the connection numbers of the ids held by this gateway, sorted.
func (l *Inner) own(cids []string) []uint32 {
	out := make([]uint32, 0, len(cids))
	for _, cid := range cids {
		if n, ok := connectionOf(l.gw, cid); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func intList(conns []uint32) *phpserial.Array {
	a := phpserial.NewArray()
	for _, n := range conns {
		a.Append(int64(n))
	}
	return a
}

// groupKey is a group or uid as a PHP array key ("123" is the int 123).
func groupKey(id string) phpserial.Key { return phpserial.StrKey(id) }

func (l *Inner) isOnline(ctx context.Context, p *Packet) ([]byte, error) {
	on, err := l.store.IsOnline(ctx, l.cid(p))
	if err != nil {
		return nil, err
	}
	if on {
		return []byte("i:1;"), nil
	}
	return []byte("i:0;"), nil
}

// countByGroup is cmd 24: members of group ext here, or every connection
// here when ext is "".
func (l *Inner) countByGroup(ctx context.Context, p *Packet) ([]byte, error) {
	gid := string(p.ExtData)
	if gid == "" {
		n, err := l.store.ClientCountOnGateway(ctx, l.gw)
		return phpserial.MustMarshal(n), err
	}
	if !validID(gid) {
		return []byte("i:0;"), nil
	}
	n, err := l.store.GroupCountsOnGateway(ctx, l.gw, []string{gid})
	if err != nil {
		return nil, err
	}
	return phpserial.MustMarshal(n[0]), nil
}

// batchCountByGroup is cmd 28: map group ⇒ count here (0 when none).
func (l *Inner) batchCountByGroup(ctx context.Context, p *Packet) ([]byte, error) {
	gids := jsonValues(p.ExtData)
	valid := validIDs(slices.Clone(gids))
	counts, err := l.store.GroupCountsOnGateway(ctx, l.gw, valid)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]int64, len(valid))
	for i, g := range valid {
		byID[g] = counts[i]
	}
	out := phpserial.NewArray()
	for _, g := range gids {
		out.Set(groupKey(g), byID[g])
	}
	return phpserial.MustMarshal(out), nil
}

// uidConns returns, for each uid, the connection numbers bound to it here.
func (l *Inner) uidConns(ctx context.Context, uids []string) (map[string][]uint32, error) {
	valid := validIDs(slices.Clone(uids))
	ids, err := l.store.ClientIDsByUids(ctx, valid)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]uint32, len(ids))
	for uid, cids := range ids {
		out[uid] = l.own(cids)
	}
	return out, nil
}

// clientIDsByUid is cmd 15: list of connection numbers bound to uid ext.
func (l *Inner) clientIDsByUid(ctx context.Context, p *Packet) ([]byte, error) {
	uid := string(p.ExtData)
	conns, err := l.uidConns(ctx, []string{uid})
	if err != nil {
		return nil, err
	}
	return phpserial.MustMarshal(intList(conns[uid])), nil
}

// batchClientIDsByUid is cmd 16: map uid ⇒ list, every asked uid present.
func (l *Inner) batchClientIDsByUid(ctx context.Context, p *Packet) ([]byte, error) {
	uids := jsonValues(p.ExtData)
	conns, err := l.uidConns(ctx, uids)
	if err != nil {
		return nil, err
	}
	out := phpserial.NewArray()
	for _, uid := range uids {
		out.Set(groupKey(uid), intList(conns[uid]))
	}
	return phpserial.MustMarshal(out), nil
}

// groupIDList is cmd 26: the groups with a member here (numeric ids as ints).
func (l *Inner) groupIDList(ctx context.Context, _ *Packet) ([]byte, error) {
	gids, err := l.store.GroupIDsOnGateway(ctx, l.gw)
	if err != nil {
		return nil, err
	}
	slices.Sort(gids)
	out := phpserial.NewArray()
	for _, g := range gids {
		if k := groupKey(g); k.IsInt() {
			out.Append(k.Int())
		} else {
			out.Append(g)
		}
	}
	return phpserial.MustMarshal(out), nil
}

// sessionMap is the reply of cmds 10 and 23: connection ⇒ serialized
// session ("" when none).
func (l *Inner) sessionMap(ctx context.Context, cids []string) ([]byte, error) {
	conns := l.own(cids)
	ids := make([]string, len(conns))
	for i, n := range conns {
		ids[i] = clientID(l.gw, n)
	}
	recs, err := l.store.ClientRecords(ctx, ids, false)
	if err != nil {
		return nil, err
	}
	out := phpserial.NewArray()
	for i, r := range recs {
		if r != nil {
			out.Set(phpserial.IntKey(int64(conns[i])), sessionString(r.Session))
		}
	}
	return phpserial.MustMarshal(out), nil
}

func (l *Inner) allSessions(ctx context.Context, _ *Packet) ([]byte, error) {
	cids, err := l.store.ClientIDsOnGateway(ctx, l.gw)
	if err != nil {
		return nil, err
	}
	return l.sessionMap(ctx, cids)
}

func (l *Inner) groupSessions(ctx context.Context, p *Packet) ([]byte, error) {
	gid := string(p.ExtData)
	if !validID(gid) {
		return []byte("a:0:{}"), nil
	}
	cids, err := l.store.ClientIDsByGroup(ctx, gid)
	if err != nil {
		return nil, err
	}
	return l.sessionMap(ctx, cids)
}

// getSession is cmd 203: the session itself, not wrapped in a string;
// a:0:{} when the client has none, N; when it does not exist.
func (l *Inner) getSession(ctx context.Context, p *Packet) ([]byte, error) {
	recs, err := l.store.ClientRecords(ctx, []string{l.cid(p)}, false)
	if err != nil {
		return nil, err
	}
	if recs[0] == nil {
		return []byte("N;"), nil
	}
	_, ser, _ := phpView(recs[0].Session)
	return ser, nil
}

// selectCmd is cmd 25: ext {"fields":[…],"where":W}; the reply maps each
// matching connection to its requested fields (uid, groups, session).
func (l *Inner) selectCmd(ctx context.Context, p *Packet) ([]byte, error) {
	var req struct {
		Fields json.RawMessage `json:"fields"`
		Where  json.RawMessage `json:"where"`
	}
	if json.Unmarshal(p.ExtData, &req) != nil {
		return []byte("a:0:{}"), nil // GatewayWorker answers invalid JSON with an empty map
	}
	fields := jsonValues(req.Fields)
	conns, rowsAlways, err := l.selectWhere(ctx, req.Where)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(conns))
	for i, n := range conns {
		ids[i] = clientID(l.gw, n)
	}
	recs, err := l.store.ClientRecords(ctx, ids, slices.Contains(fields, "groups"))
	if err != nil {
		return nil, err
	}
	out := phpserial.NewArray()
	for i, r := range recs {
		if r == nil || len(fields) == 0 && !rowsAlways {
			continue
		}
		out.Set(phpserial.IntKey(int64(conns[i])), selectRow(r, fields))
	}
	return phpserial.MustMarshal(out), nil
}

// selectWhere returns the connections W selects here: all of them for an
// empty W, else the union of its groups, uid and connection_id conditions.
// rowsAlways reports that a row is due even with no fields (GatewayWorker
// creates the row before filling fields only when W is not empty).
func (l *Inner) selectWhere(ctx context.Context, raw json.RawMessage) (conns []uint32, rowsAlways bool, err error) {
	var where map[string]json.RawMessage
	if json.Unmarshal(raw, &where) != nil || len(where) == 0 {
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			return nil, true, nil // a non-empty list names no condition GatewayWorker knows
		}
		cids, err := l.store.ClientIDsOnGateway(ctx, l.gw)
		return l.own(cids), false, err
	}
	var cids []string
	for _, gid := range validIDs(jsonValues(where["groups"])) {
		members, err := l.store.ClientIDsByGroup(ctx, gid)
		if err != nil {
			return nil, true, err
		}
		cids = append(cids, members...)
	}
	byUid, err := l.store.ClientIDsByUids(ctx, validIDs(jsonValues(where["uid"])))
	if err != nil {
		return nil, true, err
	}
	for _, list := range byUid {
		cids = append(cids, list...)
	}
	cids = append(cids, l.cids(jsonValues(where["connection_id"]))...)
	return l.own(cids), true, nil
}

// selectRow is one connection's row: uid (null when unbound), groups (map
// group ⇒ group, null when in none), session (serialized, "" when none);
// null for any other field name.
func selectRow(r *session.ClientRecord, fields []string) *phpserial.Array {
	row := phpserial.NewArray()
	for _, f := range fields {
		var v phpserial.Value
		switch f {
		case "uid":
			if r.Uid != "" {
				v = r.Uid
			}
		case "groups":
			if len(r.Groups) > 0 {
				g := slices.Sorted(slices.Values(r.Groups))
				m := phpserial.NewArray()
				for _, gid := range g {
					m.Set(groupKey(gid), gid)
				}
				v = m
			}
		case "session":
			v = sessionString(r.Session)
		}
		row.Set(phpserial.StrKey(f), v)
	}
	return row
}
