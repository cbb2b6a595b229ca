package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
)

var reapTestSeq struct {
	sync.Mutex
	n int
}

// reapTestStore returns a Store with its own prefix over rdb.
func reapTestStore(t *testing.T, rdb redis.UniversalClient) *Store {
	t.Helper()
	reapTestSeq.Lock()
	reapTestSeq.n++
	p := fmt.Sprintf("reaptest%d:", reapTestSeq.n)
	reapTestSeq.Unlock()
	return New(rdb, &Options{Prefix: p, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func reapMiniredis(t *testing.T) *Store {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return reapTestStore(t, rdb)
}

// reapFixture registers n clients on gateway gw: client i is bound to uid
// "u<i%5>", in group "room<i%3>" (and "all"), with session {"name": "n<i>"}.
func reapFixture(t *testing.T, s *Store, gw string, n int) []*ClientState {
	t.Helper()
	ctx := t.Context()
	var cs []*ClientState
	for i := range n {
		cs = append(cs, &ClientState{
			ID: NewClientID(gw), Gateway: gw, IP: "127.0.0.1", ConnectedAt: time.Now(),
			Uid: fmt.Sprintf("u%d", i%5), Groups: []string{fmt.Sprintf("room%d", i%3), "all"},
			Session: Session{"name": fmt.Sprintf("n%d", i)},
		})
	}
	if err := s.RegisterClients(ctx, cs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkAlive(ctx, gw, time.Minute); err != nil {
		t.Fatal(err)
	}
	return cs
}

// kill makes gw look crashed: its liveness key is gone, its records stay.
func (s *Store) reapTestKill(t *testing.T, gw string) {
	t.Helper()
	if err := s.rdb.Del(t.Context(), string(s.k.gwAlive(gw))).Err(); err != nil {
		t.Fatal(err)
	}
}

type closeEvent struct {
	cid, gw, uid, reason string
	groups               []string
	session              Session
}

func reapTestEvents(t *testing.T, s *Store) []closeEvent {
	t.Helper()
	msgs, err := s.rdb.XRange(t.Context(), s.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []closeEvent
	for _, m := range msgs {
		if m.Values["type"] != EventClose {
			continue
		}
		e := closeEvent{cid: m.Values["client_id"].(string), gw: m.Values["gateway"].(string), uid: m.Values["uid"].(string)}
		e.reason, _ = m.Values["reason"].(string)
		if err := json.Unmarshal([]byte(m.Values["groups"].(string)), &e.groups); err != nil {
			t.Fatalf("groups of %v: %v", m.Values, err)
		}
		if raw, ok := m.Values["session"].(string); ok {
			_ = json.Unmarshal([]byte(raw), &e.session)
		}
		slices.Sort(e.groups)
		out = append(out, e)
	}
	return out
}

// checkReaped asserts that the survivors are exactly what Redis holds and
// that every dead client got one close event with its uid, session and groups.
func checkReaped(t *testing.T, s *Store, dead, alive []*ClientState) {
	t.Helper()
	checkReapedWith(t, s, dead, alive, ReasonGatewayCrashed)
}

func checkReapedWith(t *testing.T, s *Store, dead, alive []*ClientState, reason string) {
	t.Helper()
	ctx := t.Context()
	if n, err := s.ClientCount(ctx); err != nil || n != int64(len(alive)) {
		t.Errorf("ClientCount = %d, %v; want %d", n, err, len(alive))
	}
	wantGroups := map[string]int64{}
	wantUids := map[string]bool{}
	for _, c := range alive {
		for _, g := range c.Groups {
			wantGroups[g]++
		}
		wantUids[c.Uid] = true
	}
	for _, g := range []string{"room0", "room1", "room2", "all"} {
		if n, err := s.ClientCountByGroup(ctx, g); err != nil || n != wantGroups[g] {
			t.Errorf("ClientCountByGroup(%s) = %d, %v; want %d", g, n, err, wantGroups[g])
		}
	}
	if n, err := s.UidCount(ctx); err != nil || n != int64(len(wantUids)) {
		t.Errorf("UidCount = %d, %v; want %d", n, err, len(wantUids))
	}
	gids, _ := s.GroupIDs(ctx)
	if len(gids) != len(wantGroups) {
		t.Errorf("GroupIDs = %v; want %d groups", gids, len(wantGroups))
	}
	evs := reapTestEvents(t, s)
	byCid := map[string]closeEvent{}
	for _, e := range evs {
		if _, dup := byCid[e.cid]; dup {
			t.Errorf("two close events for %s", e.cid)
		}
		byCid[e.cid] = e
	}
	if len(evs) != len(dead) {
		t.Errorf("close events = %d, want %d", len(evs), len(dead))
	}
	for _, c := range dead {
		e, ok := byCid[c.ID]
		if !ok {
			t.Errorf("no close event for %s", c.ID)
			continue
		}
		want := slices.Clone(c.Groups)
		slices.Sort(want)
		if e.uid != c.Uid || e.gw != c.Gateway || e.reason != reason || !slices.Equal(e.groups, want) || e.session["name"] != c.Session["name"] {
			t.Errorf("close event %+v does not match %+v", e, c)
		}
		if on, _ := s.IsOnline(ctx, c.ID); on {
			t.Errorf("%s still online", c.ID)
		}
	}
}

func TestReapDeadGateways(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		dead     int  // clients on the crashed gateway
		alive    int  // clients on a live gateway
		lockedBy bool // another reaper holds the lock: nothing happens
	}{
		{name: "one dead one alive", dead: 7, alive: 5},
		{name: "dead with no clients", dead: 0, alive: 3},
		{name: "more than a batch", dead: 2*reapBatch + 17, alive: 1},
		{name: "locked by another reaper", dead: 4, alive: 2, lockedBy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := reapMiniredis(t)
			ctx := t.Context()
			dead := reapFixture(t, s, "gwdead", tt.dead)
			alive := reapFixture(t, s, "gwalive", tt.alive)
			s.reapTestKill(t, "gwdead")
			if tt.lockedBy {
				if err := s.rdb.Set(ctx, string(s.k.reapLock("gwdead")), "other", time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
			}
			got, err := s.ReapDeadGateways(ctx, &ReaperOptions{Owner: "me"})
			if err != nil {
				t.Fatal(err)
			}
			if tt.lockedBy {
				if len(got) != 0 {
					t.Fatalf("reaped %+v while another reaper held the lock", got)
				}
				if n, _ := s.ClientCount(ctx); n != int64(tt.dead+tt.alive) {
					t.Fatalf("ClientCount = %d, want untouched %d", n, tt.dead+tt.alive)
				}
				return
			}
			if len(got) != 1 || got[0].Gateway != "gwdead" || got[0].Clients != tt.dead || got[0].Partial {
				t.Fatalf("ReapDeadGateways = %+v; want gwdead with %d clients", got, tt.dead)
			}
			checkReaped(t, s, dead, alive)
			gws, _ := s.rdb.SMembers(ctx, string(s.k.gateways())).Result()
			if !slices.Equal(gws, []string{"gwalive"}) {
				t.Errorf("gateways = %v, want [gwalive]", gws)
			}
			if n, _ := s.rdb.Exists(ctx, string(s.k.reapLock("gwdead")), string(s.k.gwClients("gwdead"))).Result(); n != 0 {
				t.Errorf("lock or client set left behind (%d keys)", n)
			}
			// A second pass finds nothing.
			if again, err := s.ReapDeadGateways(ctx, nil); err != nil || len(again) != 0 {
				t.Errorf("second pass = %+v, %v", again, err)
			}
		})
	}
}

func TestReapSkipsLiveGateway(t *testing.T) {
	t.Parallel()
	s := reapMiniredis(t)
	ctx := t.Context()
	cs := reapFixture(t, s, "gwa", 3)
	got, err := s.ReapDeadGateways(ctx, nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("reaped a live gateway: %+v, %v", got, err)
	}
	checkReaped(t, s, nil, cs)
}

func TestReapStrays(t *testing.T) {
	t.Parallel()
	// The stray's id names its gateway in either form: GW.RANDOM, or the
	// compact 20-hex form of GatewayWorker-compatible gateways.
	for _, tc := range []struct{ gw, stray string }{
		{"gwdead", "gwdead.strayAAAAAAAAAAAAAAAAAA"},
		{"0a0000010b54", "0a0000010b54deadbeef"},
	} {
		t.Run(tc.gw, func(t *testing.T) {
			t.Parallel()
			s := reapMiniredis(t)
			ctx := t.Context()
			cs := reapFixture(t, s, tc.gw, 2)
			// A join and a bind that raced the crash: in the group and uid sets, not
			// in the gateway's client set, and no hash.
			if err := s.removeMemberships(ctx, cs[0].ID, tc.gw, nil, nil, true); err != nil {
				t.Fatal(err)
			}
			pipe := s.rdb.Pipeline()
			scriptGroupJoin.Eval(ctx, pipe, []string{string(s.k.group("room9")), string(s.k.groupGateways("room9"))}, tc.stray, tc.gw)
			pipe.SAdd(ctx, string(s.k.groups()), "room9")
			pipe.SAdd(ctx, string(s.k.uid("u9")), tc.stray)
			pipe.SAdd(ctx, string(s.k.uids()), "u9")
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			s.reapTestKill(t, tc.gw)
			got, err := s.ReapDeadGateways(ctx, nil)
			if err != nil || len(got) != 1 {
				t.Fatalf("ReapDeadGateways = %+v, %v", got, err)
			}
			// cs[0] was only out of the client set: found as a stray, hash and all.
			if got[0].Clients != 1 || got[0].Strays != 2 {
				t.Errorf("reaped %+v; want 1 client and 2 strays", got[0])
			}
			checkReaped(t, s, cs, nil)
			if n, _ := s.rdb.Exists(ctx, string(s.k.groupGateways("room9")), string(s.k.uid("u9"))).Result(); n != 0 {
				t.Errorf("stray sets left behind")
			}
		})
	}
}

// TestReapConcurrent runs several reapers at once against a real Redis: each
// dead client gets exactly one close event and the state ends exact.
func TestReapConcurrent(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s := reapTestStore(t, rdb)
	ctx := t.Context()
	var dead []*ClientState
	for i := range 3 {
		dead = append(dead, reapFixture(t, s, fmt.Sprintf("gwdead%d", i), 150)...)
	}
	alive := reapFixture(t, s, "gwalive", 40)
	for i := range 3 {
		s.reapTestKill(t, fmt.Sprintf("gwdead%d", i))
	}
	const reapers = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	total := 0
	start := time.Now()
	for i := range reapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A short lock so that takeovers happen too.
			got, err := s.ReapDeadGateways(ctx, &ReaperOptions{Owner: fmt.Sprint("r", i), LockTTL: 50 * time.Millisecond})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			for _, r := range got {
				total += r.Clients
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Logf("%d reapers cleaned %d clients of 3 gateways in %v", reapers, total, time.Since(start).Round(time.Millisecond))
	if total != len(dead) {
		t.Errorf("reapers reported %d clients, want %d", total, len(dead))
	}
	checkReaped(t, s, dead, alive)
}

// TestReaperComesBack: a gateway whose liveness key reappears mid-way is left
// alone from then on, and it re-asserts its state itself (not tested here).
func TestReaperComesBack(t *testing.T) {
	t.Parallel()
	s := reapMiniredis(t)
	ctx := t.Context()
	reapFixture(t, s, "gwb", 2*reapBatch+1)
	s.reapTestKill(t, "gwb")
	o := ReaperOptions{Owner: "me"}
	o = o.withDefaults(s)
	// Take the lock and forget one batch, as reapGateway does, then revive.
	if n, err := s.reapLock(ctx, "gwb", &o); err != nil || n != 1 {
		t.Fatalf("lock = %d, %v", n, err)
	}
	if _, err := s.MarkAlive(ctx, "gwb", time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, err := s.reapLock(ctx, "gwb", &o); err != nil || n != -1 {
		t.Fatalf("lock on a live gateway = %d, %v; want -1", n, err)
	}
	var r Reaped
	if s.stillReaping(ctx, "gwb", &o, &r) || !r.Partial {
		t.Fatalf("a reaper mid-way goes on after the gateway came back (%+v)", r)
	}
	got, err := s.ReapDeadGateways(ctx, &o)
	if err != nil || len(got) != 0 {
		t.Fatalf("reaped a revived gateway: %+v, %v", got, err)
	}
	if n, _ := s.ClientCount(ctx); n != 2*reapBatch+1 {
		t.Fatalf("ClientCount = %d", n)
	}
}

// TestRunReaper: the loop reaps within an interval, survives Redis being down
// and returns nil when its ctx ends.
func TestRunReaper(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	s := reapTestStore(t, rdb)
	ctx, cancel := context.WithCancel(t.Context())
	failures := &reapCountHandler{msg: "reaper pass failed; retrying"}
	var passReaped, passErrs atomic.Int64 // what OnPass reports (metrics)
	onPass := func(n int, err error) {
		passReaped.Add(int64(n))
		if err != nil {
			passErrs.Add(1)
		}
	}
	done := make(chan error, 1)
	go func() {
		done <- s.RunReaper(ctx, 50*time.Millisecond, &ReaperOptions{Logger: slog.New(failures), OrphanSweep: -1, OnPass: onPass})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunReaper = %v, want nil", err)
		}
	})
	waitReap := func(gw string) time.Duration {
		start := time.Now()
		for time.Since(start) < 20*time.Second {
			if n, err := s.ClientCount(t.Context()); err == nil && n == 0 {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("gateway %s not reaped within 20s", gw)
		return 0
	}
	reapFixture(t, s, "gw1", 10)
	s.reapTestKill(t, "gw1")
	t.Logf("reaped within %v", waitReap("gw1"))
	for onPassBy := time.Now().Add(5 * time.Second); passReaped.Load() < 1 && time.Now().Before(onPassBy); {
		time.Sleep(20 * time.Millisecond)
	}
	if got := passReaped.Load(); got != 1 || passErrs.Load() != 0 {
		t.Fatalf("OnPass reported %d reaped, %d errors; want 1 and 0", got, passErrs.Load())
	}

	// Redis down then back (empty): the loop keeps going.
	srv.Stop(t)
	deadline := time.Now().Add(20 * time.Second)
	for failures.n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if failures.n.Load() < 2 {
		t.Fatal("reaper logged no failed pass while Redis was down")
	}
	if passErrs.Load() < 2 {
		t.Fatalf("OnPass reported %d failed passes while Redis was down", passErrs.Load())
	}
	srv.Restart(t)
	for s.Ping(t.Context()) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	reapFixture(t, s, "gw2", 10)
	s.reapTestKill(t, "gw2")
	t.Logf("reaped after a Redis restart within %v (%d failed passes logged)", waitReap("gw2"), failures.n.Load())
}

// reapCountHandler counts log records with one message.
type reapCountHandler struct {
	msg string
	n   atomic.Int64
}

func (h *reapCountHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *reapCountHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *reapCountHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *reapCountHandler) WithGroup(string) slog.Handler      { return h }

// TestForgetStaleClients: a live gateway drops the clients Redis still lists
// but it no longer holds (their forget failed), with one close event each.
func TestForgetStaleClients(t *testing.T) {
	t.Parallel()
	s := reapMiniredis(t)
	ctx := t.Context()
	cs := reapFixture(t, s, "gwlive", 6)
	live := map[string]bool{}
	for _, c := range cs[2:] {
		live[c.ID] = true
	}
	n, err := s.ForgetStaleClients(ctx, "gwlive", func(cid string) bool { return live[cid] }, nil)
	if err != nil || n != 2 {
		t.Fatalf("ForgetStaleClients = %d, %v; want 2", n, err)
	}
	checkReapedWith(t, s, cs[:2], cs[2:], ReasonStale)
	if n, err := s.ForgetStaleClients(ctx, "gwlive", func(cid string) bool { return live[cid] }, nil); err != nil || n != 0 {
		t.Errorf("second call = %d, %v; want 0", n, err)
	}
}

// TestReapOrphans: a gateway that unregistered without forgetting its clients
// (drain during a Redis stall) is cleaned up by the orphan sweep once it was
// seen twice; a registered gateway, and an unregistered but alive one, are not.
func TestReapOrphans(t *testing.T) {
	t.Parallel()
	s := reapMiniredis(t)
	ctx := t.Context()
	orphans := reapFixture(t, s, "gworphan", 5)
	alive := reapFixture(t, s, "gwalive", 3)
	starting := reapFixture(t, s, "gwstarting", 2)
	if err := s.RemoveGateway(ctx, "gworphan"); err != nil {
		t.Fatal(err)
	}
	// Alive but not registered yet.
	if err := s.rdb.SRem(ctx, string(s.k.gateways()), "gwstarting").Err(); err != nil {
		t.Fatal(err)
	}
	o := (&ReaperOptions{}).withDefaults(s)
	suspects, got, err := s.sweepOrphans(ctx, nil, &o)
	if err != nil || len(got) != 0 || !reflectEqualKeys(suspects, "gworphan") {
		t.Fatalf("first sweep = %v, %+v, %v; want suspect gworphan only, nothing reaped", suspects, got, err)
	}
	suspects, got, err = s.sweepOrphans(ctx, suspects, &o)
	if err != nil || len(got) != 1 || got[0].Gateway != "gworphan" || got[0].Strays != len(orphans) {
		t.Fatalf("second sweep = %+v, %v; want gworphan with %d strays", got, err, len(orphans))
	}
	if err := s.rdb.SAdd(ctx, string(s.k.gateways()), "gwstarting").Err(); err != nil {
		t.Fatal(err)
	}
	checkReaped(t, s, orphans, append(alive, starting...))
	if suspects, _, _ = s.sweepOrphans(ctx, suspects, &o); len(suspects) != 0 {
		t.Errorf("suspects after cleanup: %v", suspects)
	}
}

func reflectEqualKeys(m map[string]bool, keys ...string) bool {
	if len(m) != len(keys) {
		return false
	}
	for _, k := range keys {
		if !m[k] {
			return false
		}
	}
	return true
}

// TestRunReaperSweepsOrphans: the loop runs the orphan sweep by itself.
func TestRunReaperSweepsOrphans(t *testing.T) {
	t.Parallel()
	s := reapMiniredis(t)
	cs := reapFixture(t, s, "gworphan", 3)
	if err := s.RemoveGateway(t.Context(), "gworphan"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.RunReaper(ctx, 10*time.Millisecond, &ReaperOptions{OrphanSweep: 30 * time.Millisecond})
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		gids, err1 := s.GroupIDs(t.Context())
		n, err2 := s.UidCount(t.Context())
		evs, err3 := s.rdb.XLen(t.Context(), s.EventsStream()).Result()
		if err1 == nil && err2 == nil && err3 == nil && len(gids) == 0 && n == 0 && evs == int64(len(cs)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("orphans not swept within 20s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	checkReaped(t, s, cs, nil)
}
