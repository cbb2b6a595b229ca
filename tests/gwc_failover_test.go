package tests

import (
	"context"
	"encoding/json"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
)

// The Register runs in any process and keeps no state: with two of them
// (role http), losing one loses nothing; an open worker_connect connection
// hears every change of the gateway list (a gateway starting, draining,
// crashing).
func TestGatewayWorkerRegisterFailover(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	regArgs := []string{"http", "--token-secret", "s", "--http-addr", "127.0.0.1:0", "--gw-register-addr", "127.0.0.1:0"}
	r1, r2 := gwcStart(t, rs.URL(), regArgs...), gwcStart(t, rs.URL(), regArgs...)
	gw1 := gwcStartGateway(t, rs.URL(), "--alive-ttl", "3s")
	gw2 := gwcStartGateway(t, rs.URL(), "--alive-ttl", "3s")

	w := gwcDial(t, r2.register)
	list := func(addrs ...string) string {
		sort.Strings(addrs)
		b, _ := json.Marshal(struct {
			Event     string   `json:"event"`
			Addresses []string `json:"addresses"`
		}{"broadcast_addresses", addrs})
		return string(b)
	}
	w.write([]byte(`{"event":"worker_connect","secret_key":""}` + "\n"))
	next := func(what string) string {
		t.Helper()
		_ = w.nc.SetReadDeadline(time.Now().Add(pushDeadline))
		line, err := w.br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return strings.TrimSuffix(line, "\n")
	}
	if got := next("first list"); got != list(gw1.inner, gw2.inner) {
		t.Fatalf("worker_connect: %s", got)
	}
	r1.kill(t)
	cl := &gwcClient{t: t, register: r2.register}
	if got := cl.addresses(); !slices.Equal(got, sorted(gw1.inner, gw2.inner)) {
		t.Errorf("the other Register lists %v", got)
	}
	gw3 := gwcStartGateway(t, rs.URL(), "--alive-ttl", "3s")
	if got := next("after a gateway started"); got != list(gw1.inner, gw2.inner, gw3.inner) {
		t.Errorf("after gw3 started: %s", got)
	}
	_ = gw3.cmd.Process.Signal(sigterm)
	if got := next("after a gateway drained"); got != list(gw1.inner, gw2.inner) {
		t.Errorf("after gw3 drained: %s", got)
	}
	gw2.kill(t)
	if got := next("after a gateway crashed"); got != list(gw1.inner) {
		t.Errorf("after gw2 crashed (its liveness key expires): %s", got)
	}
}

// A compatible gateway restarted at the same address reuses its gateway id:
// before serving, it forgets the clients its previous process held (with
// close events), so counts and lists stay exact although no reaper ran.
func TestGatewayWorkerRestartSameAddress(t *testing.T) {
	t.Parallel()
	rs := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inner := ln.Addr().String()
	ln.Close()
	args := []string{"gateway", "--allow-unsigned", "--gw-inner-addr", inner, "--gw-register-addr", "127.0.0.1:0", "--alive-ttl", "30s"}
	first := gwcStart(t, rs.URL(), args...)
	old := pushConnect(t, first.ws)
	cl := &gwcClient{t: t, register: first.register}
	cl.toClient(gwcJoinGroup, old.ID, "room", "")
	cl.toClient(gwcBindUid, old.ID, "u1", "")
	if got := gwcSum(t, cl.all(gwcPacket(gwcCountByGroup, 0, 0, "room", ""))); got != 1 {
		t.Fatalf("room counts %d before the crash", got)
	}
	first.kill(t)
	second := gwcStart(t, rs.URL(), args...) // same address: same gateway id
	if second.gwID != first.gwID {
		t.Fatalf("gateway id %s after restart, want %s", second.gwID, first.gwID)
	}
	cl.register = second.register
	pushConnect(t, second.ws)
	for what, pkt := range map[string][]byte{
		"all clients": gwcPacket(gwcCountByGroup, 0, 0, "", ""),
		"room":        gwcPacket(gwcCountByGroup, 0, 0, "room", ""),
	} {
		want := int64(0)
		if what == "all clients" {
			want = 1 // the new client only
		}
		if got := gwcSum(t, cl.all(pkt)); got != want {
			t.Errorf("%s count %d after the restart, want %d", what, got, want)
		}
	}
	if got := gwcConnList(t, cl.all(gwcPacket(gwcIDsByUid, 0, 0, "u1", ""))); len(got) != 0 {
		t.Errorf("uid u1 still lists %v", got)
	}
	store := faultOpenStore(t, rs.URL())
	evs, err := rs.Client(t).XRange(context.Background(), store.EventsStream(), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range evs {
		if e.Values["type"] == "close" && e.Values["client_id"] == old.ID && e.Values["reason"] == "gateway restarted" {
			found = true
		}
	}
	if !found {
		t.Errorf("no close event for %s with reason %q in %v", old.ID, "gateway restarted", evs)
	}
}
