package gatewayworker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/session"
)

// command is one GatewayProtocol command. A query returns the serialized
// reply; other commands return nil.
type command struct {
	name  string
	query bool
	run   func(l *Inner, ctx context.Context, p *Packet) ([]byte, error)
}

// commands are the commands GatewayClient's public methods send
// (docs/gatewayworker.md, "Commands"), each restricted to this gateway.
var commands = map[uint8]command{
	CmdSendToOne:                  {"send_to_one", false, (*Inner).sendToOne},
	CmdSendToAll:                  {"send_to_all", false, (*Inner).sendToAll},
	CmdKick:                       {"kick", false, (*Inner).kick},
	CmdDestroy:                    {"destroy", false, (*Inner).destroy},
	CmdUpdateSession:              {"update_session", false, (*Inner).updateSessionCmd},
	CmdGetAllClientSessions:       {"get_all_client_sessions", true, (*Inner).allSessions},
	CmdIsOnline:                   {"is_online", true, (*Inner).isOnline},
	CmdBindUid:                    {"bind_uid", false, (*Inner).bindUid},
	CmdUnbindUid:                  {"unbind_uid", false, (*Inner).unbindUid},
	CmdSendToUid:                  {"send_to_uid", false, (*Inner).sendToUid},
	CmdGetClientIDByUid:           {"get_client_id_by_uid", true, (*Inner).clientIDsByUid},
	CmdBatchGetClientIDByUid:      {"batch_get_client_id_by_uid", true, (*Inner).batchClientIDsByUid},
	CmdJoinGroup:                  {"join_group", false, (*Inner).joinGroup},
	CmdLeaveGroup:                 {"leave_group", false, (*Inner).leaveGroup},
	CmdSendToGroup:                {"send_to_group", false, (*Inner).sendToGroup},
	CmdGetClientSessionsByGroup:   {"get_client_sessions_by_group", true, (*Inner).groupSessions},
	CmdGetClientCountByGroup:      {"get_client_count_by_group", true, (*Inner).countByGroup},
	CmdSelect:                     {"select", true, (*Inner).selectCmd},
	CmdGetGroupIDList:             {"get_group_id_list", true, (*Inner).groupIDList},
	CmdUngroup:                    {"ungroup", false, (*Inner).ungroup},
	CmdBatchGetClientCountByGroup: {"batch_get_client_count_by_group", true, (*Inner).batchCountByGroup},
	CmdGetSessionByClientID:       {"get_session_by_client_id", true, (*Inner).getSession},
	CmdSetSession:                 {"set_session", false, (*Inner).setSessionCmd},
}

// cid is the client id of the packet's connection on this gateway.
func (l *Inner) cid(p *Packet) string { return clientID(l.gw, p.ConnectionID) }

// phpEmpty reports whether PHP's empty() holds for a string: "" and "0".
// GatewayWorker ignores a uid or group that is empty.
func phpEmpty(s string) bool { return s == "" || s == "0" }

// payloads returns the messages a send packet carries: its body as a string
// (a string, or a serialized scalar converted as PHP does), or with the raw
// flag, the payloads of the WebSocket frames in it.
func payloads(p *Packet) ([][]byte, error) {
	v, err := p.BodyValue()
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	s, ok := scalarString(v)
	if !ok {
		return nil, fmt.Errorf("message is a PHP %s, not a string", phpType(v))
	}
	if p.Flag&FlagNotCallEncode != 0 {
		return unframe([]byte(s))
	}
	return [][]byte{[]byte(s)}, nil
}

func phpType(v phpserial.Value) string {
	if v == nil {
		return "null"
	}
	return "array"
}

// sendEach sends every message of p with send. chatgate sends text frames:
// a message that is not valid UTF-8 is refused (logged by the caller).
func sendEach(p *Packet, send func(msg []byte) error) error {
	msgs, err := payloads(p)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := send(m); err != nil {
			return err
		}
	}
	return nil
}

// ignoreGone drops the error a command gets for a client that is gone
// (GatewayWorker ignores commands for unknown connections).
func ignoreGone(err error) error {
	if errors.Is(err, session.ErrNoClient) {
		return nil
	}
	return err
}

func (l *Inner) sendToOne(ctx context.Context, p *Packet) ([]byte, error) {
	cid := l.cid(p)
	return nil, sendEach(p, func(m []byte) error { return l.store.SendToClients(ctx, []string{cid}, m, session.OnGateway(l.gw)) })
}

// sendToAll is cmd 6: every client of this gateway, or ext
// {"connections":{…}} only those, or all but ext {"exclude":{…}}.
func (l *Inner) sendToAll(ctx context.Context, p *Packet) ([]byte, error) {
	var ext struct {
		Connections json.RawMessage `json:"connections"`
		Exclude     json.RawMessage `json:"exclude"`
	}
	// As in GatewayWorker, ext_data that is not a JSON object means "all".
	if len(p.ExtData) > 0 && json.Unmarshal(p.ExtData, &ext) == nil && !isNull(ext.Connections) {
		cids := l.cids(jsonValues(ext.Connections))
		return nil, sendEach(p, func(m []byte) error { return l.store.SendToClients(ctx, cids, m, session.OnGateway(l.gw)) })
	}
	opts := []session.SendOption{session.OnGateway(l.gw)}
	if ex := l.cids(jsonKeys(ext.Exclude)); len(ex) > 0 {
		opts = append(opts, session.Exclude(ex...))
	}
	return nil, sendEach(p, func(m []byte) error { return l.store.SendToAll(ctx, m, opts...) })
}

// sendToUid is cmd 14: ext is a JSON list of uids.
func (l *Inner) sendToUid(ctx context.Context, p *Packet) ([]byte, error) {
	uids := validIDs(jsonValues(p.ExtData))
	if len(uids) == 0 {
		return nil, nil
	}
	return nil, sendEach(p, func(m []byte) error { return l.store.SendToUids(ctx, uids, m, session.OnGateway(l.gw)) })
}

// sendToGroup is cmd 22: ext {"group":[…],"exclude":null|{"<id>":<id>,…}}.
// A client in several of the groups gets the message once (GatewayWorker
// sends it once per group).
func (l *Inner) sendToGroup(ctx context.Context, p *Packet) ([]byte, error) {
	var ext struct {
		Group   json.RawMessage `json:"group"`
		Exclude json.RawMessage `json:"exclude"`
	}
	if err := json.Unmarshal(p.ExtData, &ext); err != nil {
		return nil, fmt.Errorf("ext_data: %w", err)
	}
	gids := validIDs(jsonValues(ext.Group))
	if len(gids) == 0 {
		return nil, nil
	}
	opts := []session.SendOption{session.OnGateway(l.gw)}
	if ex := l.cids(jsonKeys(ext.Exclude)); len(ex) > 0 {
		opts = append(opts, session.Exclude(ex...))
	}
	return nil, sendEach(p, func(m []byte) error { return l.store.SendToGroups(ctx, gids, m, opts...) })
}

// kick is cmd 7: send the body (unless it is null) and close. chatgate
// closes with a WebSocket close frame (1000) after the message.
func (l *Inner) kick(ctx context.Context, p *Packet) ([]byte, error) {
	v, err := p.BodyValue()
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	var msg []byte
	if v != nil {
		s, ok := scalarString(v)
		if !ok {
			return nil, fmt.Errorf("message is a PHP %s, not a string", phpType(v))
		}
		msg = []byte(s)
	}
	return nil, ignoreGone(l.store.CloseClient(ctx, l.cid(p), msg))
}

// destroy is cmd 8: close at once. chatgate closes as kick does, without a
// message (frames already queued for the client are still written).
func (l *Inner) destroy(ctx context.Context, p *Packet) ([]byte, error) {
	return nil, ignoreGone(l.store.CloseClient(ctx, l.cid(p), nil))
}

func (l *Inner) bindUid(ctx context.Context, p *Packet) ([]byte, error) {
	uid := string(p.ExtData)
	if phpEmpty(uid) {
		return nil, nil
	}
	return nil, ignoreGone(l.store.BindUid(ctx, l.cid(p), uid))
}

// unbindUid is cmd 13: GatewayWorker ignores the uid sent and unbinds the
// connection from whatever uid it is bound to.
func (l *Inner) unbindUid(ctx context.Context, p *Packet) ([]byte, error) {
	cid := l.cid(p)
	uid, err := l.store.UidByClient(ctx, cid)
	if err != nil || uid == "" {
		return nil, ignoreGone(err)
	}
	return nil, ignoreGone(l.store.UnbindUid(ctx, cid, uid))
}

func (l *Inner) joinGroup(ctx context.Context, p *Packet) ([]byte, error) {
	if gid := string(p.ExtData); !phpEmpty(gid) {
		return nil, ignoreGone(l.store.JoinGroup(ctx, l.cid(p), gid))
	}
	return nil, nil
}

func (l *Inner) leaveGroup(ctx context.Context, p *Packet) ([]byte, error) {
	if gid := string(p.ExtData); !phpEmpty(gid) {
		return nil, ignoreGone(l.store.LeaveGroup(ctx, l.cid(p), gid))
	}
	return nil, nil
}

// ungroup is cmd 27: this gateway's members leave the group.
func (l *Inner) ungroup(ctx context.Context, p *Packet) ([]byte, error) {
	if gid := string(p.ExtData); !phpEmpty(gid) {
		return nil, l.store.UngroupOnGateway(ctx, gid, l.gw)
	}
	return nil, nil
}

func (l *Inner) setSessionCmd(ctx context.Context, p *Packet) ([]byte, error) {
	return nil, l.setSession(ctx, l.cid(p), p.ExtData)
}

func (l *Inner) updateSessionCmd(ctx context.Context, p *Packet) ([]byte, error) {
	return nil, l.updateSession(ctx, l.cid(p), p.ExtData)
}

// cids turns connection numbers (decimal strings) into client ids of this
// gateway, skipping anything that is not a 32-bit number.
func (l *Inner) cids(conns []string) []string {
	out := make([]string, 0, len(conns))
	for _, s := range conns {
		if n, err := strconv.ParseUint(s, 10, 32); err == nil {
			out = append(out, clientID(l.gw, uint32(n)))
		}
	}
	return out
}

// validIDs keeps the uids or group ids chatgate accepts: not PHP-empty,
// 1..256 bytes, no braces or control characters (an id chatgate cannot
// store matches nothing, as an unknown one does on GatewayWorker).
func validIDs(ids []string) []string {
	out := ids[:0]
	for _, id := range ids {
		if !phpEmpty(id) && validID(id) {
			out = append(out, id)
		}
	}
	return out
}

func validID(id string) bool {
	if id == "" || len(id) > 256 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c == '{' || c == '}' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// jsonValues returns the values of a JSON list or object as PHP strings
// (strings as they are, numbers as written, true "1", false and null "").
// Anything else gives nothing.
func jsonValues(raw json.RawMessage) []string {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			return nil
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			list = append(list, obj[k])
		}
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		if s, ok := jsonScalar(v); ok {
			out = append(out, s)
		}
	}
	return out
}

// jsonKeys returns the keys of a JSON object (GatewayClient's exclude maps
// are {"<id>":<id>}), or the values of a JSON list.
func jsonKeys(raw json.RawMessage) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return jsonValues(raw)
	}
	out := make([]string, 0, len(obj))
	for k := range obj {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func jsonScalar(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", false
	}
	switch raw[0] {
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err == nil
	case 't':
		return "1", string(raw) == "true"
	case 'f', 'n':
		return "", string(raw) == "false" || string(raw) == "null"
	case '[', '{':
		return "", false
	}
	var n json.Number
	err := json.Unmarshal(raw, &n)
	return n.String(), err == nil
}
