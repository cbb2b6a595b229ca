package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
)

func TestRecoverableGroups(t *testing.T) {
	t.Parallel()
	forEachRedis(t, runRecoverable)
}

// subscribeInbox returns the envelopes published on gw's inbox.
func subscribeInbox(ctx context.Context, t *testing.T, rdb *redis.Client, gw string) func() *Envelope {
	t.Helper()
	ps := rdb.Subscribe(ctx, string(keys{DefaultPrefix}.inbox(gw)))
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	return func() *Envelope {
		t.Helper()
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		env, err := DecodeEnvelope([]byte(m.Payload))
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
}

func runRecoverable(t *testing.T, rdb *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := New(rdb, &Options{GroupLogSize: 3})
	cid := NewClientID("gw1")
	if err := s.RegisterClient(ctx, &ClientState{ID: cid, Gateway: "gw1", IP: "127.0.0.1", ConnectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, gid := range []string{"room", "plain"} {
		if err := s.JoinGroup(ctx, cid, gid); err != nil {
			t.Fatal(err)
		}
	}
	next := subscribeInbox(ctx, t, rdb, "gw1")

	// A group without a log: the payload goes out unchanged, any JSON or not.
	if err := s.SendToGroup(ctx, "plain", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if env := next(); env.Payload != "hello" || env.Seq != 0 || env.Epoch != "" {
		t.Fatalf("plain send: %+v", env)
	}
	// The first recoverable send creates the log; the fields are appended,
	// also to an empty object.
	if err := s.SendToGroup(ctx, "room", []byte(`{"type":"say","n":1} `), Recoverable()); err != nil {
		t.Fatal(err)
	}
	env := next()
	epoch := env.Epoch
	if env.Seq != 1 || epoch == "" || env.Payload != `{"type":"say","n":1,"group":"room","seq":1,"epoch":"`+epoch+`"}` {
		t.Fatalf("first recoverable send: %+v", env)
	}
	// Later sends are logged without the option (a sender cannot bypass the log).
	if err := s.SendToGroup(ctx, "room", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if env = next(); env.Seq != 2 || env.Payload != `{"group":"room","seq":2,"epoch":"`+epoch+`"}` {
		t.Fatalf("second send: %+v", env)
	}
	// Refused payloads: not an object, or holding a field the log adds.
	for _, bad := range []string{`"hi"`, `[1]`, `not json`, `{"seq":1}`, `{"a":1,"group":"x"}`} {
		if err := s.SendToGroup(ctx, "room", []byte(bad)); !errors.Is(err, ErrRecoverablePayload) {
			t.Fatalf("send %s: %v, want ErrRecoverablePayload", bad, err)
		}
	}
	// Several groups: the logged one is sent on its own, with its seq.
	if err := s.SendToGroups(ctx, []string{"plain", "room"}, []byte(`{"n":3}`)); err != nil {
		t.Fatal(err)
	}
	got := map[string]*Envelope{}
	for range 2 {
		e := next()
		got[e.Groups[0]] = e
	}
	if got["room"] == nil || got["room"].Seq != 3 || got["plain"] == nil || got["plain"].Payload != `{"n":3}` {
		t.Fatalf("send to groups: %+v", got)
	}

	// The log holds the exact bytes delivered.
	l, err := s.GroupLogSince(ctx, "room", epoch, 1)
	if err != nil || l.Seq != 3 || l.Epoch != epoch || len(l.Entries) != 2 || l.Entries[0].Seq != 2 ||
		l.Entries[0].Payload != `{"group":"room","seq":2,"epoch":"`+epoch+`"}` || l.Entries[1].Payload != got["room"].Payload {
		t.Fatalf("log since 1: %+v, %v", l, err)
	}
	if l, err = s.GroupLogSince(ctx, "room", epoch, 3); err != nil || len(l.Entries) != 0 {
		t.Fatalf("log since latest: %+v, %v", l, err)
	}
	// Size 3: after a 4th message, seq 1 is gone.
	if err := s.SendToGroup(ctx, "room", []byte(`{"n":4}`)); err != nil {
		t.Fatal(err)
	}
	next()
	if _, err = s.GroupLogSince(ctx, "room", epoch, 0); !errors.Is(err, ErrLogTrimmed) {
		t.Fatalf("log since 0 after trim: %v, want ErrLogTrimmed", err)
	}
	if l, err = s.GroupLogSince(ctx, "room", epoch, 1); err != nil || len(l.Entries) != 3 {
		t.Fatalf("log since 1 after trim: %+v, %v", l, err)
	}
	if _, err = s.GroupLogSince(ctx, "room", "other", 1); !errors.Is(err, ErrEpochChanged) {
		t.Fatalf("other epoch: %v, want ErrEpochChanged", err)
	}
	if _, err = s.GroupLogSince(ctx, "plain", "", 0); !errors.Is(err, ErrNoLog) {
		t.Fatalf("plain group: %v, want ErrNoLog", err)
	}

	// Redis loses everything: the next recoverable send starts a new epoch.
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.SendToGroup(ctx, "room", []byte(`{"n":5}`), Recoverable()); err != nil {
		t.Fatal(err)
	}
	if l, err = s.GroupLogSince(ctx, "room", epoch, 4); !errors.Is(err, ErrEpochChanged) || l.Epoch == epoch || l.Seq != 1 {
		t.Fatalf("after flush: %+v, %v", l, err)
	}
}

func TestEnableRecovery(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		s := New(rdb, nil)
		epoch, seq, err := s.EnableRecovery(ctx, "g", &RecoveryOptions{Size: 2})
		if err != nil || epoch == "" || seq != 0 {
			t.Fatalf("enable: %q %d %v", epoch, seq, err)
		}
		for range 3 {
			if err := s.SendToGroup(ctx, "g", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		}
		again, seq, err := s.EnableRecovery(ctx, "g", &RecoveryOptions{Size: 2})
		if err != nil || again != epoch || seq != 3 {
			t.Fatalf("enable again: %q %d %v, want %q 3", again, seq, err, epoch)
		}
		// The group's own size (2) wins over the store's default.
		if _, err := s.GroupLogSince(ctx, "g", epoch, 0); !errors.Is(err, ErrLogTrimmed) {
			t.Fatalf("since 0: %v, want trimmed", err)
		}
		l, err := s.GroupLogSince(ctx, "g", epoch, 1)
		if err != nil || len(l.Entries) != 2 {
			t.Fatalf("since 1: %+v %v", l, err)
		}
		var p map[string]any
		if err := json.Unmarshal([]byte(l.Entries[1].Payload), &p); err != nil || p["seq"] != 3.0 || !strings.Contains(l.Entries[1].Payload, epoch) {
			t.Fatalf("entry: %s %v", l.Entries[1].Payload, err)
		}
	})
}

// The recoverable send example of docs/redis-protocol.md is what the script
// produces: the payload ends with the group, seq and epoch of the envelope.
func TestDocRecoverableExample(t *testing.T) {
	doc := readDoc(t)
	i := strings.Index(doc, `{"op":"send","groups":["room1"],"payload":"{\"type\":\"all\",\"content\":\"hi\",\"group\"`)
	if i < 0 {
		t.Fatal("recoverable send example missing")
	}
	env, err := DecodeEnvelope([]byte(doc[i : i+strings.Index(doc[i:], "\n")]))
	if err != nil {
		t.Fatal(err)
	}
	s := New(redis.NewClient(&redis.Options{Addr: miniredisAddr(t)}), nil)
	ctx := context.Background()
	if err := s.rdb.HSet(ctx, string(s.k.groupLogState("room1")), "epoch", env.Epoch, "seq", env.Seq-1).Err(); err != nil {
		t.Fatal(err)
	}
	next := subscribeInbox(ctx, t, s.rdb.(*redis.Client), "gw1")
	if err := s.rdb.HSet(ctx, string(s.k.groupGateways("room1")), "gw1", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.SendToGroup(ctx, "room1", []byte(`{"type":"all","content":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	got := next()
	if got.Payload != env.Payload || got.Seq != env.Seq || got.Epoch != env.Epoch {
		t.Fatalf("script sent %+v, doc shows %+v", got, env)
	}
}

func miniredisAddr(t *testing.T) string { return miniredis.RunT(t).Addr() }

// On Cluster the log step runs in the group's slot and the envelope goes out
// by SPUBLISH to each gateway's inbox; the log reads back the same frames.
func TestRecoverableOnCluster(t *testing.T) {
	t.Parallel()
	cc := redistest.StartCluster(t, 3).Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := New(cc, nil)
	cid := NewClientID("gw1")
	if err := s.RegisterClient(ctx, &ClientState{ID: cid, Gateway: "gw1", IP: "127.0.0.1", ConnectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := s.JoinGroup(ctx, cid, "room"); err != nil {
		t.Fatal(err)
	}
	ps := cc.SSubscribe(ctx, string(s.k.inbox("gw1")))
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var sent []string
	for n := 1; n <= 3; n++ {
		if err := s.SendToGroup(ctx, "room", fmt.Appendf(nil, `{"n":%d}`, n), Recoverable()); err != nil {
			t.Fatal(err)
		}
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		env, err := DecodeEnvelope([]byte(m.Payload))
		if err != nil || env.Seq != int64(n) || env.Epoch == "" {
			t.Fatalf("envelope %d: %+v %v", n, env, err)
		}
		sent = append(sent, env.Payload)
	}
	l, err := s.GroupLogSince(ctx, "room", "", 0)
	if err != nil || len(l.Entries) != 3 {
		t.Fatalf("log: %+v %v", l, err)
	}
	for i, e := range l.Entries {
		if e.Payload != sent[i] {
			t.Errorf("entry %d: %s, sent %s", i, e.Payload, sent[i])
		}
	}
	// A batch on Cluster: the plain group's envelope goes out in the second
	// round trip, the logged one (seq 4) in the third, from the script's reply.
	if err := s.JoinGroup(ctx, cid, "plain"); err != nil {
		t.Fatal(err)
	}
	if err := s.SendBatch(ctx, []Send{{To: ToGroups, IDs: []string{"room", "plain"}, Payload: []byte(`{"n":4}`)}}); err != nil {
		t.Fatal(err)
	}
	var got []*Envelope
	for len(got) < 2 {
		m, err := ps.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if env, err := DecodeEnvelope([]byte(m.Payload)); err == nil && env.Op == OpSend {
			got = append(got, env)
		}
	}
	if got[0].Groups[0] != "plain" || got[0].Seq != 0 || got[1].Groups[0] != "room" || got[1].Seq != 4 {
		t.Errorf("batch on Cluster: %+v, %+v", got[0], got[1])
	}
}
