package session

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Event types appended to the events stream.
const (
	EventConnect = "connect"
	EventMessage = "message"
	EventClose   = "close"
)

// DefaultEventsMaxLen caps the events stream when Options.EventsMaxLen is 0.
const DefaultEventsMaxLen = 100000

// Event is one entry of the events stream, the BusinessWorker side of
// GatewayWorker: workers in any language read it with a consumer group
// (XREADGROUP), which gives at-least-once delivery shared across workers.
type Event struct {
	Type     string    // EventConnect, EventMessage or EventClose
	ClientID string    // the connection
	Gateway  string    // the gateway that held it
	Uid      string    // bound uid, "" when unbound
	IP       string    // remote address of the client
	Session  Session   // app session snapshot (close: as it was at close)
	Groups   []string  // groups the client was in (close only)
	Data     string    // the client's text frame (message only)
	Reason   string    // why it closed (close only)
	At       time.Time // when it happened
}

// fields flattens e into stream entry fields; every value is a string so that
// any client library reads it without decoding, except session and groups,
// which are JSON.
func (e *Event) fields() []any {
	f := []any{
		"type", e.Type, "client_id", e.ClientID, "gateway", e.Gateway,
		"uid", e.Uid, "ip", e.IP, "ts", strconv.FormatInt(e.At.UnixMilli(), 10),
	}
	if e.Session != nil {
		b, _ := json.Marshal(e.Session)
		f = append(f, "session", string(b))
	}
	if e.Groups != nil {
		b, _ := json.Marshal(e.Groups)
		f = append(f, "groups", string(b))
	}
	if e.Type == EventMessage {
		f = append(f, "data", e.Data)
	}
	if e.Reason != "" {
		f = append(f, "reason", e.Reason)
	}
	return f
}

// AppendEvent adds e to the events stream, trimmed to about maxLen entries
// (DefaultEventsMaxLen when maxLen <= 0).
func (s *Events) AppendEvent(ctx context.Context, e *Event, maxLen int64) error {
	return s.appendEvent(ctx, e, maxLen)
}

// appendEvent is AppendEvent, shared with the reaper.
func (s *core) appendEvent(ctx context.Context, e *Event, maxLen int64) error {
	if maxLen <= 0 {
		maxLen = DefaultEventsMaxLen
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: string(s.k.events()),
		MaxLen: maxLen,
		Approx: true,
		Values: e.fields(),
	}).Err()
	return wrap("append event", err)
}

// AppendEvents adds es to the events stream in order, in one pipelined round
// trip, trimmed like AppendEvent. On error some of es may have been added
// (those before the failure, in order).
func (s *Events) AppendEvents(ctx context.Context, es []*Event, maxLen int64) error {
	if len(es) == 0 {
		return nil
	}
	if maxLen <= 0 {
		maxLen = DefaultEventsMaxLen
	}
	pipe := s.rdb.Pipeline()
	for _, e := range es {
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: string(s.k.events()),
			MaxLen: maxLen,
			Approx: true,
			Values: e.fields(),
		})
	}
	_, err := pipe.Exec(ctx)
	return wrap("append events", err)
}

// EventsStream returns the name of the events stream, for consumers.
func (s *Events) EventsStream() string { return string(s.k.events()) }
