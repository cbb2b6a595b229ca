package session

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// StreamEvent is one entry of the events stream as a consumer reads it.
type StreamEvent struct {
	ID    string // stream entry id, for AckEvents
	Event Event
}

// EnsureEventsGroup creates consumer group group on the events stream,
// creating the stream if needed (XGROUP CREATE … $ MKSTREAM). A new group
// starts at the end: events appended before it existed are not delivered.
// An existing group is left alone.
func (s *Events) EnsureEventsGroup(ctx context.Context, group string) error {
	return s.EnsureEventsGroupFrom(ctx, group, "$")
}

// EnsureEventsGroupFrom is EnsureEventsGroup with the group starting after
// stream id from: "0" delivers every event still in the stream, "$" only new
// ones. An existing group is left where it is.
func (s *Events) EnsureEventsGroupFrom(ctx context.Context, group, from string) error {
	err := s.rdb.XGroupCreateMkStream(ctx, string(s.k.events()), group, from).Err()
	if err != nil && strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return nil
	}
	return wrap("create events group", err)
}

// ReadEvents reads up to count new events for consumer of group, waiting up
// to block when there are none (0 returns at once). It returns no events and
// no error when none arrived. ErrNoConsumerGroup means the group is gone.
// Each event must be acknowledged with AckEvents once handled; unacknowledged
// ones are redelivered to whoever claims them (ClaimStaleEvents).
func (s *Events) ReadEvents(ctx context.Context, group, consumer string, count int64, block time.Duration) ([]StreamEvent, error) {
	return s.readGroup(ctx, group, consumer, ">", count, block)
}

// ReadPendingEvents returns up to count events that consumer of group read
// before but has not acknowledged (a worker calls it once at start to finish
// what it fetched before a restart), oldest first, without waiting. An entry
// trimmed from the stream while pending comes back with a zero Event (Type
// ""): acknowledge it and move on.
func (s *Events) ReadPendingEvents(ctx context.Context, group, consumer string, count int64) ([]StreamEvent, error) {
	return s.readGroup(ctx, group, consumer, "0", count, 0)
}

// readGroup is XREADGROUP on the events stream from id (">" new, "0" pending).
func (s *core) readGroup(ctx context.Context, group, consumer, id string, count int64, block time.Duration) ([]StreamEvent, error) {
	if block <= 0 {
		block = -1 // go-redis: negative omits BLOCK
	}
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{string(s.k.events()), id},
		Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("read events", groupErr(err))
	}
	var out []StreamEvent
	for _, st := range res {
		for _, m := range st.Messages {
			out = append(out, StreamEvent{ID: m.ID, Event: parseEvent(m.Values)})
		}
	}
	return out, nil
}

// ClaimStaleEvents takes over events of group that another consumer read but
// did not acknowledge within minIdle (XAUTOCLAIM), scanning from start ("0-0"
// for the beginning). It returns the claimed events and the cursor to pass
// next time ("0-0" when the scan wrapped around).
func (s *Events) ClaimStaleEvents(ctx context.Context, group, consumer string, minIdle time.Duration, start string, count int64) ([]StreamEvent, string, error) {
	if start == "" {
		start = "0-0"
	}
	msgs, next, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: string(s.k.events()), Group: group, Consumer: consumer,
		MinIdle: minIdle, Start: start, Count: count,
	}).Result()
	if err != nil {
		return nil, start, wrap("claim events", groupErr(err))
	}
	out := make([]StreamEvent, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, StreamEvent{ID: m.ID, Event: parseEvent(m.Values)})
	}
	return out, next, nil
}

// TailEvents reads up to count events appended after stream id after ("$":
// from now on), without a consumer group (XREAD), waiting up to block when
// there are none. It returns the events and the id to pass next time (after
// itself when none arrived). For a single reader that may miss events while
// it is down; workers that must not miss any use a group (ReadEvents).
func (s *Events) TailEvents(ctx context.Context, after string, count int64, block time.Duration) ([]StreamEvent, string, error) {
	if block <= 0 {
		block = -1 // go-redis: negative omits BLOCK
	}
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{string(s.k.events()), after}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, after, nil
	}
	if err != nil {
		return nil, after, wrap("tail events", err)
	}
	var out []StreamEvent
	for _, st := range res {
		for _, m := range st.Messages {
			out = append(out, StreamEvent{ID: m.ID, Event: parseEvent(m.Values)})
			after = m.ID
		}
	}
	return out, after, nil
}

// AckEvents acknowledges handled events of group.
func (s *Events) AckEvents(ctx context.Context, group string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return wrap("ack events", groupErr(s.rdb.XAck(ctx, string(s.k.events()), group, ids...).Err()))
}

// groupErr turns Redis's NOGROUP reply into ErrNoConsumerGroup.
func groupErr(err error) error {
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		return errors.Join(ErrNoConsumerGroup, err)
	}
	return err
}

// parseEvent reads the fields Event.fields writes; unknown or malformed
// fields are left empty rather than failing the whole entry.
func parseEvent(v map[string]any) Event {
	str := func(k string) string { s, _ := v[k].(string); return s }
	e := Event{
		Type: str("type"), ClientID: str("client_id"), Gateway: str("gateway"),
		Uid: str("uid"), IP: str("ip"), Data: str("data"), Reason: str("reason"),
	}
	if ms, err := strconv.ParseInt(str("ts"), 10, 64); err == nil {
		e.At = time.UnixMilli(ms)
	}
	if raw := str("session"); raw != "" {
		_ = json.Unmarshal([]byte(raw), &e.Session)
	}
	if raw := str("groups"); raw != "" {
		_ = json.Unmarshal([]byte(raw), &e.Groups)
	}
	return e
}
