package gateway_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// TestPushAPI observes every push API method end to end, across two
// gateways, on standalone Redis and on Redis Cluster.
func TestPushAPI(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testPushAPI(t, newEnv(t, b.newConn(t)))
		})
	}
}

func testPushAPI(t *testing.T, e *env) {
	ctx := context.Background()
	s := e.store
	gwA, gwB := e.addGateway(gateway.Options{}), e.addGateway(gateway.Options{})
	a1, a2, b1 := e.dial(gwA), e.dial(gwA), e.dial(gwB)
	for _, c := range []*client{a1, a2} {
		if gw, _ := session.GatewayOf(c.id); gw != gwA.g.ID() {
			t.Fatalf("client id %q does not name its gateway %q", c.id, gwA.g.ID())
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	eq := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
	sorted := func(v []string, err error) []string {
		t.Helper()
		must(err)
		slices.Sort(v)
		return v
	}

	// One uid, two connections on two gateways.
	must(s.BindUid(ctx, a1.id, "u1"))
	must(s.BindUid(ctx, b1.id, "u1"))
	must(s.BindUid(ctx, a2.id, "u2"))
	must(s.SendToUid(ctx, "u1", []byte("to-u1")))
	a1.expect("to-u1")
	b1.expect("to-u1")
	must(s.SendToUids(ctx, []string{"u1", "u2"}, []byte("to-u1-u2"), session.Exclude(b1.id)))
	a1.expect("to-u1-u2")
	a2.expect("to-u1-u2")

	// Groups, with exclude.
	must(s.JoinGroup(ctx, a1.id, "g1"))
	must(s.JoinGroup(ctx, b1.id, "g1"))
	must(s.JoinGroup(ctx, a2.id, "g2"))
	must(s.SendToGroup(ctx, "g1", []byte("to-g1"), session.Exclude(a1.id)))
	b1.expect("to-g1")
	must(s.SendToGroups(ctx, []string{"g1", "g2"}, []byte("to-g1-g2")))
	a1.expect("to-g1-g2")
	a2.expect("to-g1-g2")
	b1.expect("to-g1-g2")

	// Client ids, all.
	must(s.SendToClient(ctx, a2.id, []byte("to-a2")))
	a2.expect("to-a2")
	must(s.SendToClients(ctx, []string{a1.id, b1.id}, []byte("to-a1-b1")))
	a1.expect("to-a1-b1")
	b1.expect("to-a1-b1")
	must(s.SendToAll(ctx, []byte("to-all"), session.Exclude(b1.id)))
	a1.expect("to-all")
	a2.expect("to-all")
	// A marker on the same (broadcast) channel: b1's next frame is the
	// marker, so "to-all" did not reach it, not even late.
	must(s.SendToAll(ctx, []byte("marker-all")))
	for _, c := range []*client{a1, a2, b1} {
		c.expect("marker-all")
	}

	// Counts and lists are exact across gateways.
	n, err := s.ClientCount(ctx)
	must(err)
	eq("ClientCount", n, 3)
	eq("ClientIDs", sorted(s.ClientIDs(ctx)), sorted([]string{a1.id, a2.id, b1.id}, nil))
	cg, err := s.ClientCountByGroup(ctx, "g1")
	must(err)
	eq("ClientCountByGroup(g1)", cg, 2)
	eq("ClientIDsByGroup(g1)", sorted(s.ClientIDsByGroup(ctx, "g1")), sorted([]string{a1.id, b1.id}, nil))
	eq("UidsByGroup(g1)", sorted(s.UidsByGroup(ctx, "g1")), []string{"u1"})
	ug, err := s.UidCountByGroup(ctx, "g1")
	must(err)
	eq("UidCountByGroup(g1)", ug, 1)
	eq("Uids", sorted(s.Uids(ctx)), []string{"u1", "u2"})
	uc, err := s.UidCount(ctx)
	must(err)
	eq("UidCount", uc, 2)
	eq("GroupIDs", sorted(s.GroupIDs(ctx)), []string{"g1", "g2"})
	eq("ClientIDsByUid(u1)", sorted(s.ClientIDsByUid(ctx, "u1")), sorted([]string{a1.id, b1.id}, nil))
	byUids, err := s.ClientIDsByUids(ctx, []string{"u2", "nobody"})
	must(err)
	eq("ClientIDsByUids", byUids, map[string][]string{"u2": {a2.id}, "nobody": {}})
	uid, err := s.UidByClient(ctx, a2.id)
	must(err)
	eq("UidByClient(a2)", uid, "u2")
	on, err := s.IsOnline(ctx, b1.id)
	must(err)
	eq("IsOnline(b1)", on, true)
	uon, err := s.UidsOnline(ctx, []string{"u1", "nobody"})
	must(err)
	eq("UidsOnline", uon, map[string]bool{"u1": true, "nobody": false})

	// Sessions.
	must(s.SetSession(ctx, a1.id, session.Session{"name": "ann", "x": "1"}))
	must(s.UpdateSession(ctx, a1.id, session.Session{"room": "r1"}))
	sess, err := s.Session(ctx, a1.id)
	must(err)
	eq("Session(a1)", sess, session.Session{"name": "ann", "room": "r1", "x": "1"})
	must(s.SetSession(ctx, a1.id, session.Session{"name": "ann2"}))
	sess, err = s.Session(ctx, a1.id)
	must(err)
	eq("Session(a1) after set", sess, session.Session{"name": "ann2"})
	must(s.SetSession(ctx, b1.id, session.Session{"name": "bob"}))
	bySess, err := s.SessionsByGroup(ctx, "g1")
	must(err)
	eq("SessionsByGroup(g1)", bySess, map[string]session.Session{a1.id: {"name": "ann2"}, b1.id: {"name": "bob"}})
	if err := s.SetSession(ctx, a1.id, session.Session{"_uid": "x"}); !errorsIs(err, session.ErrReservedField) {
		t.Fatalf("SetSession(_uid) = %v, want ErrReservedField", err)
	}

	// Leave, ungroup, unbind.
	must(s.LeaveGroup(ctx, b1.id, "g1"))
	cg, _ = s.ClientCountByGroup(ctx, "g1")
	eq("ClientCountByGroup(g1) after leave", cg, 1)
	must(s.SendToGroup(ctx, "g1", []byte("after-leave")))
	a1.expect("after-leave")
	e.expectMarkerNext(b1, "marker-leave")
	must(s.Ungroup(ctx, "g1"))
	eq("GroupIDs after ungroup", sorted(s.GroupIDs(ctx)), []string{"g2"})
	must(s.SendToGroup(ctx, "g1", []byte("after-ungroup")))
	e.expectMarkerNext(a1, "marker-ungroup")
	must(s.UnbindUid(ctx, b1.id, "u1"))
	eq("ClientIDsByUid(u1) after unbind", sorted(s.ClientIDsByUid(ctx, "u1")), []string{a1.id})
	must(s.SendToUid(ctx, "u1", []byte("u1-after-unbind")))
	a1.expect("u1-after-unbind")
	e.expectMarkerNext(b1, "marker-unbind")

	// Close removes every trace.
	must(s.CloseClient(ctx, a2.id, []byte("bye")))
	a2.expect("bye")
	if code := a2.closeStatus(); code != websocket.StatusNormalClosure {
		t.Fatalf("closed client got code %v, want 1000", code)
	}
	waitFor(t, 10*time.Second, "a2 forgotten", func() bool {
		on, _ := s.IsOnline(ctx, a2.id)
		uids, _ := s.Uids(ctx)
		groups, _ := s.GroupIDs(ctx)
		return !on && len(uids) == 1 && len(groups) == 0
	})
	eq("Uids after a2 closed", sorted(s.Uids(ctx)), []string{"u1"})
	eq("GroupIDs after a2 closed", sorted(s.GroupIDs(ctx)), []string{})
	for _, k := range allKeys(t, e.rdb) {
		if strings.Contains(k, a2.id) {
			t.Fatalf("key %q of closed client remains", k)
		}
	}
	a1.ws.Close(websocket.StatusNormalClosure, "")
	b1.ws.Close(websocket.StatusNormalClosure, "")
	waitFor(t, 10*time.Second, "all clients forgotten", func() bool { n, _ := s.ClientCount(ctx); return n == 0 })
	gwA.stop()
	gwB.stop()
	if keys := allKeys(t, e.rdb); len(keys) != 0 && !onlyEvents(keys) {
		t.Fatalf("keys left after every client and gateway ended: %v", keys)
	}
}

func onlyEvents(keys []string) bool {
	for _, k := range keys {
		if k != "chat:events" {
			return false
		}
	}
	return true
}

// TestReadYourWrites: a caller that returns from JoinGroup and then calls
// SendToGroup always reaches the new member.
func TestReadYourWrites(t *testing.T) {
	t.Parallel()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b.newConn(t))
			gw := e.addGateway(gateway.Options{})
			e.addGateway(gateway.Options{})
			c := e.dial(gw)
			ctx := context.Background()
			for i := range 1000 {
				gid := fmt.Sprintf("ryw-%d", i)
				if err := e.store.JoinGroup(ctx, c.id, gid); err != nil {
					t.Fatal(err)
				}
				if err := e.store.SendToGroup(ctx, gid, []byte(gid)); err != nil {
					t.Fatal(err)
				}
				c.expect(gid)
			}
		})
	}
}

func errorsIs(err, target error) bool {
	for err != nil {
		if err == target {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
