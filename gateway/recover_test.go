package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

type seqFrame struct {
	Type   string `json:"type"`
	N      int    `json:"n"`
	Group  string `json:"group"`
	Seq    int64  `json:"seq"`
	Epoch  string `json:"epoch"`
	Reason string `json:"reason"`
}

func (c *client) next() (seqFrame, string) {
	c.t.Helper()
	select {
	case raw := <-c.frames:
		var f seqFrame
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			c.t.Fatalf("frame %q: %v", raw, err)
		}
		return f, raw
	case <-time.After(10 * time.Second):
		c.t.Fatalf("client %s: no frame", c.id)
	}
	return seqFrame{}, ""
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.ws.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// A recover frame gets the missed entries of the group's log in order, then
// a result frame; live frames that arrive meanwhile are held and not
// duplicated; an impossible recovery is reported; the frame is no event.
func TestRecoverFrame(t *testing.T) {
	e := newEnv(t, redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr(), ContextTimeoutEnabled: true}))
	tg := e.addGateway(gateway.Options{Events: true})
	ctx := context.Background()
	c := e.dial(tg)
	for _, gid := range []string{"room", "small"} {
		if err := e.store.JoinGroup(ctx, c.id, gid); err != nil {
			t.Fatal(err)
		}
	}
	say := func(gid string, n int) {
		if err := e.store.SendToGroup(ctx, gid, fmt.Appendf(nil, `{"type":"say","n":%d}`, n), session.Recoverable()); err != nil {
			t.Error(err)
		}
	}
	for n := 1; n <= 5; n++ {
		say("room", n)
	}
	var epoch string
	for n := 1; n <= 5; n++ {
		f, _ := c.next()
		if f.Seq != int64(n) || f.N != n || f.Group != "room" {
			t.Fatalf("live frame %d: %+v", n, f)
		}
		epoch = f.Epoch
	}
	c.send(`{"type":"recover","group":"room","epoch":"` + epoch + `","since":2}`)
	for n := 3; n <= 5; n++ {
		if f, raw := c.next(); f.Seq != int64(n) || f.N != n {
			t.Fatalf("recovered frame: %s, want seq %d", raw, n)
		}
	}
	c.expect(`{"type":"recovered","group":"room","epoch":"` + epoch + `","seq":5}`)

	// Recover while messages flow: after the result frame the seqs go on
	// from its seq with no gap and no duplicate, and the recovered run
	// before it is since+1 .. seq.
	const total = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 6; n <= total; n++ {
			say("room", n)
		}
	}()
	for {
		if f, _ := c.next(); f.Seq >= 40 {
			break
		}
	}
	c.send(`{"type":"recover","group":"room","epoch":"` + epoch + `","since":10}`)
	<-done
	var seqs []int64
	recovered := -1
	var at int64
	for len(seqs) == 0 || seqs[len(seqs)-1] != total {
		f, raw := c.next()
		switch f.Type {
		case "say":
			seqs = append(seqs, f.Seq)
		case "recovered":
			recovered, at = len(seqs), f.Seq
		default:
			t.Fatalf("unexpected frame %s", raw)
		}
	}
	if recovered < 0 || at < 40 {
		t.Fatalf("no recovered frame (at %d) in %v", at, seqs)
	}
	for i, s := range seqs[recovered:] {
		if s != at+1+int64(i) {
			t.Fatalf("after recovered (seq %d): %v", at, seqs[recovered:])
		}
	}
	run := seqs[recovered-int(at-10) : recovered]
	for i, s := range run {
		if s != 11+int64(i) {
			t.Fatalf("recovered run before the result frame: %v", seqs[:recovered])
		}
	}

	// Impossible recoveries.
	if _, _, err := e.store.EnableRecovery(ctx, "small", &session.RecoveryOptions{Size: 2}); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 4; n++ {
		say("small", n)
		c.next()
	}
	c.send(`{"type":"recover","group":"small","since":1}`)
	if f, raw := c.next(); f.Type != "recover_failed" || f.Reason != "trimmed" || f.Seq != 4 || f.Epoch == "" {
		t.Fatalf("trimmed: %s", raw)
	}
	c.send(`{"type":"recover","group":"room","epoch":"other","since":1}`)
	if f, raw := c.next(); f.Reason != "epoch_changed" || f.Epoch != epoch || f.Seq != total {
		t.Fatalf("epoch changed: %s", raw)
	}
	c.send(`{"type":"recover","group":"elsewhere","since":1}`)
	c.expect(`{"type":"recover_failed","group":"elsewhere","reason":"not_member"}`)

	// Recover frames are consumed by the gateway: the events stream has the
	// marker frame sent after them, and none of them.
	c.send(`{"type":"marker"}`)
	waitFor(t, 10*time.Second, "marker event", func() bool {
		return strings.Contains(fmt.Sprint(e.rdb.XRange(ctx, "chat:events", "-", "+").Val()), `marker`)
	})
	if all := fmt.Sprint(e.rdb.XRange(ctx, "chat:events", "-", "+").Val()); strings.Contains(all, `recover`) {
		t.Fatalf("a recover frame reached the events stream: %s", all)
	}
}

// A member that was away (its connection cut without a close frame) gets
// what was sent meanwhile, exactly once and in order, after it reconnects
// and asks for it; live messages follow. After Redis lost the group's log
// (FLUSHALL), the old epoch cannot be recovered.
func TestRecoverAfterReconnect(t *testing.T) {
	e := newEnv(t, redis.NewClient(&redis.Options{Addr: redistest.Start(t).Addr(), ContextTimeoutEnabled: true}))
	tg := e.addGateway(gateway.Options{})
	ctx := context.Background()
	say := func(n int) {
		t.Helper()
		if err := e.store.SendToGroup(ctx, "room", fmt.Appendf(nil, `{"type":"say","n":%d}`, n), session.Recoverable()); err != nil {
			t.Fatal(err)
		}
	}
	c := e.dial(tg)
	if err := e.store.JoinGroup(ctx, c.id, "room"); err != nil {
		t.Fatal(err)
	}
	var epoch string
	for n := 1; n <= 3; n++ {
		say(n)
		f, _ := c.next()
		epoch = f.Epoch
	}
	c.ws.CloseNow()
	waitFor(t, 10*time.Second, "connection forgotten", func() bool { return tg.g.Connections() == 0 })
	for n := 4; n <= 8; n++ {
		say(n) // nobody in the room now
	}
	c = e.dial(tg)
	if err := e.store.JoinGroup(ctx, c.id, "room"); err != nil {
		t.Fatal(err)
	}
	c.send(`{"type":"recover","group":"room","epoch":"` + epoch + `","since":3}`)
	say(9)
	// Live message 9 may overtake the recovery (it can be in flight before
	// the gateway reads the recover frame); a client keeps each seq once
	// and orders by seq (docs/client-protocol.md), as this loop does.
	seen := map[int]bool{}
	recovered := false
	for !recovered || len(seen) < 6 {
		f, raw := c.next()
		switch {
		case f.Type == "say" && f.Epoch == epoch && f.Seq == int64(f.N) && f.N >= 4:
			seen[f.N] = true
		case f.Type == "recovered" && f.Seq >= 8 && !recovered:
			recovered = true
		default:
			t.Fatalf("unexpected frame %s", raw)
		}
	}
	var got []int
	for n := range seen {
		got = append(got, n)
	}
	slices.Sort(got)
	if fmt.Sprint(got) != "[4 5 6 7 8 9]" {
		t.Fatalf("after reconnecting got %v, want [4 5 6 7 8 9]", got)
	}
	// Then nothing new but, at most, the copy of 9 that overtook the
	// recovery (which the client drops by seq), before a marker.
	if err := e.store.SendToClient(ctx, c.id, []byte(`{"type":"marker"}`)); err != nil {
		t.Fatal(err)
	}
	for {
		f, raw := c.next()
		if f.Type == "marker" {
			break
		}
		if f.Type != "say" || f.N != 9 {
			t.Fatalf("after the recovery: unexpected frame %s", raw)
		}
	}

	if err := e.rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "membership re-asserted", func() bool {
		ok, _ := e.store.IsMember(ctx, "room", c.id)
		return ok
	})
	say(1)
	f, _ := c.next()
	if f.Epoch == epoch || f.Seq != 1 {
		t.Fatalf("after FLUSHALL: %+v, want a new epoch at seq 1", f)
	}
	c.send(`{"type":"recover","group":"room","epoch":"` + epoch + `","since":9}`)
	c.expect(`{"type":"recover_failed","group":"room","reason":"epoch_changed","epoch":"` + f.Epoch + `","seq":1}`)
}
