package session

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestBatchRecoverable checks that batch sends and multi-group sends honour
// recovery logs in two round trips: a group with a log is logged, the others
// share one plain envelope; the log script is found after SCRIPT FLUSH; and a
// payload the log refuses fails the batch before anything is published.
func TestBatchRecoverable(t *testing.T) {
	t.Parallel()
	forEachRedis(t, runBatchRecoverable)
}

// tripCounter counts client round trips (one command or one pipeline each).
type tripCounter struct{ n atomic.Int64 }

func (h *tripCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *tripCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *tripCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func runBatchRecoverable(t *testing.T, rdb *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := New(rdb, nil)
	cid := NewClientID("gw1")
	if err := s.RegisterClient(ctx, &ClientState{ID: cid, Gateway: "gw1", IP: "127.0.0.1", ConnectedAt: time.Now(), Groups: []string{"room", "plain"}}); err != nil {
		t.Fatal(err)
	}
	epoch, _, err := s.EnableRecovery(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	next := subscribeInbox(ctx, t, rdb, "gw1")
	trips := &tripCounter{}
	rdb.AddHook(trips)
	expect := func(what string, groups []string, payload string, seq int64) {
		t.Helper()
		e := next()
		if len(e.Groups) != len(groups) || e.Groups[0] != groups[0] || e.Payload != payload || e.Seq != seq {
			t.Fatalf("%s: got %+v, want groups %v payload %s seq %d", what, e, groups, payload, seq)
		}
	}
	roundTrips := func(what string, want int64) {
		t.Helper()
		if n := trips.n.Swap(0); n != want {
			t.Errorf("%s: %d round trips, want %d", what, n, want)
		}
	}
	logged := func(n int) string {
		return `{"n":` + string(rune('0'+n)) + `,"group":"room","seq":` + string(rune('0'+n)) + `,"epoch":"` + epoch + `"}`
	}

	if err := s.SendBatch(ctx, []Send{
		{To: ToGroups, IDs: []string{"room", "plain"}, Payload: []byte(`{"n":1}`)},
		{To: ToGroups, IDs: []string{"plain"}, Payload: []byte("x")},
	}); err != nil {
		t.Fatal(err)
	}
	roundTrips("batch", 2)
	expect("batch, plain part", []string{"plain"}, `{"n":1}`, 0)
	expect("batch, logged part", []string{"room"}, logged(1), 1)
	expect("batch, second send", []string{"plain"}, "x", 0)

	if err := s.SendToGroups(ctx, []string{"plain", "room"}, []byte(`{"n":2}`)); err != nil {
		t.Fatal(err)
	}
	roundTrips("send to groups", 2)
	expect("groups, plain part", []string{"plain"}, `{"n":2}`, 0)
	expect("groups, logged part", []string{"room"}, logged(2), 2)

	// The pipeline loads the script itself: a flushed script cache is no error.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.SendBatch(ctx, []Send{{To: ToGroups, IDs: []string{"room"}, Payload: []byte(`{"n":3}`)}}); err != nil {
		t.Fatal(err)
	}
	expect("after SCRIPT FLUSH", []string{"room"}, logged(3), 3)

	// A payload the log refuses fails the batch, naming the send; nothing
	// is published (the marker comes first).
	err = s.SendBatch(ctx, []Send{
		{To: ToGroups, IDs: []string{"plain"}, Payload: []byte("y")},
		{To: ToGroups, IDs: []string{"room"}, Payload: []byte("not an object")},
	})
	var be *BatchError
	if !errors.As(err, &be) || be.Index != 1 || !errors.Is(err, ErrRecoverablePayload) {
		t.Fatalf("refused payload: %v, want BatchError 1 ErrRecoverablePayload", err)
	}
	if err := s.SendToGroup(ctx, "plain", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	expect("marker", []string{"plain"}, "marker", 0)
}
