package httpapi

import (
	"context"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

// closeLikeGateway does what a gateway does when a connection ends: forget
// it in Redis, then append the close event with the session it had.
func (e *testEnv) closeLikeGateway(cid, uid, room string) {
	e.t.Helper()
	ctx := context.Background()
	gw, _ := session.GatewayOf(cid)
	held, err := e.store.ForgetClient(ctx, &session.ClientState{ID: cid, Gateway: gw, Uid: uid, Groups: []string{room}})
	if err != nil {
		e.t.Fatal(err)
	}
	ev := &session.Event{Type: session.EventClose, ClientID: cid, Gateway: gw, Uid: uid, Groups: []string{room}, Reason: "test", At: time.Now()}
	if held != nil {
		ev.Session = held.Session
	}
	if err := e.store.AppendEvent(ctx, ev, 0); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) run(srv *Server) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				e.t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return after ctx ended")
		}
	})
}

func (in *inbox) count(ok func(*session.Envelope, map[string]any) bool) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	n := 0
	for _, env := range in.envs {
		if env.Op == session.OpSend {
			m := map[string]any{}
			if jsonUnmarshal(env.Payload, &m) == nil && ok(env, m) {
				n++
			}
		}
	}
	return n
}

// probeGroup checks that the chat app's consumer group exists (reading from
// it works).
func probeGroup(e *testEnv) func() error {
	return func() error {
		_, err := e.store.ReadEvents(context.Background(), "chat-notices", "probe", 1, 0)
		return err
	}
}

func TestCloseNotices(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	replica, err := New(e.store, e.chat, &Options{Tokens: e.signer})
	if err != nil {
		t.Fatal(err)
	}
	e.run(e.srv)
	e.run(replica) // two replicas share the consumer group
	// Let both create the group before the first close event.
	testwait.For(t, 10*time.Second, "the consumer group", probeGroup(e))
	ada, bob, adaCid, _, room, in := chatRoom(t, e)

	// Ada has a second connection: closing one of them is no departure.
	second := e.connect("gwa", "")
	if r := ada.do("POST", "/api/bind", bindRequest{ClientID: second}); r.status != 200 {
		t.Fatalf("bind second: %d %s", r.status, r.body)
	}
	e.closeLikeGateway(second, ada.me.Uid, room)
	e.closeLikeGateway(adaCid, ada.me.Uid, room)
	isAdaClose := func(env *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "close" && m["uid"] == ada.me.Uid && m["uname"] == "Ada" && env.Groups[0] == room
	}
	in.waitPayload(t, "close notice", isAdaClose)
	in.waitPayload(t, "flush without Ada", func(_ *session.Envelope, m map[string]any) bool {
		ul, _ := m["users_list"].(map[string]any)
		return m != nil && m["type"] == "flush" && len(ul) == 1 && ul[bob.me.Uid] == "Bob"
	})
	// A marker event after them: once it is handled, every earlier one was.
	carol := e.client()
	carol.login("Carol")
	carol.enter(room)
	marker := e.connect("gwa", "")
	if r := carol.do("POST", "/api/bind", bindRequest{ClientID: marker}); r.status != 200 {
		t.Fatal(r.status)
	}
	e.closeLikeGateway(marker, carol.me.Uid, room)
	in.waitPayload(t, "close notice of Carol", func(_ *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "close" && m["uid"] == carol.me.Uid
	})
	if n := in.count(isAdaClose); n != 1 {
		t.Fatalf("%d close notices for Ada, want exactly 1 (two replicas, one group)", n)
	}
}

// TestCloseNoticeAfterDataLoss: the consumer survives FLUSHALL (the group
// is gone) and keeps turning close events into notices.
func TestCloseNoticeAfterDataLoss(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.run(e.srv)
	in := e.listen("gwa")
	testwait.For(t, 10*time.Second, "the consumer group", probeGroup(e))
	e.mr.FlushAll()
	// Wait for the consumer to notice and recreate its group.
	testwait.For(t, 20*time.Second, "the consumer group recreated after FLUSHALL", probeGroup(e))
	ada, bob := e.client(), e.client()
	ada.login("Ada")
	bob.login("Bob")
	ada.enter(e.room("r1"))
	bob.enter("r1")
	cid := e.connect("gwa", "")
	for _, c := range []*client{bob, ada} {
		id := cid
		if c == bob {
			id = e.connect("gwa", "")
		}
		if r := c.do("POST", "/api/bind", bindRequest{ClientID: id}); r.status != 200 {
			t.Fatal(r.status)
		}
	}
	e.closeLikeGateway(cid, ada.me.Uid, "r1")
	in.waitPayload(t, "close notice after FLUSHALL", func(_ *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "close" && m["uid"] == ada.me.Uid
	})
}
