package gateway_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/session"
)

// With CompactClientIDs, clients get GatewayWorker-style ids (the gateway's
// 12 hex digits and 8 more, distinct), which the push API routes like any
// other id.
func TestCompactClientIDs(t *testing.T) {
	t.Parallel()
	if _, err := gateway.New(nil, &gateway.Options{ID: "gw1", CompactClientIDs: true}); err == nil {
		t.Fatal("New accepted compact client ids with a non-compact gateway id")
	}
	e := standaloneEnv(t)
	const id = "7f0000010b54"
	gw := e.addGateway(gateway.Options{ID: id, CompactClientIDs: true})
	ctx := context.Background()
	form := regexp.MustCompile(`^` + id + `[0-9a-f]{8}$`)
	seen := map[string]bool{}
	var cs []*client
	for range 5 {
		c := e.dial(gw)
		if !form.MatchString(c.id) || seen[c.id] {
			t.Fatalf("client id %q: want %s + 8 distinct hex digits", c.id, id)
		}
		seen[c.id] = true
		cs = append(cs, c)
	}
	if err := e.store.BindUid(ctx, cs[0].id, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SendToUid(ctx, "u1", []byte("to u1")); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SendToClient(ctx, cs[1].id, []byte("to one")); err != nil {
		t.Fatal(err)
	}
	cs[0].expect("to u1")
	cs[1].expect("to one")
}

// A gateway that starts with an id under which Redis still lists clients
// (its previous process died and came back before any reaper ran) forgets
// them, with a close event each, before it serves.
func TestRestartForgetsStaleClients(t *testing.T) {
	t.Parallel()
	e := standaloneEnv(t)
	ctx := context.Background()
	const id = "gwrestart"
	ghost := &session.ClientState{ID: session.NewClientID(id), Gateway: id, IP: "10.0.0.1",
		ConnectedAt: time.Now(), Uid: "u-ghost", Groups: []string{"room"}, Session: session.Session{"name": "ghost"}}
	if err := e.store.RegisterClient(ctx, ghost); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.MarkAlive(ctx, id, time.Minute); err != nil { // still "alive": no reaper would act
		t.Fatal(err)
	}
	gw := e.addGateway(gateway.Options{ID: id, Events: true})
	if on, _ := e.store.IsOnline(ctx, ghost.ID); on {
		t.Fatal("the previous process's client is still online after the restart")
	}
	if n, _ := e.store.ClientCountByGroup(ctx, "room"); n != 0 {
		t.Fatalf("room still counts %d members", n)
	}
	evs, err := e.rdb.XRange(ctx, e.store.EventsStream(), "-", "+").Result()
	if err != nil || len(evs) != 1 || evs[0].Values["type"] != "close" || evs[0].Values["client_id"] != ghost.ID ||
		evs[0].Values["reason"] != session.ReasonRestarted || evs[0].Values["uid"] != "u-ghost" {
		t.Fatalf("events %v, %v; want one close event for the ghost, reason %q", evs, err, session.ReasonRestarted)
	}
	live := e.dial(gw) // and the gateway serves
	if err := e.store.SendToClient(ctx, live.id, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	live.expect("hi")
}
