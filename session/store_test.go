package session_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/session"
)

func newMini(t *testing.T) (*miniredis.Miniredis, *session.Store) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	return mr, session.New(rdb, nil)
}

// The Redis model on miniredis (what all-in-one mode runs on): state written
// by the push API and removed by ForgetClient, envelopes published to the
// right inbox.
func TestStoreOnMiniredis(t *testing.T) {
	mr, s := newMini(t)
	ctx := context.Background()
	cid := session.NewClientID("gw1")
	if err := s.RegisterClient(ctx, &session.ClientState{ID: cid, Gateway: "gw1", IP: "127.0.0.1", ConnectedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	existed, err := s.MarkAlive(ctx, "gw1", 10*time.Second)
	if err != nil || existed {
		t.Fatalf("first MarkAlive = %v, %v; want false, nil", existed, err)
	}
	if existed, _ = s.MarkAlive(ctx, "gw1", 10*time.Second); !existed {
		t.Fatal("second MarkAlive did not find the key")
	}

	ps := mr.NewSubscriber()
	ps.Subscribe("chat:gw:{gw1}")
	// miniredis hands messages to an in-process subscriber synchronously:
	// drain them on the side so a publish never waits for the test.
	envs := make(chan string, 100)
	go func() {
		for m := range ps.Messages() {
			envs <- m.Message
		}
	}()
	defer ps.Close()
	steps := []struct {
		name string
		do   func() error
		env  string // envelope the gateway must receive; "" for none
	}{
		{"bind", func() error { return s.BindUid(ctx, cid, "u1") }, `{"op":"bind","clients":["` + cid + `"],"uids":["u1"]}`},
		{"join", func() error { return s.JoinGroup(ctx, cid, "room") }, `{"op":"join","clients":["` + cid + `"],"groups":["room"]}`},
		{"send group", func() error { return s.SendToGroup(ctx, "room", []byte("hi")) }, `{"op":"send","groups":["room"],"payload":"hi"}`},
		{"send uid", func() error { return s.SendToUid(ctx, "u1", []byte("yo"), session.Exclude("gw1.x")) }, `{"op":"send","uids":["u1"],"exclude":["gw1.x"],"payload":"yo"}`},
		// Nothing is published for a group nobody is in: the next step's
		// envelope must be the next one this inbox receives.
		{"send to nobody", func() error { return s.SendToGroup(ctx, "empty", []byte("lost")) }, ""},
		{"session", func() error { return s.UpdateSession(ctx, cid, session.Session{"k": "v"}) }, `{"op":"update_session","clients":["` + cid + `"],"session":{"k":"v"}}`},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.env == "" {
			continue
		}
		select {
		case m := <-envs:
			if m = tsField.ReplaceAllString(m, ""); m != st.env {
				t.Fatalf("%s: envelope %s, want %s", st.name, m, st.env)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no envelope", st.name)
		}
	}
	if n, _ := s.ClientCount(ctx); n != 1 {
		t.Fatalf("ClientCount = %d", n)
	}
	if uids, _ := s.UidsByGroup(ctx, "room"); !slices.Equal(uids, []string{"u1"}) {
		t.Fatalf("UidsByGroup = %v", uids)
	}
	held, err := s.ForgetClient(ctx, &session.ClientState{ID: cid, Gateway: "gw1"})
	if err != nil {
		t.Fatal(err)
	}
	if held.Uid != "u1" || !slices.Equal(held.Groups, []string{"room"}) || held.Session["k"] != "v" {
		t.Fatalf("ForgetClient returned %+v", held)
	}
	if err := s.RemoveGateway(ctx, "gw1"); err != nil {
		t.Fatal(err)
	}
	if keys := mr.Keys(); len(keys) != 0 {
		t.Fatalf("keys left: %v", keys)
	}
}

// tsField matches the send timestamp every envelope carries.
var tsField = regexp.MustCompile(`,"ts":\d+`)

func TestErrors(t *testing.T) {
	_, s := newMini(t)
	ctx := context.Background()
	ghost := session.NewClientID("gw1")
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"join unknown client", s.JoinGroup(ctx, ghost, "g"), session.ErrNoClient},
		{"bind unknown client", s.BindUid(ctx, ghost, "u"), session.ErrNoClient},
		{"session of unknown client", s.SetSession(ctx, ghost, session.Session{"a": "b"}), session.ErrNoClient},
		{"bad client id", s.SendToClient(ctx, "nodot", []byte("x")), session.ErrInvalidID},
		{"bad group id", s.SendToGroup(ctx, "a{b}", []byte("x")), session.ErrInvalidID},
		{"invalid utf-8", s.SendToAll(ctx, []byte{0xff}), session.ErrInvalidPayload},
		{"reserved field", s.UpdateSession(ctx, ghost, session.Session{"_gw": "x"}), session.ErrReservedField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !errorsIs(tt.err, tt.want) {
				t.Fatalf("err = %v, want %v", tt.err, tt.want)
			}
		})
	}
	if _, err := s.Session(ctx, ghost); !errorsIs(err, session.ErrNoClient) {
		t.Fatalf("Session(ghost) = %v", err)
	}
}

func errorsIs(err, target error) bool {
	for ; err != nil; err = unwrap(err) {
		if err == target {
			return true
		}
	}
	return false
}

func unwrap(err error) error {
	u, ok := err.(interface{ Unwrap() error })
	if !ok {
		return nil
	}
	return u.Unwrap()
}

// Pushing to users from Go: the GatewayClient equivalent.
func ExampleStore_SendToGroup() {
	mr, _ := miniredis.Run()
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	defer rdb.Close()
	s := session.New(rdb, &session.Options{Prefix: "chat:"})
	ctx := context.Background()

	// A gateway registered this connection and told the client its id.
	cid := "gw1.q8Hc0n2Zl9vW3bE5tYx1Ag"
	_ = s.RegisterClient(ctx, &session.ClientState{ID: cid, Gateway: "gw1", ConnectedAt: time.Now()})

	// The app binds it to a user, puts it in a room and talks to the room.
	_ = s.BindUid(ctx, cid, "42")
	_ = s.JoinGroup(ctx, cid, "room1")
	_ = s.SendToGroup(ctx, "room1", []byte(`{"type":"all","content":"hello"}`))

	n, _ := s.ClientCountByGroup(ctx, "room1")
	online, _ := s.IsUidOnline(ctx, "42")
	fmt.Println(n, online)
	// Output: 1 true
}
