package session

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The per-gateway operations on miniredis and on a real redis-server, with
// clients of both id forms: gwA is a compact (GatewayWorker) gateway, gwB a
// plain one.
func TestPerGateway(t *testing.T) {
	t.Parallel()
	forEachRedis(t, func(t *testing.T, rdb *redis.Client) {
		t.Run("sends", func(t *testing.T) { testOnGatewaySends(t, reapTestStore(t, rdb)) })
		t.Run("ungroup", func(t *testing.T) { testUngroupOnGateway(t, reapTestStore(t, rdb)) })
		t.Run("queries", func(t *testing.T) { testPerGatewayQueries(t, reapTestStore(t, rdb)) })
		t.Run("sessions", func(t *testing.T) { testReplaceSessionIf(t, reapTestStore(t, rdb)) })
	})
}

const (
	pgA = "7f0000010b54" // compact: 127.0.0.1:2900
	pgB = "gwb"
)

// pgFixture registers a1, a2 on pgA and b1 on pgB; a1 and b1 are in "room"
// and bound to "u1", a2 is in "room" and "other".
func pgFixture(t *testing.T, s *Store) (a1, a2, b1 string) {
	t.Helper()
	ctx := t.Context()
	a1, a2, b1 = NewCompactClientID(pgA), NewCompactClientID(pgA), NewClientID(pgB)
	now := time.Now()
	err := s.RegisterClients(ctx, []*ClientState{
		{ID: a1, Gateway: pgA, ConnectedAt: now, Uid: "u1", Groups: []string{"room"}},
		{ID: a2, Gateway: pgA, ConnectedAt: now, Groups: []string{"room", "other"}},
		{ID: b1, Gateway: pgB, ConnectedAt: now, Uid: "u1", Groups: []string{"room"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return a1, a2, b1
}

// pgInboxes subscribes to both gateways' inboxes and returns a function that
// waits for the next envelope on each (nil when none came within 300ms).
func pgInboxes(t *testing.T, s *Store) func() (a, b *Envelope) {
	t.Helper()
	ps := s.rdb.Subscribe(t.Context(), string(s.k.inbox(pgA)), string(s.k.inbox(pgB)))
	t.Cleanup(func() { _ = ps.Close() })
	if _, err := ps.Receive(t.Context()); err != nil { // first confirmation
		t.Fatal(err)
	}
	if _, err := ps.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	ch := ps.Channel()
	return func() (a, b *Envelope) {
		timeout := time.After(300 * time.Millisecond)
		for {
			select {
			case m := <-ch:
				env, err := DecodeEnvelope([]byte(m.Payload))
				if err != nil {
					t.Fatal(err)
				}
				env.TS = 0
				if m.Channel == string(s.k.inbox(pgA)) {
					a = env
				} else {
					b = env
				}
			case <-timeout:
				return a, b
			}
		}
	}
}

func envJSON(e *Envelope) string {
	if e == nil {
		return "none"
	}
	b, _ := json.Marshal(e)
	return string(b)
}

func testOnGatewaySends(t *testing.T, s *Store) {
	ctx := t.Context()
	a1, a2, b1 := pgFixture(t, s)
	next := pgInboxes(t, s)
	for _, tc := range []struct {
		name  string
		send  func() error
		wantA string
		wantB string
	}{
		{"all on A", func() error { return s.SendToAll(ctx, []byte("x"), OnGateway(pgA), Exclude(a1)) },
			`{"op":"send","exclude":["` + a1 + `"],"payload":"x"}`, "none"},
		{"groups on A", func() error { return s.SendToGroups(ctx, []string{"room", "other"}, []byte("g"), OnGateway(pgA)) },
			`{"op":"send","groups":["room","other"],"payload":"g"}`, "none"},
		{"uid on B", func() error { return s.SendToUid(ctx, "u1", []byte("u"), OnGateway(pgB)) },
			"none", `{"op":"send","uids":["u1"],"payload":"u"}`},
		{"clients on A leave B's out", func() error { return s.SendToClients(ctx, []string{a2, b1}, []byte("c"), OnGateway(pgA)) },
			`{"op":"send","clients":["` + a2 + `"],"payload":"c"}`, "none"},
		// Without OnGateway, send_uid.lua routes a compact id to its gateway.
		{"uid everywhere", func() error { return s.SendToUid(ctx, "u1", []byte("v")) },
			`{"op":"send","uids":["u1"],"payload":"v"}`, `{"op":"send","uids":["u1"],"payload":"v"}`},
	} {
		if err := tc.send(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		a, b := next()
		if envJSON(a) != tc.wantA || envJSON(b) != tc.wantB {
			t.Errorf("%s: inbox A got %s, want %s; inbox B got %s, want %s", tc.name, envJSON(a), tc.wantA, envJSON(b), tc.wantB)
		}
	}
	if err := s.SendToAll(ctx, []byte("x"), OnGateway("Bad Id")); !errors.Is(err, ErrInvalidID) {
		t.Errorf("OnGateway with a bad id: %v", err)
	}
}

func testUngroupOnGateway(t *testing.T, s *Store) {
	ctx := t.Context()
	a1, a2, b1 := pgFixture(t, s)
	next := pgInboxes(t, s)
	if err := s.UngroupOnGateway(ctx, "room", pgA); err != nil {
		t.Fatal(err)
	}
	if a, b := next(); envJSON(a) != `{"op":"ungroup","groups":["room"]}` || b != nil {
		t.Errorf("inboxes got A %s, B %s", envJSON(a), envJSON(b))
	}
	if m, _ := s.rdb.SMembers(ctx, string(s.k.group("room"))).Result(); !slices.Equal(m, []string{b1}) {
		t.Errorf("room members %v, want only %s", m, b1)
	}
	if h, _ := s.rdb.HGetAll(ctx, string(s.k.groupGateways("room"))).Result(); len(h) != 1 || h[pgB] != "1" {
		t.Errorf("room routing %v, want only %s:1", h, pgB)
	}
	for cid, want := range map[string][]string{a1: {}, a2: {"other"}, b1: {"room"}} {
		if g, _ := s.rdb.SMembers(ctx, string(s.k.clientGroups(cid))).Result(); !slices.Equal(g, want) && len(g)+len(want) > 0 {
			t.Errorf("groups of %s: %v, want %v", cid, g, want)
		}
	}
	if ok, _ := s.rdb.SIsMember(ctx, string(s.k.groups()), "room").Result(); !ok {
		t.Error("room left the index while B still has a member")
	}
	if err := s.UngroupOnGateway(ctx, "room", pgB); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.rdb.SIsMember(ctx, string(s.k.groups()), "room").Result(); ok {
		t.Error("emptied room still in the index")
	}
}

func testPerGatewayQueries(t *testing.T, s *Store) {
	ctx := t.Context()
	a1, a2, b1 := pgFixture(t, s)
	if _, err := s.MarkAlive(ctx, pgA, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkAlive(ctx, pgB, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.rdb.Del(ctx, string(s.k.gwAlive(pgB))).Err(); err != nil { // B "crashed"
		t.Fatal(err)
	}
	if live, err := s.LiveGateways(ctx); err != nil || !slices.Equal(live, []string{pgA}) {
		t.Errorf("LiveGateways = %v, %v; want [%s]", live, err, pgA)
	}
	if n, err := s.ClientCountOnGateway(ctx, pgA); n != 2 || err != nil {
		t.Errorf("ClientCountOnGateway(A) = %d, %v", n, err)
	}
	if ids, _ := s.ClientIDsOnGateway(ctx, pgA); !sameSet(ids, []string{a1, a2}) {
		t.Errorf("ClientIDsOnGateway(A) = %v", ids)
	}
	if n, err := s.GroupCountsOnGateway(ctx, pgA, []string{"room", "other", "none"}); err != nil || !slices.Equal(n, []int64{2, 1, 0}) {
		t.Errorf("GroupCountsOnGateway(A) = %v, %v", n, err)
	}
	if g, _ := s.GroupIDsOnGateway(ctx, pgB); !slices.Equal(g, []string{"room"}) {
		t.Errorf("GroupIDsOnGateway(B) = %v", g)
	}
	if !OwnedBy(a1, pgA) || OwnedBy(b1, pgA) || OwnedBy("junk", pgA) {
		t.Error("OwnedBy")
	}
	recs, err := s.ClientRecords(ctx, []string{a1, "7f0000010b54ffffffff", b1}, true)
	if err != nil || len(recs) != 3 || recs[1] != nil {
		t.Fatalf("ClientRecords = %v, %v", recs, err)
	}
	if r := recs[0]; r.ID != a1 || r.Uid != "u1" || !slices.Equal(r.Groups, []string{"room"}) {
		t.Errorf("record of a1: %+v", r)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func testReplaceSessionIf(t *testing.T, s *Store) {
	ctx := t.Context()
	a1, _, _ := pgFixture(t, s)
	next := pgInboxes(t, s)
	empty := SessionState{Fields: Session{}}
	first := SessionState{Fields: Session{"name": "ann", "n": "1"}, Serialized: `a:2:{s:4:"name";s:3:"ann";s:1:"n";i:1;}`}
	if ok, err := s.ReplaceSessionIf(ctx, a1, empty, first); !ok || err != nil {
		t.Fatalf("first swap = %v, %v", ok, err)
	}
	if a, _ := next(); envJSON(a) != `{"op":"set_session","clients":["`+a1+`"],"session":{"_php":"a:2:{s:4:\"name\";s:3:\"ann\";s:1:\"n\";i:1;}","n":"1","name":"ann"}}` {
		t.Errorf("gateway got %s", envJSON(a))
	}
	// A stale expectation writes nothing.
	if ok, err := s.ReplaceSessionIf(ctx, a1, empty, SessionState{Fields: Session{"x": "y"}}); ok || err != nil {
		t.Fatalf("swap from a stale session = %v, %v; want false", ok, err)
	}
	recs, _ := s.ClientRecords(ctx, []string{a1}, false)
	if got := recs[0].Session; got.Serialized != first.Serialized || len(got.Fields) != 2 || got.Fields["name"] != "ann" {
		t.Fatalf("session after a refused swap: %+v", got)
	}
	// The Go API sees the plain fields only; UpdateSession keeps _php,
	// SetSession (a replacement) drops it.
	if sess, _ := s.Session(ctx, a1); len(sess) != 2 || sess["n"] != "1" {
		t.Errorf("Session = %v", sess)
	}
	if err := s.UpdateSession(ctx, a1, Session{"n": "2"}); err != nil {
		t.Fatal(err)
	}
	if recs, _ = s.ClientRecords(ctx, []string{a1}, false); recs[0].Session.Serialized != first.Serialized || recs[0].Session.Fields["n"] != "2" {
		t.Errorf("after UpdateSession: %+v", recs[0].Session)
	}
	if err := s.SetSession(ctx, a1, Session{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if recs, _ = s.ClientRecords(ctx, []string{a1}, false); recs[0].Session.Serialized != "" || len(recs[0].Session.Fields) != 1 {
		t.Errorf("after SetSession: %+v", recs[0].Session)
	}
	if _, err := s.ReplaceSessionIf(ctx, "7f0000010b54ffffffff", empty, first); !errors.Is(err, ErrNoClient) {
		t.Errorf("swap on a missing client: %v", err)
	}
	if _, err := s.ReplaceSessionIf(ctx, a1, recs[0].Session, SessionState{Fields: Session{"_x": "1"}}); !errors.Is(err, ErrReservedField) {
		t.Errorf("swap to a reserved field: %v", err)
	}
}
