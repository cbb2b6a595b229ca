package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// fixture starts a real redis-server and appends n events as a gateway would.
func fixture(t *testing.T, n int) (*redistest.Server, *session.Store) {
	t.Helper()
	rs := redistest.Start(t)
	store, err := session.Open(context.Background(), rs.URL(), 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	types := []string{session.EventConnect, session.EventMessage, session.EventClose}
	for i := range n {
		e := &session.Event{Type: types[i%3], ClientID: "gw1.AAAAAAAAAAAAAAAAAAAAAA", Gateway: "gw1", Uid: "u1",
			IP: "127.0.0.1", Data: "hi", At: time.Now()}
		if e.Type == session.EventClose {
			e.Session, e.Groups, e.Reason = session.Session{"uname": "ann"}, []string{"room"}, "client closed"
		}
		if err := store.AppendEvent(context.Background(), e, 0); err != nil {
			t.Fatal(err)
		}
	}
	return rs, store
}

// runWorker runs the command in-process and returns the events it printed.
func runWorker(t *testing.T, rs *redistest.Server, args ...string) []event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	if code := run(ctx, append([]string{"--redis-url", rs.URL(), "--block", "100ms"}, args...), func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("worker exited %d: %s", code, errOut.String())
	}
	var evs []event
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var e event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("bad line %q: %v", line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

func pending(t *testing.T, rdb redis.UniversalClient, stream, group string) int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), stream, group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

func TestWorker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// crash leaves entries pending: consumer name → how many it fetched and never acked.
		crash map[string]int64
		args  []string
		want  int
	}{
		{"new events", nil, []string{"--consumer", "w1", "--max", "6"}, 6},
		{"idle exit", nil, []string{"--consumer", "w1", "--idle-exit", "300ms"}, 6},
		{"resumes own pending", map[string]int64{"w1": 4}, []string{"--consumer", "w1", "--idle-exit", "300ms"}, 6},
		{"claims a dead consumer's", map[string]int64{"dead": 5}, []string{"--consumer", "w2", "--claim-idle", "0s", "--idle-exit", "300ms"}, 6},
		{"max leaves the rest unread", nil, []string{"--consumer", "w1", "--max", "2"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs, store := fixture(t, 6)
			rdb, stream, ctx := rs.Client(t), store.EventsStream(), context.Background()
			if tt.crash != nil {
				if err := rdb.XGroupCreate(ctx, stream, "workers", "0").Err(); err != nil {
					t.Fatal(err)
				}
				for c, n := range tt.crash {
					if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "workers", Consumer: c, Streams: []string{stream, ">"}, Count: n, Block: -1}).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
			evs := runWorker(t, rs, tt.args...)
			if len(evs) != tt.want {
				t.Fatalf("handled %d events, want %d: %+v", len(evs), tt.want, evs)
			}
			seen := map[string]bool{}
			for _, e := range evs {
				if seen[e.ID] {
					t.Errorf("event %s handled twice", e.ID)
				}
				seen[e.ID] = true
				if e.ClientID == "" || e.Gateway != "gw1" || e.Uid != "u1" || e.TS == "" {
					t.Errorf("bad event %+v", e)
				}
				if e.Type == session.EventClose && (e.Session["uname"] != "ann" || len(e.Groups) != 1 || e.Reason == "") {
					t.Errorf("close event not decoded: %+v", e)
				}
				if e.Type == session.EventMessage && e.Data != "hi" {
					t.Errorf("message event without data: %+v", e)
				}
			}
			if n := pending(t, rdb, stream, "workers"); n != 0 {
				t.Errorf("%d events left pending", n)
			}
		})
	}
}

func TestWorkerBadFlags(t *testing.T) {
	t.Parallel()
	if code := run(context.Background(), []string{"--nope"}, func(string) string { return "" }, io.Discard, io.Discard); code != 2 {
		t.Errorf("exit %d, want 2", code)
	}
	if code := run(context.Background(), []string{"--redis-url", "redis://127.0.0.1:1/0"}, func(string) string { return "" }, io.Discard, io.Discard); code != 1 {
		t.Errorf("unreachable redis: exit %d, want 1", code)
	}
}
