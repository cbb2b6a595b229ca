package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Op names what an envelope asks a gateway to do.
type Op string

// Envelope operations. Only OpSend carries a payload for clients; the others
// keep a gateway's local indexes in step with Redis (see docs/redis-protocol.md).
const (
	OpSend          Op = "send"           // deliver Payload to Clients ∪ Uids ∪ Groups (all local clients on the broadcast channel), minus Exclude
	OpJoin          Op = "join"           // Clients joined Groups
	OpLeave         Op = "leave"          // Clients left Groups
	OpUngroup       Op = "ungroup"        // Groups were dissolved
	OpBind          Op = "bind"           // Clients were bound to Uids[0]
	OpUnbind        Op = "unbind"         // Clients were unbound from Uids[0]
	OpSetSession    Op = "set_session"    // Clients' app session replaced by Session
	OpUpdateSession Op = "update_session" // Session merged into Clients' app session
	OpClose         Op = "close"          // close Clients, after sending Payload if set
)

// Envelope is the JSON message published on a gateway inbox or the broadcast
// channel. It is small enough to write by hand from any language, e.g.
//
//	{"op":"send","groups":["room1"],"exclude":["gw1.abc"],"payload":"{\"type\":\"say\"}"}
//
// A gateway decodes an envelope once and writes the same payload bytes to
// every local target.
type Envelope struct {
	Op      Op                `json:"op"`
	Clients []string          `json:"clients,omitempty"`
	Uids    []string          `json:"uids,omitempty"`
	Groups  []string          `json:"groups,omitempty"`
	Exclude []string          `json:"exclude,omitempty"`
	Payload string            `json:"payload,omitempty"`
	Session map[string]string `json:"session,omitempty"`
	Reason  string            `json:"reason,omitempty"`
	// TS is when the sender published, in Unix milliseconds (optional): gateways
	// report now − TS as inbox lag.
	TS int64 `json:"ts,omitempty"`
	// Seq and Epoch are set on a send to a recoverable group (one group):
	// the message's seq in the group's log and the log's epoch, also
	// appended to the payload (docs/redis-protocol.md, "Recoverable groups").
	Seq   int64  `json:"seq,omitempty"`
	Epoch string `json:"epoch,omitempty"`
}

// ErrBadEnvelope wraps every envelope decoding failure.
var ErrBadEnvelope = errors.New("bad envelope")

// DecodeEnvelope parses and validates one envelope. It never panics on any
// input; an unknown op or a target list that the op needs but lacks is an error.
func DecodeEnvelope(b []byte) (*Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEnvelope, err)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

func (e *Envelope) validate() error {
	bad := func(why string) error { return fmt.Errorf("%w: op %q: %s", ErrBadEnvelope, e.Op, why) }
	switch e.Op {
	case OpSend:
		if !utf8.ValidString(e.Payload) {
			return bad("payload is not valid UTF-8")
		}
	case OpJoin, OpLeave:
		if len(e.Clients) == 0 || len(e.Groups) == 0 {
			return bad("needs clients and groups")
		}
	case OpUngroup:
		if len(e.Groups) == 0 {
			return bad("needs groups")
		}
	case OpBind, OpUnbind:
		if len(e.Clients) == 0 || len(e.Uids) != 1 {
			return bad("needs clients and exactly one uid")
		}
	case OpSetSession, OpUpdateSession, OpClose:
		if len(e.Clients) == 0 {
			return bad("needs clients")
		}
	case "":
		return fmt.Errorf("%w: missing op", ErrBadEnvelope)
	default:
		return bad("unknown op")
	}
	return nil
}

// encode stamps e with the current time and marshals it; it cannot fail for
// the field types used.
func (e *Envelope) encode() []byte {
	if e.TS == 0 {
		e.TS = time.Now().UnixMilli()
	}
	b, err := json.Marshal(e)
	if err != nil {
		panic("session: encode envelope: " + err.Error())
	}
	return b
}
