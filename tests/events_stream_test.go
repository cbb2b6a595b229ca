package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// eventsScenario connects two real clients to two gateways, binds, joins,
// sets a session, has each send a frame and close, and returns the store and
// the six events the stream must hold (keyed "type client").
func eventsScenario(t *testing.T, rs *redistest.Server) (*session.Store, map[string]map[string]string) {
	t.Helper()
	gw1 := pushStartGateway(t, rs.URL(), "gw1")
	gw2 := pushStartGateway(t, rs.URL(), "gw2")
	store, err := session.Open(context.Background(), rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	// The group exists before any event: it sees them all from id 0.
	rdb := rs.Client(t) // read as a worker in any language would
	if err := rdb.XGroupCreateMkStream(ctx, store.EventsStream(), "g1", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, store.EventsStream(), "g2", "0").Err(); err != nil {
		t.Fatal(err)
	}
	c1, c2 := pushConnect(t, gw1), pushConnect(t, gw2)
	for _, err := range []error{
		store.BindUid(ctx, c1.ID, "u1"),
		store.JoinGroup(ctx, c1.ID, "room"),
		store.SetSession(ctx, c1.ID, session.Session{"uname": "ann"}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The bind reaches gw1 through its inbox; wait until the gateway applied
	// it (a marker sent to the uid arrives) so the message event carries the uid.
	if err := store.SendToUid(ctx, "u1", []byte("marker")); err != nil {
		t.Fatal(err)
	}
	c1.waitFrames(t, "c1", "marker")
	for _, c := range []*pushClient{c1, c2} {
		if err := c.conn.Write(ctx, websocket.MessageText, []byte("hello from "+c.ID)); err != nil {
			t.Fatal(err)
		}
	}
	// Close only once the message events are in, so the order is fixed.
	testwait.For(t, pushDeadline, "message events", func() error {
		n, err := rdb.XLen(ctx, store.EventsStream()).Result()
		if err == nil && n < 4 {
			err = fmt.Errorf("%d events", n)
		}
		return err
	})
	c1.Close()
	c2.Close()
	want := map[string]map[string]string{
		"connect " + c1.ID: {"gateway": "gw1", "uid": ""},
		"connect " + c2.ID: {"gateway": "gw2", "uid": ""},
		"message " + c1.ID: {"gateway": "gw1", "uid": "u1", "data": "hello from " + c1.ID},
		"message " + c2.ID: {"gateway": "gw2", "uid": "", "data": "hello from " + c2.ID},
		"close " + c1.ID:   {"gateway": "gw1", "uid": "u1", "groups": `["room"]`, "session": `{"uname":"ann"}`},
		"close " + c2.ID:   {"gateway": "gw2", "uid": "", "groups": `[]`},
	}
	return store, want
}

// eventsRead reads new entries for one consumer (COUNT n, short BLOCK).
func eventsRead(ctx context.Context, rdb redis.UniversalClient, stream, group, consumer string, n int64) ([]redis.XMessage, error) {
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer, Streams: []string{stream, ">"}, Count: n, Block: 200 * time.Millisecond}).Result()
	if err == redis.Nil {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return res[0].Messages, nil
}

func eventsCheck(t *testing.T, m redis.XMessage, want map[string]map[string]string) string {
	t.Helper()
	f := map[string]string{}
	for k, v := range m.Values {
		f[k], _ = v.(string)
	}
	key := f["type"] + " " + f["client_id"]
	w, ok := want[key]
	if !ok {
		t.Errorf("unexpected event %s: %v", m.ID, f)
		return key
	}
	for k, v := range w {
		if f[k] != v {
			t.Errorf("event %s field %s = %q, want %q (%v)", key, k, f[k], v, f)
		}
	}
	if f["ip"] == "" || f["ts"] == "" {
		t.Errorf("event %s lacks ip or ts: %v", key, f)
	}
	if f["type"] == "close" && f["reason"] == "" {
		t.Errorf("close event without reason: %v", f)
	}
	return key
}

// TestEventsStreamConsumerGroups: one consumer of group g1 sees each
// connect/message/close event exactly once; two consumers of group g2 split
// the same events between them without overlap.
func TestEventsStreamConsumerGroups(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	store, want := eventsScenario(t, rs)
	rdb, stream := rs.Client(t), store.EventsStream()
	ctx, cancel := context.WithTimeout(context.Background(), 2*pushDeadline)
	defer cancel()
	eventsOneConsumer(ctx, t, rdb, stream, want)
	eventsTwoConsumers(ctx, t, rdb, stream, want)
}

// eventsOneConsumer: group g1, one consumer: each event exactly once, then nothing more.
func eventsOneConsumer(ctx context.Context, t *testing.T, rdb redis.UniversalClient, stream string, want map[string]map[string]string) {
	t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(pushDeadline)
	for len(seen) < len(want) && time.Now().Before(deadline) {
		msgs, err := eventsRead(ctx, rdb, stream, "g1", "solo", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			seen[eventsCheck(t, m, want)]++
			if err := rdb.XAck(ctx, stream, "g1", m.ID).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("g1 saw %q %d times, want once", k, seen[k])
		}
	}
	if extra, _ := eventsRead(ctx, rdb, stream, "g1", "solo", 10); len(extra) != 0 {
		t.Errorf("g1 got %d more events after all were read: %v", len(extra), extra)
	}
	if p, err := rdb.XPending(ctx, stream, "g1").Result(); err != nil || p.Count != 0 {
		t.Errorf("g1 pending after acks: %+v %v", p, err)
	}
}

// eventsTwoConsumers: group g2, two consumers reading one entry at a time
// in turn: together they get every event once, and both get some.
func eventsTwoConsumers(ctx context.Context, t *testing.T, rdb redis.UniversalClient, stream string, want map[string]map[string]string) {
	t.Helper()
	deadline := time.Now().Add(pushDeadline)
	got := map[string][]string{}
	for turn := 0; len(got["w1"])+len(got["w2"]) < len(want) && time.Now().Before(deadline); turn++ {
		w := []string{"w1", "w2"}[turn%2]
		msgs, err := eventsRead(ctx, rdb, stream, "g2", w, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got[w] = append(got[w], eventsCheck(t, m, want))
			_ = rdb.XAck(ctx, stream, "g2", m.ID)
		}
	}
	all := append(append([]string(nil), got["w1"]...), got["w2"]...)
	sort.Strings(all)
	var wantKeys []string
	for k := range want {
		wantKeys = append(wantKeys, k)
	}
	sort.Strings(wantKeys)
	if !reflect.DeepEqual(all, wantKeys) {
		t.Errorf("g2 consumers together got %q, want each of %q once", all, wantKeys)
	}
	if len(got["w1"]) == 0 || len(got["w2"]) == 0 {
		t.Errorf("load not shared: w1 %d, w2 %d", len(got["w1"]), len(got["w2"]))
	}
}

// TestEventsPHPWorkers runs two examples/php/worker.php processes in one
// consumer group: together they print every event once.
func TestEventsPHPWorkers(t *testing.T) {
	t.Parallel()
	php := phpBinary(t)
	rs := redistest.Start(t)
	_, want := eventsScenario(t, rs)
	host, port := pushHostPort(rs.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	// Wait for the close events, then let two workers drain the stream.
	store, err := session.Open(ctx, rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rdb := rs.Client(t)
	testwait.For(t, pushDeadline, "all events appended", func() error {
		n, err := rdb.XLen(ctx, store.EventsStream()).Result()
		if err == nil && n < int64(len(want)) {
			err = fmt.Errorf("%d events", n)
		}
		return err
	})
	var (
		wg   sync.WaitGroup
		outs [2][]byte
		errs [2]error
	)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(ctx, php, filepath.Join(pushRepoRoot(t), "examples/php/worker.php"),
				"--host", host, "--port", port, "--group", "php", "--consumer", fmt.Sprintf("php-%d", i), "--idle-exit", "2")
			outs[i], errs[i] = cmd.Output()
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("worker %d: %v", i, errs[i])
		}
		for _, line := range strings.Split(strings.TrimSpace(string(outs[i])), "\n") {
			if line == "" {
				continue
			}
			var ev map[string]any
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("worker %d printed %q: %v", i, line, err)
			}
			key := fmt.Sprint(ev["type"], " ", ev["client_id"])
			seen[key]++
			if ev["type"] == "close" && ev["uid"] == "u1" {
				if s, _ := ev["session"].(map[string]any); s["uname"] != "ann" {
					t.Errorf("close event session not decoded: %v", ev)
				}
			}
		}
	}
	for k := range want {
		if seen[k] != 1 {
			t.Errorf("PHP workers printed %q %d times, want once (all: %v)", k, seen[k], seen)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("PHP workers printed %v, want %d events", seen, len(want))
	}
}

// TestEventsSwitchOff: a gateway started with --events=false appends nothing
// for connect, message or close, while a gateway with events on beside it does.
func TestEventsSwitchOff(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	off, stopOff := pushRunGateway(t, rs.URL(), "quiet", "--events=false")
	on := pushStartGateway(t, rs.URL(), "loud")
	store, err := session.Open(context.Background(), rs.URL(), pushDeadline, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	q := pushConnect(t, off)
	if err := q.conn.Write(ctx, websocket.MessageText, []byte("unseen")); err != nil {
		t.Fatal(err)
	}
	q.Close()
	// Wait until the quiet gateway forgot the client, then stop it: its
	// gateway returns only once every reader has ended, so whatever it would
	// append for this client (a close event comes after the forget) is in
	// the stream by then, not merely late.
	testwait.For(t, pushDeadline, "quiet client forgotten", func() error {
		if online, err := store.IsOnline(ctx, q.ID); err != nil || online {
			return fmt.Errorf("online %v: %v", online, err)
		}
		return nil
	})
	stopOff()
	// The loud gateway's connect event is the first and only entry.
	l := pushConnect(t, on)
	msgs, err := rs.Client(t).XRange(ctx, store.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Values["client_id"] != l.ID || msgs[0].Values["type"] != "connect" {
		t.Errorf("stream holds %v, want only the loud gateway's connect event", msgs)
	}
}
