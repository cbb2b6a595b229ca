package app

import (
	"context"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/config"
)

// TestPushRole: `chatgate push` serves the push API on its internal
// listener and nothing of the chat app (no public port, no page, no admin
// API), and a push through it reaches a client of a separate gateway.
func TestPushRole(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr() + "/0"
	gw := runInProcess(t, RoleGateway, "--redis-url", url, "--allow-unsigned")
	push := runInProcess(t, RolePush, "--redis-url", url, "--api-keys", pushKey)
	if push.WSAddr != "" || push.HTTPAddr != "" || push.InternalAddr == "" {
		t.Fatalf("push role started %+v; want the internal listener only", push)
	}
	waitReady(t, gw.InternalAddr)
	waitReady(t, push.InternalAddr)
	runChecks(t, push.InternalAddr, []routeCheck{
		{"push role metrics", "GET", "/metrics", "", "", 200, `role="push"`},
		{"reaper metrics", "GET", "/metrics", "", "", 200, "chatgate_reaper_runs_total"},
		{"push needs a key", "POST", pushSend, "", pushBody, 401, ""},
		{"no admin API without the chat app", "DELETE", "/admin/rooms/r1", pushKey, "", 404, `"error":"not_found"`},
		{"no chat page", "GET", "/", "", "", 404, ""},
		{"no chat API", "POST", "/api/login", "", `{"name":"a"}`, 404, ""},
	})

	ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+gw.WSAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, init, err := c.Read(ctx); err != nil || !strings.Contains(string(init), `"init"`) {
		t.Fatalf("init frame %q, %v", init, err)
	}
	if r := call(t, "POST", "http://"+push.InternalAddr+pushSend, pushKey, `{"payload":"from the push role"}`); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("the client did not receive the push: %v", err)
		}
		if string(msg) == "from the push role" {
			break
		}
	}
	if r := call(t, "GET", "http://"+push.InternalAddr+"/metrics", "", ""); strings.Contains(r.body, "chatgate_gateway_connections") {
		t.Error("the push role exports gateway metrics, but runs no gateway")
	}
}

// TestPushRoleNeedsKeys: a push role without API keys would serve nothing;
// it refuses to start and says what to set.
func TestPushRoleNeedsKeys(t *testing.T) {
	t.Parallel()
	for _, keys := range []string{"", " , "} {
		cfg, err := config.LoadRole(RolePush, []string{"--redis-url", "redis://127.0.0.1:1/0", "--api-keys", keys}, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(RolePush, cfg); err == nil || !strings.Contains(err.Error(), "--api-keys (API_KEYS) is required for role push") {
			t.Errorf("api keys %q: Validate = %v", keys, err)
		}
	}
	cfg, err := config.LoadRole(RolePush, []string{"--redis-url", "redis://127.0.0.1:1/0", "--api-keys", "k"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(RolePush, cfg); err != nil {
		t.Errorf("push role with keys and no token secret: %v", err)
	}
}
