package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
	"github.com/redis/go-redis/v9"
)

// faultMember is one connected test client and what the test made of it.
type faultMember struct {
	c      *faultClient
	gw     int // index of its gateway
	uid    string
	room   string
	sess   session.Session
	probes atomic.Int64 // probe messages received
}

// faultPopulate connects n clients round-robin to gws, then binds, joins and
// sets the session of each through st (as the chat app does after login).
// Clients 0..n/2-1 share a uid in pairs on two different gateways (two tabs);
// the others have a uid of their own.
func faultPopulate(t *testing.T, st *session.Store, gws []*faultProc, n, rooms int) []*faultMember {
	t.Helper()
	return faultPopulateWith(t, st, gws, n, rooms, nil)
}

// faultPopulateWith is faultPopulate with a handler for the members' other messages.
func faultPopulateWith(t *testing.T, st *session.Store, gws []*faultProc, n, rooms int, onMsg func(*faultClient, []byte)) []*faultMember {
	t.Helper()
	ms := make([]*faultMember, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		m := &faultMember{gw: i % len(gws), room: fmt.Sprintf("room%d", i%rooms)}
		if i < n/2 {
			m.uid = fmt.Sprintf("u%d", i/2)
		} else {
			m.uid = fmt.Sprintf("solo%d", i)
		}
		m.sess = session.Session{"uname": "name-" + m.uid, "room_id": m.room}
		ms[i] = m
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			m.c = faultConnect(t, gws[m.gw].addr, func(_ *faultClient, data []byte) {
				if strings.Contains(string(data), `"probe"`) {
					m.probes.Add(1)
				} else if onMsg != nil {
					onMsg(m.c, data)
				}
			})
			ctx := t.Context()
			if err := st.BindUid(ctx, m.c.id, m.uid); err != nil {
				t.Error(err)
			}
			if err := st.JoinGroup(ctx, m.c.id, m.room); err != nil {
				t.Error(err)
			}
			if err := st.SetSession(ctx, m.c.id, m.sess); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ms
}

// faultCheckState returns nil when Redis describes exactly the members given.
func faultCheckState(ctx context.Context, st *session.Store, ms []*faultMember, rooms int) error {
	var ids, uids []string
	byRoom := map[string][]string{}
	roomUids := map[string]map[string]bool{}
	seenUid := map[string]bool{}
	for _, m := range ms {
		ids = append(ids, m.c.id)
		byRoom[m.room] = append(byRoom[m.room], m.c.id)
		if roomUids[m.room] == nil {
			roomUids[m.room] = map[string]bool{}
		}
		roomUids[m.room][m.uid] = true
		if !seenUid[m.uid] {
			seenUid[m.uid] = true
			uids = append(uids, m.uid)
		}
	}
	if n, err := st.ClientCount(ctx); err != nil || n != int64(len(ids)) {
		return fmt.Errorf("ClientCount = %d, %v; want %d", n, err, len(ids))
	}
	got, err := st.ClientIDs(ctx)
	if err != nil || !faultSameSet(got, ids) {
		return fmt.Errorf("ClientIDs: %d ids, %v; want %d", len(got), err, len(ids))
	}
	if n, err := st.UidCount(ctx); err != nil || n != int64(len(uids)) {
		return fmt.Errorf("UidCount = %d, %v; want %d", n, err, len(uids))
	}
	if got, err := st.Uids(ctx); err != nil || !faultSameSet(got, uids) {
		return fmt.Errorf("Uids: %d, %v; want %d", len(got), err, len(uids))
	}
	for r := range rooms {
		room := fmt.Sprintf("room%d", r)
		if n, err := st.ClientCountByGroup(ctx, room); err != nil || n != int64(len(byRoom[room])) {
			return fmt.Errorf("ClientCountByGroup(%s) = %d, %v; want %d", room, n, err, len(byRoom[room]))
		}
		if got, err := st.ClientIDsByGroup(ctx, room); err != nil || !faultSameSet(got, byRoom[room]) {
			return fmt.Errorf("ClientIDsByGroup(%s) differs (%d ids, %v)", room, len(got), err)
		}
		if n, err := st.UidCountByGroup(ctx, room); err != nil || n != len(roomUids[room]) {
			return fmt.Errorf("UidCountByGroup(%s) = %d, %v; want %d", room, n, err, len(roomUids[room]))
		}
		sess, err := st.SessionsByGroup(ctx, room)
		if err != nil || len(sess) != len(byRoom[room]) {
			return fmt.Errorf("SessionsByGroup(%s): %d, %v; want %d", room, len(sess), err, len(byRoom[room]))
		}
	}
	gids, err := st.GroupIDs(ctx)
	if err != nil || len(gids) != len(byRoom) {
		return fmt.Errorf("GroupIDs = %v, %v; want %d groups", gids, err, len(byRoom))
	}
	return nil
}

// faultProbeRooms sends one probe to every room and waits until each member
// has it: proof that the gateways route by the memberships in Redis.
func faultProbeRooms(t *testing.T, st *session.Store, ms []*faultMember, rooms int, d time.Duration) time.Duration {
	t.Helper()
	want := map[*faultMember]int64{}
	for _, m := range ms {
		want[m] = m.probes.Load() + 1
	}
	start := time.Now()
	for r := range rooms {
		if err := st.SendToGroup(t.Context(), fmt.Sprintf("room%d", r), []byte(`{"type":"probe"}`)); err != nil {
			t.Fatal(err)
		}
	}
	testwait.For(t, d, "every member gets the room probe", func() error {
		for m, w := range want {
			if got := m.probes.Load(); got != w {
				return fmt.Errorf("client %s of %s: %d probes, want %d", m.c.id, m.room, got, w)
			}
		}
		return nil
	})
	return time.Since(start)
}

// TestFaultGatewayCrash kills one of three gateway processes (SIGKILL) while
// 300 clients, bound to uids and in rooms, are connected across them. A
// surviving process (here the test's own reaper; once wired, every chatgate
// process runs one) must clean up within 15s with the default liveness TTL
// (10s) and reaper interval (3s): exact counts and lists, and one close event
// per reaped client carrying its uid, session and groups, from which the
// chat app sends the room's close and flush notices.
func TestFaultGatewayCrash(t *testing.T) { faultGatewayCrash(t) }

// TestFaultGatewayCrashStd is TestFaultGatewayCrash with the gateways on
// the std engine (--ws-engine std, coder/websocket): real clients get room
// messages, and a SIGKILLed gateway's clients are cleaned up the same way.
func TestFaultGatewayCrashStd(t *testing.T) { faultGatewayCrash(t, "--ws-engine", "std") }

// faultGatewayCrash runs the crash scenario with gateways started with extra.
func faultGatewayCrash(t *testing.T, extra ...string) {
	const (
		clients = 300
		rooms   = 5
		bound   = 15 * time.Second
	)
	rs := redistest.Start(t)
	gws := []*faultProc{faultStartGateway(t, rs.URL(), extra...), faultStartGateway(t, rs.URL(), extra...), faultStartGateway(t, rs.URL(), extra...)}
	engine := "nbio" // the default
	if i := slices.Index(extra, "--ws-engine"); i >= 0 {
		engine = extra[i+1]
	}
	for _, g := range gws {
		if want := `"ws_engine":"` + engine + `"`; !strings.Contains(g.tail(), want) {
			t.Fatalf("gateway pid %d does not log %s at start:\n%s", g.PID(), want, g.tail())
		}
	}
	st := faultOpenStore(t, rs.URL())

	ctx, stop := context.WithCancel(t.Context())
	reaperDone := make(chan error, 1)
	go func() { reaperDone <- st.RunReaper(ctx, 0, nil) }()
	t.Cleanup(func() { stop(); <-reaperDone })

	ms := faultPopulate(t, st, gws, clients, rooms)
	if err := faultCheckState(t.Context(), st, ms, rooms); err != nil {
		t.Fatalf("before the crash: %v", err)
	}
	faultProbeRooms(t, st, ms, rooms, 20*time.Second)

	var dead, alive []*faultMember
	for _, m := range ms {
		if m.gw == 0 {
			dead = append(dead, m)
		} else {
			alive = append(alive, m)
		}
	}
	deadGw, _ := session.GatewayOf(dead[0].c.id)

	gws[0].kill(t)
	killed := time.Now()
	cleanup := testwait.For(t, 30*time.Second, "cleanup after kill -9", func() error {
		return faultCheckState(t.Context(), st, alive, rooms)
	})
	t.Logf("gateway crash: %d of %d clients on the killed gateway; cleanup took %v after SIGKILL (bound %v; alive TTL 10s, reaper interval 3s)",
		len(dead), clients, cleanup.Round(time.Millisecond), bound)
	if cleanup > bound {
		t.Errorf("cleanup took %v, more than %v", cleanup, bound)
	}
	for _, m := range dead {
		if on, err := st.IsOnline(t.Context(), m.c.id); err != nil || on {
			t.Errorf("dead client %s still online (%v)", m.c.id, err)
		}
	}

	for _, g := range gws[1:] {
		if strings.Contains(g.tail(), `"msg":"reaped crashed gateway"`) {
			t.Logf("the crashed gateway was reaped by surviving gateway pid %d", g.PID())
		}
	}

	// One close event per reaped client, with what a room's close notice needs.
	faultCheckCloseEvents(t, rs.Client(t), st, deadGw, dead)

	// Survivors still get room messages, and only they do.
	took := faultProbeRooms(t, st, alive, rooms, 20*time.Second)
	t.Logf("after cleanup a message to every room reached all %d survivors in %v (%v since the kill)",
		len(alive), took.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
}

// faultCheckCloseEvents checks that the events stream holds exactly one close
// event per client of the dead gateway, describing it. The reaper appends a
// client's close event after it has forgotten the client, so the state can be
// clean before the last events are in: it waits until every dead client has
// one, then checks them all.
func faultCheckCloseEvents(t *testing.T, rdb redis.UniversalClient, st *session.Store, deadGw string, dead []*faultMember) {
	t.Helper()
	byID := map[string]*faultMember{}
	for _, m := range dead {
		byID[m.c.id] = m
	}
	var msgs []redis.XMessage
	testwait.For(t, 20*time.Second, "a close event for every client of the killed gateway", func() error {
		var err error
		if msgs, err = rdb.XRange(t.Context(), st.EventsStream(), "-", "+").Result(); err != nil {
			return err
		}
		have := map[string]bool{}
		for _, x := range msgs {
			if id := fmt.Sprint(x.Values["client_id"]); byID[id] != nil && x.Values["type"] == session.EventClose && x.Values["gateway"] == deadGw {
				have[id] = true
			}
		}
		if len(have) < len(dead) {
			return fmt.Errorf("%d of %d clients have none", len(dead)-len(have), len(dead))
		}
		return nil
	})
	seen := map[string]int{}
	for _, x := range msgs {
		v := x.Values
		if v["type"] != session.EventClose || v["gateway"] != deadGw {
			continue
		}
		id, _ := v["client_id"].(string)
		seen[id]++
		m := byID[id]
		if m == nil {
			t.Errorf("close event for unknown client %s", id)
			continue
		}
		var groups []string
		var sess session.Session
		_ = json.Unmarshal([]byte(fmt.Sprint(v["groups"])), &groups)
		_ = json.Unmarshal([]byte(fmt.Sprint(v["session"])), &sess)
		if v["uid"] != m.uid || v["reason"] != session.ReasonGatewayCrashed || !slices.Equal(groups, []string{m.room}) ||
			sess["uname"] != m.sess["uname"] || sess["room_id"] != m.room {
			t.Errorf("close event %v does not describe client %s (uid %s, room %s)", v, id, m.uid, m.room)
		}
	}
	for _, m := range dead {
		if seen[m.c.id] != 1 {
			t.Errorf("client %s: %d close events, want 1", m.c.id, seen[m.c.id])
		}
	}
	t.Logf("close events for the killed gateway: %d for %d clients (each with uid, session and groups)", len(seen), len(dead))
}
