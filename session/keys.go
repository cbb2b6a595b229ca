package session

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultPrefix is the key and channel prefix used when Options.Prefix is empty.
const DefaultPrefix = "chat:"

// Key is a Redis key or channel name built by this package. Nothing outside
// session concatenates key text: the layout is a wire contract (docs/redis-protocol.md).
type Key string

// keys builds every key and channel name from one prefix.
//
// The part in braces is a Redis Cluster hash tag: keys that one Lua script
// touches share it, so they live in one slot (client hash + its groups set;
// group set + its gateway counts; a gateway's clients set + its alive key +
// its inbox channel, which sharded pub/sub routes by the same slot).
type keys struct{ p string }

func (k keys) client(cid string) Key       { return Key(k.p + "client:{" + cid + "}") }
func (k keys) clientGroups(cid string) Key { return Key(k.p + "client:{" + cid + "}:groups") }
func (k keys) uid(uid string) Key          { return Key(k.p + "uid:{" + uid + "}") }
func (k keys) group(gid string) Key        { return Key(k.p + "group:{" + gid + "}") }
func (k keys) groupGateways(gid string) Key {
	return Key(k.p + "group:{" + gid + "}:gw")
}
func (k keys) groupLogState(gid string) Key { return Key(k.p + "group:{" + gid + "}:seq") }
func (k keys) groupLog(gid string) Key      { return Key(k.p + "group:{" + gid + "}:log") }
func (k keys) groups() Key                  { return Key(k.p + "groups") }
func (k keys) uids() Key                    { return Key(k.p + "uids") }
func (k keys) gateways() Key                { return Key(k.p + "gateways") }
func (k keys) gwClients(gw string) Key      { return Key(k.p + "gw:{" + gw + "}:clients") }
func (k keys) gwAlive(gw string) Key        { return Key(k.p + "gw:{" + gw + "}:alive") }
func (k keys) reapLock(gw string) Key       { return Key(k.p + "gw:{" + gw + "}:reap") }
func (k keys) inbox(gw string) Key          { return Key(k.p + "gw:{" + gw + "}") }
func (k keys) broadcast() Key               { return Key(k.p + "all") }
func (k keys) events() Key                  { return Key(k.p + "events") }

// System fields of the client hash. App session fields may not start with '_'.
const (
	fieldGateway = "_gw"
	fieldUid     = "_uid"
	fieldIP      = "_ip"
	fieldAt      = "_at"
	// fieldSerialized holds the session as a GatewayWorker client last wrote
	// it (PHP serialize), beside its top-level scalars mirrored as app fields
	// (docs/gatewayworker.md, "Sessions"). session treats it as opaque.
	fieldSerialized = "_php"
)

// maxIDLen bounds client, uid, group and gateway ids (bytes).
const maxIDLen = 256

// Errors returned by the push API. Callers branch with errors.Is.
var (
	// ErrNoClient: the client id names no live connection.
	ErrNoClient = errors.New("no such client")
	// ErrInvalidID: an id is empty, too long, or holds a forbidden character.
	ErrInvalidID = errors.New("invalid id")
	// ErrReservedField: an app session field starts with '_' (reserved for system fields).
	ErrReservedField = errors.New("reserved session field")
	// ErrInvalidPayload: a payload is not valid UTF-8 (a WebSocket text frame must be).
	ErrInvalidPayload = errors.New("payload is not valid UTF-8")
)

// validID reports whether s can be used as a uid, group id or client id.
// Braces are refused because they would break the Cluster hash tags; control
// characters because ids end up in logs and JSON.
func validID(s string) error {
	if s == "" || len(s) > maxIDLen {
		return fmt.Errorf("%w: %q must be 1..%d bytes", ErrInvalidID, s, maxIDLen)
	}
	if i := strings.IndexFunc(s, func(r rune) bool { return r == '{' || r == '}' || r < 0x20 || r == 0x7f }); i >= 0 {
		return fmt.Errorf("%w: %q holds a forbidden character at %d", ErrInvalidID, s, i)
	}
	return nil
}

// validGatewayID is stricter: a gateway id is the part of a client id before the first dot.
func validGatewayID(s string) error {
	if s == "" || len(s) > 64 {
		return fmt.Errorf("%w: gateway id %q must be 1..64 bytes", ErrInvalidID, s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("%w: gateway id %q: only a-z 0-9 - _ allowed", ErrInvalidID, s)
		}
	}
	return nil
}

func validPrefix(p string) error {
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("session: prefix %q must not contain braces (Cluster hash tags)", p)
	}
	return nil
}
