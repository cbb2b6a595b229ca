package session

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	return e.appendJSON(make([]byte, 0, e.sizeHint()))
}

// appendJSON appends e as encoding/json would marshal it (same fields, order,
// omitempty and string escaping; TestEnvelopeEncodeAsJSON and
// FuzzEnvelopeEncode compare the two), without reflection: every push
// encodes one.
func (e *Envelope) appendJSON(b []byte) []byte {
	b = append(b, `{"op":`...)
	b = appendJSONString(b, string(e.Op))
	b = appendJSONList(b, `,"clients":`, e.Clients)
	b = appendJSONList(b, `,"uids":`, e.Uids)
	b = appendJSONList(b, `,"groups":`, e.Groups)
	b = appendJSONList(b, `,"exclude":`, e.Exclude)
	if e.Payload != "" {
		b = appendJSONString(append(b, `,"payload":`...), e.Payload)
	}
	if len(e.Session) > 0 {
		fields := make([]string, 0, len(e.Session))
		for f := range e.Session {
			fields = append(fields, f)
		}
		slices.Sort(fields)
		b = append(b, `,"session":{`...)
		for i, f := range fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(append(appendJSONString(b, f), ':'), e.Session[f])
		}
		b = append(b, '}')
	}
	if e.Reason != "" {
		b = appendJSONString(append(b, `,"reason":`...), e.Reason)
	}
	if e.TS != 0 {
		b = strconv.AppendInt(append(b, `,"ts":`...), e.TS, 10)
	}
	if e.Seq != 0 {
		b = strconv.AppendInt(append(b, `,"seq":`...), e.Seq, 10)
	}
	if e.Epoch != "" {
		b = appendJSONString(append(b, `,"epoch":`...), e.Epoch)
	}
	return append(b, '}')
}

// sizeHint is about the encoded size of e (no reallocation for plain text).
func (e *Envelope) sizeHint() int {
	n := 64 + len(e.Payload) + len(e.Reason) + len(e.Epoch)
	for _, l := range [][]string{e.Clients, e.Uids, e.Groups, e.Exclude} {
		for _, s := range l {
			n += len(s) + 3
		}
	}
	for f, v := range e.Session {
		n += len(f) + len(v) + 6
	}
	return n + len(e.Payload)/8
}

func appendJSONList(b []byte, name string, l []string) []byte {
	if len(l) == 0 {
		return b
	}
	b = append(b, name...)
	b = append(b, '[')
	for i, s := range l {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string exactly as encoding/json does
// (HTML-safe: <, > and & escaped; U+2028 and U+2029 escaped; invalid UTF-8
// replaced by U+FFFD).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(append(b, s[start:i]...), `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(append(b, s[start:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	return append(append(b, s[start:]...), '"')
}
