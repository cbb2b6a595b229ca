package session_test

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// Benchmarks of the hot path and of every push API operation against a real
// redis-server (internal/redistest). Besides ns/op and allocs/op they report
// rtt/op (client round trips: one command or one pipeline each, counted by a
// go-redis hook) and redis-cmds/op (commands Redis executed, Lua-internal
// ones included, from INFO commandstats). Run them with
//
//	go test ./session -run '^$' -bench . -benchmem -benchtime 2000x
//
// docs/BENCHMARKS.md quotes them.

// benchEnvelope is a typical room message as a gateway receives it.
var benchEnvelope = []byte(`{"op":"send","groups":["room-1"],"exclude":["gw1.AAAAAAAAAAAAAAAAAAAAAA"],` +
	`"payload":"{\"type\":\"say\",\"from\":\"u12\",\"content\":\"` + strings.Repeat("x", 64) + `\",\"ts\":1732612345123456}"}`)

func BenchmarkDecodeEnvelope(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEnvelope)))
	for b.Loop() {
		env, err := session.DecodeEnvelope(benchEnvelope)
		if err != nil || len(env.Payload) == 0 {
			b.Fatal(err)
		}
	}
}

// benchCounter counts client round trips through a go-redis hook.
type benchCounter struct{ rtt atomic.Int64 }

func (h *benchCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *benchCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.rtt.Add(1); return next(ctx, cmd) }
}
func (h *benchCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.rtt.Add(1); return next(ctx, cmds) }
}

// benchEnv is a real redis-server with a store over it and a populated model:
// gateways gwa and gwb each hold half of 100 clients, all in group "room",
// bound to 50 uids (two connections each).
type benchEnv struct {
	rdb   *redis.Client
	admin *redis.Client
	store *session.Store
	hook  *benchCounter
	cids  []string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	srv := redistest.Start(b)
	hook := &benchCounter{}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), ContextTimeoutEnabled: true})
	rdb.AddHook(hook)
	admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = rdb.Close(); _ = admin.Close() })
	e := &benchEnv{rdb: rdb, admin: admin, store: session.New(rdb, nil), hook: hook}
	ctx := context.Background()
	for i := range 100 {
		gw := []string{"gwa", "gwb"}[i%2]
		cid := session.NewClientID(gw)
		e.cids = append(e.cids, cid)
		if err := e.store.RegisterClient(ctx, &session.ClientState{ID: cid, Gateway: gw, IP: "127.0.0.1", ConnectedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		if err := e.store.JoinGroup(ctx, cid, "room"); err != nil {
			b.Fatal(err)
		}
		if err := e.store.BindUid(ctx, cid, "u"+strconv.Itoa(i/2)); err != nil {
			b.Fatal(err)
		}
		if err := e.store.SetSession(ctx, cid, session.Session{"uname": "user " + strconv.Itoa(i), "room_id": "room"}); err != nil {
			b.Fatal(err)
		}
	}
	return e
}

// redisCalls sums the calls of every command Redis executed, INFO excluded.
func (e *benchEnv) redisCalls(b *testing.B) int64 {
	b.Helper()
	info, err := e.admin.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		if !strings.HasPrefix(line, "cmdstat_") || strings.HasPrefix(line, "cmdstat_info:") {
			continue
		}
		_, rest, _ := strings.Cut(line, "calls=")
		v, _, _ := strings.Cut(rest, ",")
		c, _ := strconv.ParseInt(v, 10, 64)
		n += c
	}
	return n
}

// measure runs op b.N times and reports round trips and Redis commands per op.
func (e *benchEnv) measure(b *testing.B, op func(ctx context.Context, i int) error) {
	ctx := context.Background()
	if err := op(ctx, -1); err != nil { // warm: loads scripts (EVALSHA → NOSCRIPT → EVAL once)
		b.Fatal(err)
	}
	calls0, rtt0 := e.redisCalls(b), e.hook.rtt.Load()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := op(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(e.hook.rtt.Load()-rtt0)/float64(b.N), "rtt/op")
	b.ReportMetric(float64(e.redisCalls(b)-calls0)/float64(b.N), "redis-cmds/op")
}

func BenchmarkStore(b *testing.B) {
	e := newBenchEnv(b)
	payload := []byte(`{"type":"say","from":"u1","content":"` + strings.Repeat("x", 64) + `","ts":1}`)
	cid := func(i int) string { return e.cids[(i+100)%len(e.cids)] }
	sess := session.Session{"uname": "someone", "avatar": "a.png"}
	ops := []struct {
		name string
		op   func(ctx context.Context, i int) error
	}{
		{"SendToAll", func(ctx context.Context, i int) error { return e.store.SendToAll(ctx, payload) }},
		{"SendToClient", func(ctx context.Context, i int) error { return e.store.SendToClient(ctx, cid(i), payload) }},
		{"SendToClients10", func(ctx context.Context, i int) error { return e.store.SendToClients(ctx, e.cids[:10], payload) }},
		{"SendToUid", func(ctx context.Context, i int) error { return e.store.SendToUid(ctx, "u7", payload) }},
		{"SendToUids10", func(ctx context.Context, i int) error {
			return e.store.SendToUids(ctx, []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"}, payload)
		}},
		{"SendToGroup100", func(ctx context.Context, i int) error { return e.store.SendToGroup(ctx, "room", payload) }},
		{"SendToGroupExclude", func(ctx context.Context, i int) error {
			return e.store.SendToGroup(ctx, "room", payload, session.Exclude(e.cids[0]))
		}},
		{"SendToGroups3", func(ctx context.Context, i int) error {
			return e.store.SendToGroups(ctx, []string{"room", "g-x", "g-y"}, payload)
		}},
		{"JoinGroup", func(ctx context.Context, i int) error { return e.store.JoinGroup(ctx, cid(i), "g-"+strconv.Itoa(i)) }},
		{"LeaveGroup", func(ctx context.Context, i int) error { return e.store.LeaveGroup(ctx, cid(i), "g-"+strconv.Itoa(i)) }},
		{"BindUid", func(ctx context.Context, i int) error { return e.store.BindUid(ctx, cid(i), "b-"+strconv.Itoa(i)) }},
		{"UnbindUid", func(ctx context.Context, i int) error { return e.store.UnbindUid(ctx, cid(i), "b-"+strconv.Itoa(i)) }},
		{"SetSession", func(ctx context.Context, i int) error { return e.store.SetSession(ctx, cid(i), sess) }},
		{"UpdateSession", func(ctx context.Context, i int) error { return e.store.UpdateSession(ctx, cid(i), sess) }},
		{"Session", func(ctx context.Context, i int) error { _, err := e.store.Session(ctx, cid(i)); return err }},
		{"IsOnline", func(ctx context.Context, i int) error { _, err := e.store.IsOnline(ctx, cid(i)); return err }},
		{"IsUidOnline", func(ctx context.Context, i int) error { _, err := e.store.IsUidOnline(ctx, "u3"); return err }},
		{"UidsOnline10", func(ctx context.Context, i int) error {
			_, err := e.store.UidsOnline(ctx, []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "nobody"})
			return err
		}},
		{"ClientIDsByUid", func(ctx context.Context, i int) error { _, err := e.store.ClientIDsByUid(ctx, "u3"); return err }},
		{"UidByClient", func(ctx context.Context, i int) error { _, err := e.store.UidByClient(ctx, cid(i)); return err }},
		{"ClientCount", func(ctx context.Context, i int) error { _, err := e.store.ClientCount(ctx); return err }},
		{"ClientIDs", func(ctx context.Context, i int) error { _, err := e.store.ClientIDs(ctx); return err }},
		{"ClientCountByGroup", func(ctx context.Context, i int) error { _, err := e.store.ClientCountByGroup(ctx, "room"); return err }},
		{"ClientIDsByGroup100", func(ctx context.Context, i int) error { _, err := e.store.ClientIDsByGroup(ctx, "room"); return err }},
		{"SessionsByGroup100", func(ctx context.Context, i int) error { _, err := e.store.SessionsByGroup(ctx, "room"); return err }},
		{"UidsByGroup100", func(ctx context.Context, i int) error { _, err := e.store.UidsByGroup(ctx, "room"); return err }},
		{"UidCountByGroup100", func(ctx context.Context, i int) error { _, err := e.store.UidCountByGroup(ctx, "room"); return err }},
		{"Uids", func(ctx context.Context, i int) error { _, err := e.store.Uids(ctx); return err }},
		{"UidCount", func(ctx context.Context, i int) error { _, err := e.store.UidCount(ctx); return err }},
		{"GroupIDs", func(ctx context.Context, i int) error { _, err := e.store.GroupIDs(ctx); return err }},
		{"CloseClient", func(ctx context.Context, i int) error { return e.store.CloseClient(ctx, cid(i), nil) }},
		{"AppendEvent", func(ctx context.Context, i int) error {
			return e.store.AppendEvent(ctx, &session.Event{Type: session.EventMessage, ClientID: cid(i), Gateway: "gwa", Uid: "u1", Data: string(payload), At: time.Now()}, 0)
		}},
		{"RegisterForgetClient", func(ctx context.Context, i int) error {
			st := &session.ClientState{ID: session.NewClientID("gwc"), Gateway: "gwc", IP: "127.0.0.1", ConnectedAt: time.Now(), Uid: "r-uid", Groups: []string{"r-room"}}
			if err := e.store.RegisterClient(ctx, st); err != nil {
				return err
			}
			_, err := e.store.ForgetClient(ctx, st)
			return err
		}},
	}
	for _, tc := range ops {
		b.Run(tc.name, func(b *testing.B) { e.measure(b, tc.op) })
	}
}
