package pushapi

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/session"
)

// payload is what a client receives, as one text frame. A JSON string is
// sent as its value ("hi" → hi); any other JSON value (object, array,
// number) is sent as the exact bytes given, so apps can post their message
// object without encoding it twice.
type payload json.RawMessage

// UnmarshalJSON keeps the raw value; decoding happens in bytes.
func (p *payload) UnmarshalJSON(b []byte) error {
	*p = append((*p)[:0], b...)
	return nil
}

// bytes returns the frame text, or nil when the field was absent or null.
func (p payload) bytes() ([]byte, error) {
	raw := bytes.TrimSpace(p)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &badRequest{codeBadJSON, "payload: " + err.Error()}
		}
		return []byte(s), nil
	}
	return raw, nil
}

// sendRequest is the body of every /send/* route; each route reads the
// target fields it names.
type sendRequest struct {
	ClientID  string   `json:"client_id"`
	ClientIDs []string `json:"client_ids"`
	Uid       string   `json:"uid"`
	Uids      []string `json:"uids"`
	Group     string   `json:"group"`
	Groups    []string `json:"groups"`
	Payload   payload  `json:"payload"`
	Exclude   []string `json:"exclude"`
	// Recoverable sends to groups through their recovery log, creating it
	// (session.Recoverable); the payload must then be a JSON object.
	Recoverable bool `json:"recoverable"`
}

// sendFunc sends msg to the targets of req.
type sendFunc func(ctx context.Context, s Sender, req *sendRequest, msg []byte, opts ...session.SendOption) error

// sendRequests recycles request structs (and their payload buffers) across
// requests: the push path allocates little per request.
var sendRequests = sync.Pool{New: func() any { return new(sendRequest) }}

// send builds a handler for one /send/* route. need names the target field
// that must be present ("" for /send/all).
func (a *api) send(need string, f sendFunc) fiber.Handler {
	return func(c *fiber.Ctx) error {
		req := sendRequests.Get().(*sendRequest)
		defer func() { req.reset(); sendRequests.Put(req) }()
		if err := decodeSend(c, req); err != nil {
			return a.fail(c, err)
		}
		if err := req.check(need); err != nil {
			return a.fail(c, err)
		}
		msg, err := req.Payload.bytes()
		if err != nil {
			return a.fail(c, err)
		}
		if msg == nil {
			return a.fail(c, missing("payload"))
		}
		ctx, cancel := a.ctx(c)
		defer cancel()
		var opts []session.SendOption
		if len(req.Exclude) > 0 {
			opts = append(opts, session.Exclude(req.Exclude...))
		}
		if req.Recoverable {
			opts = append(opts, session.Recoverable())
		}
		if err := f(ctx, a.store, req, msg, opts...); err != nil {
			return a.fail(c, err)
		}
		return sendOK(c)
	}
}

// reset empties r for reuse, keeping the payload buffer.
func (r *sendRequest) reset() {
	*r = sendRequest{Payload: r.Payload[:0]}
}

// check reports a missing target. Lists must be present but may be empty
// (sending to no one is a no-op, as in GatewayClient).
func (r *sendRequest) check(need string) error {
	var absent bool
	switch need {
	case "client_id":
		absent = r.ClientID == ""
	case "client_ids":
		absent = r.ClientIDs == nil
	case "uid":
		absent = r.Uid == ""
	case "uids":
		absent = r.Uids == nil
	case "group":
		absent = r.Group == ""
	case "groups":
		absent = r.Groups == nil
	}
	if absent {
		return missing(need)
	}
	return nil
}

// The send functions of the /send/* routes, one per target kind.
func toAll(ctx context.Context, s Sender, _ *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToAll(ctx, m, o...)
}

func toClient(ctx context.Context, s Sender, r *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToClient(ctx, r.ClientID, m, o...)
}

func toClients(ctx context.Context, s Sender, r *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToClients(ctx, r.ClientIDs, m, o...)
}

func toUid(ctx context.Context, s Sender, r *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToUid(ctx, r.Uid, m, o...)
}

func toUids(ctx context.Context, s Sender, r *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToUids(ctx, r.Uids, m, o...)
}

func toGroup(ctx context.Context, s Sender, r *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToGroup(ctx, r.Group, m, o...)
}

func toGroups(ctx context.Context, s Sender, r *sendRequest, m []byte, o ...session.SendOption) error {
	return s.SendToGroups(ctx, r.Groups, m, o...)
}
