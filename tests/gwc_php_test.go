package tests

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// The PHP-facing contract with the real php binary: a client written in PHP
// from the protocol document (tests/testdata/gatewayworker_client.php, plain
// sockets, real serialize/unserialize) runs the chat-room flow against two
// gateway processes with a secret key; what PHP got back and what each
// WebSocket client received are exact.
func TestGatewayWorkerPHPClient(t *testing.T) {
	t.Parallel()
	php, err := exec.LookPath("php")
	if err != nil {
		t.Fatal("php not found: scripts/test.sh installs php-cli")
	}
	rs := redistest.Start(t)
	gw1 := gwcStartGateway(t, rs.URL(), "--gw-secret-key", "s3cret", "--gw-register-addr", "127.0.0.1:0")
	gw2 := gwcStartGateway(t, rs.URL(), "--gw-secret-key", "s3cret")
	a, b, c := pushConnect(t, gw1.ws), pushConnect(t, gw1.ws), pushConnect(t, gw2.ws)
	store := faultOpenStore(t, rs.URL())

	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	out, err := exec.CommandContext(ctx, php, filepath.Join("testdata", "gatewayworker_client.php"),
		gw1.register, "s3cret", a.ID, b.ID, c.ID).CombinedOutput()
	if err != nil {
		t.Fatalf("php: %v\n%s", err, out)
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("php printed %q: %v", out, err)
	}
	want := map[string]any{
		"session_A": map[string]any{"uid": "u1", "uname": "nameu1", "room_id": "room1",
			"prefs": map[string]any{"color": "red", "sizes": []any{1.0, 2.5}}, "away": false},
		"count_room1": 3.0,
		"count_all":   3.0,
		"sessions_room1": map[string]any{
			a.ID: map[string]any{"uid": "u1", "uname": "nameu1", "room_id": "room1", "prefs": map[string]any{"color": "red", "sizes": []any{1.0, 2.5}}, "away": false},
			b.ID: map[string]any{"uid": "u2", "uname": "nameu2", "room_id": "room1"},
			c.ID: map[string]any{"uid": 7.0, "uname": "name7", "room_id": "room1"},
		},
		"uids_room1":        map[string]any{"7": "7", "u1": "u1", "u2": "u2"},
		"ids_uid7":          []any{c.ID},
		"online_A":          1.0,
		"count_room1_after": 2.0,
		"session_missing":   nil,
	}
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("php %s = %#v\n            want %#v", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("php printed %d keys, the test knows %d: %s", len(got), len(want), out)
	}
	// The Go side sees the top-level scalars as plain strings.
	if s, err := store.Session(ctx, c.ID); err != nil || !reflect.DeepEqual(s, session.Session{"uid": "7", "uname": "name7", "room_id": "room1"}) {
		t.Errorf("Go Session(C) = %v, %v", s, err)
	}
	say := `{"type":"say","from":"u1","content":"hello"}`
	a.waitFrames(t, "A")
	b.waitFrames(t, "B", say, "direct", `{"type":"bye"}`)
	c.waitFrames(t, "C", say, `{"type":"to","content":"private"}`)
	if code := b.waitClosed(t, "B"); code != websocket.StatusNormalClosure {
		t.Errorf("B closed with %v", code)
	}
	if err := store.SendToAll(ctx, []byte("marker")); err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]*pushClient{"A": a, "C": c} {
		cl.waitFrames(t, name, "marker")
	}
	for name, w := range map[string][]string{"A": {"marker"}, "B": {say, "direct", `{"type":"bye"}`}, "C": {say, `{"type":"to","content":"private"}`, "marker"}} {
		cl := map[string]*pushClient{"A": a, "B": b, "C": c}[name]
		if got := cl.Frames(); !reflect.DeepEqual(got, w) {
			t.Errorf("client %s got %q, want %q", name, got, w)
		}
	}
}

// The Redis protocol beside the compatibility layer: the PHP client of
// examples/php (phpredis, Lua scripts) reaches a client with a compact id.
func TestGatewayWorkerBesideRedisProtocol(t *testing.T) {
	t.Parallel()
	phpBinary(t)
	rs := redistest.Start(t)
	gw := gwcStartGateway(t, rs.URL())
	c := pushConnect(t, gw.ws)
	host, port := pushHostPort(rs.Addr())
	runPHPInline(t, host, port, `Chatgate\Gateway::sendToClient("`+c.ID+`", "to-client");
Chatgate\Gateway::bindUid("`+c.ID+`", "via-redis");
Chatgate\Gateway::sendToUid("via-redis", "to-uid");`)
	c.waitFrames(t, "C", "to-client", "to-uid")
}
