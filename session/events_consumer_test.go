package session

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// eventsStore returns a Store on a fresh miniredis.
func eventsStore(t *testing.T) (*Store, *miniredis.Miniredis) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return New(rdb, &Options{Prefix: "t:"}), mr
}

func TestEventsConsumerGroup(t *testing.T) {
	t.Parallel()
	s, mr := eventsStore(t)
	ctx := context.Background()
	if err := s.EnsureEventsGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureEventsGroup(ctx, "g"); err != nil {
		t.Fatalf("second create: %v", err)
	}
	ev := &Event{Type: EventClose, ClientID: "gw1.abc", Gateway: "gw1", Uid: "u1", IP: "127.0.0.1",
		Session: Session{"uname": "Ada", "room_id": "r1"}, Groups: []string{"r1"}, Reason: "bye", At: time.UnixMilli(1234)}
	if err := s.AppendEvent(ctx, ev, 0); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadEvents(ctx, "g", "c1", 10, 0)
	if err != nil || len(got) != 1 {
		t.Fatalf("ReadEvents: %v %v", got, err)
	}
	e := got[0].Event
	if e.Type != EventClose || e.Uid != "u1" || e.Session["room_id"] != "r1" || e.Groups[0] != "r1" || e.Reason != "bye" || e.At.UnixMilli() != 1234 {
		t.Fatalf("parsed %+v", e)
	}
	// Not acknowledged: another consumer claims it once idle.
	claimed, _, err := s.ClaimStaleEvents(ctx, "g", "c2", 0, "", 10)
	if err != nil || len(claimed) != 1 || claimed[0].ID != got[0].ID {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := s.AckEvents(ctx, "g", got[0].ID); err != nil {
		t.Fatal(err)
	}
	claimed, _, err = s.ClaimStaleEvents(ctx, "g", "c2", 0, "", 10)
	if err != nil || len(claimed) != 0 {
		t.Fatalf("claim after ack: %v %v", claimed, err)
	}
	if more, err := s.ReadEvents(ctx, "g", "c1", 10, 0); len(more) != 0 || err != nil {
		t.Fatalf("nothing new: %v %v", more, err)
	}
	mr.FlushAll()
	if _, err := s.ReadEvents(ctx, "g", "c1", 10, 0); !errors.Is(err, ErrNoConsumerGroup) {
		t.Fatalf("after FLUSHALL: %v, want ErrNoConsumerGroup", err)
	}
}

// TestEventsFromStartPendingAndTail: a group created from "0" sees events
// appended before it; a consumer's unacknowledged events come back from
// ReadPendingEvents (and no longer once acked); TailEvents reads what follows
// an id without a group.
func TestEventsFromStartPendingAndTail(t *testing.T) {
	t.Parallel()
	s, _ := eventsStore(t)
	ctx := context.Background()
	for _, typ := range []string{EventConnect, EventMessage} {
		if err := s.AppendEvent(ctx, &Event{Type: typ, ClientID: "gw1.abc", Data: "hi", At: time.UnixMilli(5)}, 0); err != nil {
			t.Fatal(err)
		}
	}
	tail, next, err := s.TailEvents(ctx, "0", 1, 0)
	if err != nil || len(tail) != 1 || tail[0].Event.Type != EventConnect || next != tail[0].ID {
		t.Fatalf("TailEvents from 0: %+v %q %v", tail, next, err)
	}
	tail, next2, err := s.TailEvents(ctx, next, 10, 0)
	if err != nil || len(tail) != 1 || tail[0].Event.Type != EventMessage || tail[0].Event.Data != "hi" {
		t.Fatalf("TailEvents after %s: %+v %v", next, tail, err)
	}
	if none, last, err := s.TailEvents(ctx, next2, 10, 0); err != nil || len(none) != 0 || last != next2 {
		t.Fatalf("TailEvents at the end: %+v %q %v", none, last, err)
	}
	if err := s.EnsureEventsGroupFrom(ctx, "old", "0"); err != nil {
		t.Fatal(err)
	}
	got, err := s.ReadEvents(ctx, "old", "c1", 10, 0)
	if err != nil || len(got) != 2 {
		t.Fatalf("group from 0 reads %+v %v, want both events", got, err)
	}
	pend, err := s.ReadPendingEvents(ctx, "old", "c1", 10)
	if err != nil || len(pend) != 2 || pend[0].ID != got[0].ID || pend[1].Event.Data != "hi" {
		t.Fatalf("pending: %+v %v", pend, err)
	}
	if other, err := s.ReadPendingEvents(ctx, "old", "c2", 10); err != nil || len(other) != 0 {
		t.Fatalf("another consumer's pending: %+v %v", other, err)
	}
	if err := s.AckEvents(ctx, "old", got[0].ID); err != nil {
		t.Fatal(err)
	}
	if pend, err := s.ReadPendingEvents(ctx, "old", "c1", 10); err != nil || len(pend) != 1 || pend[0].ID != got[1].ID {
		t.Fatalf("pending after one ack: %+v %v", pend, err)
	}
}
