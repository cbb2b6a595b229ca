package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
)

// opsStep is one membership operation, run once through its op_*.lua script
// and once through its Cluster step sequence.
type opsStep struct {
	name  string
	op    func(s *Store, ctx context.Context) error
	steps func(s *Store, ctx context.Context) error
	noCli bool // both must fail with ErrNoClient
	pubs  int  // envelopes each side publishes
}

// opsScenario covers every branch of the five operations: new and repeated
// joins, leaving a group one is not in, the last member leaving, a bind that
// moves a client from a uid that keeps or loses its last client, rebinding the
// same uid, unbinding a uid one is not bound to, ungrouping a live, a
// dissolved and an unknown group, and the no-such-client replies.
func opsScenario(a, b, c, ghost string) []opsStep {
	gw := func(cid string) string { g, _ := gatewayOf(cid); return g }
	join := func(cid, gid string, pubs int, noCli bool) opsStep {
		return opsStep{"join " + cid + " " + gid,
			func(s *Store, ctx context.Context) error { return s.joinOp(ctx, cid, gw(cid), gid) },
			func(s *Store, ctx context.Context) error { return s.joinSteps(ctx, cid, gw(cid), gid) },
			noCli, pubs}
	}
	leave := func(cid, gid string) opsStep {
		return opsStep{"leave " + cid + " " + gid,
			func(s *Store, ctx context.Context) error { return s.leaveOp(ctx, cid, gw(cid), gid) },
			func(s *Store, ctx context.Context) error { return s.leaveSteps(ctx, cid, gw(cid), gid) },
			false, 1}
	}
	ungroup := func(gid string, pubs int) opsStep {
		return opsStep{"ungroup " + gid,
			func(s *Store, ctx context.Context) error { return s.ungroupOp(ctx, gid) },
			func(s *Store, ctx context.Context) error { return s.ungroupSteps(ctx, gid) },
			false, pubs}
	}
	bind := func(cid, uid string, pubs int, noCli bool) opsStep {
		return opsStep{"bind " + cid + " " + uid,
			func(s *Store, ctx context.Context) error { return s.bindOp(ctx, cid, gw(cid), uid) },
			func(s *Store, ctx context.Context) error { return s.bindSteps(ctx, cid, gw(cid), uid) },
			noCli, pubs}
	}
	unbind := func(cid, uid string) opsStep {
		return opsStep{"unbind " + cid + " " + uid,
			func(s *Store, ctx context.Context) error { return s.unbindOp(ctx, cid, gw(cid), uid) },
			func(s *Store, ctx context.Context) error { return s.unbindSteps(ctx, cid, gw(cid), uid) },
			false, 1}
	}
	return []opsStep{
		join(a, "g1", 1, false), join(b, "g1", 1, false), join(c, "g1", 1, false), join(a, "g1", 1, false),
		join(ghost, "g1", 0, true),
		leave(b, "g1"), leave(b, "g1"), leave(c, "g2"),
		bind(a, "u1", 1, false), bind(b, "u1", 1, false), bind(a, "u2", 1, false), bind(b, "u2", 1, false),
		bind(a, "u2", 1, false), bind(ghost, "u1", 0, true), bind(c, "u3", 1, false),
		unbind(a, "u2"), unbind(a, "u9"), unbind(b, "u2"), unbind(c, "u1"),
		join(a, "g2", 1, false), join(c, "g2", 1, false), join(b, "g3", 1, false),
		ungroup("g1", 2), ungroup("g1", 0), ungroup("nope", 0),
		leave(a, "g2"), leave(c, "g2"), leave(b, "g3"),
	}
}

// TestOpScriptsMatchSteps runs every membership operation through its
// op_*.lua script on one prefix and through the Cluster step sequence on
// another, on miniredis and on a real redis-server, and checks after each
// step that both prefixes hold the same keys and values and that both
// published the same envelopes (ignoring "ts") to the same inboxes.
func TestOpScriptsMatchSteps(t *testing.T) {
	t.Parallel()
	forEachRedis(t, runOpsComparison)
}

// forEachRedis runs f in parallel subtests on miniredis and on a real
// redis-server, each with its own client.
func forEachRedis(t *testing.T, f func(t *testing.T, rdb *redis.Client)) {
	for _, tc := range []struct {
		name string
		addr func(t *testing.T) string
	}{
		{"miniredis", func(t *testing.T) string { return miniredis.RunT(t).Addr() }},
		{"redis-server", func(t *testing.T) string { return redistest.Start(t).Addr() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewClient(&redis.Options{Addr: tc.addr(t), ContextTimeoutEnabled: true})
			t.Cleanup(func() { _ = rdb.Close() })
			f(t, rdb)
		})
	}
}

func runOpsComparison(t *testing.T, rdb *redis.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ops, steps := New(rdb, &Options{Prefix: "op:"}), New(rdb, &Options{Prefix: "st:"})
	a, b, c, ghost := NewClientID("gw1"), NewClientID("gw1"), NewClientID("gw2"), NewClientID("gw2")
	at := time.UnixMilli(1_700_000_000_000)
	for _, s := range []*Store{ops, steps} {
		for _, cid := range []string{a, b, c} {
			gw, _ := gatewayOf(cid)
			if err := s.RegisterClient(ctx, &ClientState{ID: cid, Gateway: gw, IP: "127.0.0.1", ConnectedAt: at}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rec := newEnvRecorder(ctx, t, rdb, "op:", "st:")
	want := 0
	for _, st := range opsScenario(a, b, c, ghost) {
		errOp, errSteps := st.op(ops, ctx), st.steps(steps, ctx)
		for side, err := range map[string]error{"op script": errOp, "steps": errSteps} {
			if st.noCli != errors.Is(err, ErrNoClient) || (!st.noCli && err != nil) {
				t.Fatalf("%s: %s: %v (want no-such-client %v)", st.name, side, err, st.noCli)
			}
		}
		if got, wantState := dumpPrefix(ctx, t, rdb, "op:"), dumpPrefix(ctx, t, rdb, "st:"); !maps2Equal(got, wantState) {
			t.Fatalf("%s: state differs\nop script: %v\nsteps:     %v", st.name, got, wantState)
		}
		want += st.pubs
		rec.waitEqual(t, st.name, want)
	}
}

// dumpPrefix returns every key under prefix (prefix stripped) with its type
// and contents, sets sorted.
func dumpPrefix(ctx context.Context, t *testing.T, rdb *redis.Client, prefix string) map[string]string {
	t.Helper()
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		var v any
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "set":
			m := rdb.SMembers(ctx, k).Val()
			slices.Sort(m)
			v = m
		case "hash":
			v = rdb.HGetAll(ctx, k).Val()
		case "string":
			v = rdb.Get(ctx, k).Val()
		default:
			t.Fatalf("key %s: unexpected type %q", k, typ)
		}
		out[strings.TrimPrefix(k, prefix)] = fmt.Sprint(v)
	}
	return out
}

func maps2Equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// envRecorder collects the envelopes published under two prefixes, as
// "channel-without-prefix envelope-without-ts".
type envRecorder struct {
	mu     sync.Mutex
	got    map[string][]string
	prefix [2]string
}

func newEnvRecorder(ctx context.Context, t *testing.T, rdb *redis.Client, p1, p2 string) *envRecorder {
	t.Helper()
	ps := rdb.PSubscribe(ctx, p1+"gw:*", p2+"gw:*")
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	r := &envRecorder{got: map[string][]string{}, prefix: [2]string{p1, p2}}
	done := make(chan struct{})
	t.Cleanup(func() { _ = ps.Close(); <-done })
	go func() {
		defer close(done)
		for m := range ps.Channel() {
			p := r.prefix[0]
			if !strings.HasPrefix(m.Channel, p) {
				p = r.prefix[1]
			}
			var env map[string]any
			if err := json.Unmarshal([]byte(m.Payload), &env); err != nil {
				t.Errorf("bad envelope on %s: %q", m.Channel, m.Payload)
				continue
			}
			if _, ok := env["ts"]; !ok {
				t.Errorf("envelope on %s has no ts: %q", m.Channel, m.Payload)
			}
			delete(env, "ts")
			b, _ := json.Marshal(env)
			r.mu.Lock()
			r.got[p] = append(r.got[p], strings.TrimPrefix(m.Channel, p)+" "+string(b))
			r.mu.Unlock()
		}
	}()
	return r
}

// waitEqual polls until both prefixes received n envelopes, then checks that
// they are the same (sorted: one ungroup publishes to gateways in hash order).
func (r *envRecorder) waitEqual(t *testing.T, step string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		a, b := slices.Clone(r.got[r.prefix[0]]), slices.Clone(r.got[r.prefix[1]])
		r.mu.Unlock()
		if len(a) >= n && len(b) >= n {
			slices.Sort(a)
			slices.Sort(b)
			if len(a) != n || !slices.Equal(a, b) {
				t.Fatalf("%s: envelopes differ (want %d each)\nop script: %q\nsteps:     %q", step, n, a, b)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: got %d and %d envelopes, want %d each", step, len(a), len(b), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkMembership compares one op_*.lua call with the Cluster step
// sequence on a real redis-server: join then leave (the leave empties the
// group, so the steps include drop-if-empty), and bind then unbind.
func BenchmarkMembership(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(b).Addr(), ContextTimeoutEnabled: true})
	b.Cleanup(func() { _ = rdb.Close() })
	s := New(rdb, nil)
	ctx := context.Background()
	cid := NewClientID("gw1")
	if err := s.RegisterClient(ctx, &ClientState{ID: cid, Gateway: "gw1", ConnectedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"join+leave/op", func() error { return errors.Join(s.joinOp(ctx, cid, "gw1", "g"), s.leaveOp(ctx, cid, "gw1", "g")) }},
		{"join+leave/steps", func() error {
			return errors.Join(s.joinSteps(ctx, cid, "gw1", "g"), s.leaveSteps(ctx, cid, "gw1", "g"))
		}},
		{"bind+unbind/op", func() error { return errors.Join(s.bindOp(ctx, cid, "gw1", "u"), s.unbindOp(ctx, cid, "gw1", "u")) }},
		{"bind+unbind/steps", func() error {
			return errors.Join(s.bindSteps(ctx, cid, "gw1", "u"), s.unbindSteps(ctx, cid, "gw1", "u"))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
