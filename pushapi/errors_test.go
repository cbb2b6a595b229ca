package pushapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

// sampleBody is a valid body for each POST route (client ids are filled in).
func sampleBody(f *fixture, route string) string {
	switch route {
	case "POST /send/all":
		return `{"payload":"hi"}`
	case "POST /send/client":
		return js(map[string]any{"client_id": f.a, "payload": "hi"})
	case "POST /send/clients":
		return js(map[string]any{"client_ids": []string{f.a}, "payload": "hi"})
	case "POST /send/uid":
		return `{"uid":"u1","payload":"hi"}`
	case "POST /send/uids":
		return `{"uids":["u1"],"payload":"hi"}`
	case "POST /send/group":
		return `{"group":"room1","payload":"hi"}`
	case "POST /send/groups":
		return `{"groups":["room1"],"payload":"hi"}`
	case "POST /send/batch":
		return `{"sends":[{"to":"group","group":"room1","payload":"hi"},{"to":"all","payload":"hi"}]}`
	case "POST /bind", "POST /unbind":
		return js(map[string]any{"client_id": f.a, "uid": "u1"})
	case "POST /join", "POST /leave":
		return js(map[string]any{"client_id": f.a, "group": "room1"})
	case "POST /ungroup":
		return `{"group":"room9"}`
	case "POST /close":
		return js(map[string]any{"client_id": f.b})
	case "POST /session/set", "POST /session/update":
		return js(map[string]any{"client_id": f.a, "session": map[string]string{"uname": "ann"}})
	case "POST /uids/online", "POST /uids/clients":
		return `{"uids":["u1"]}`
	}
	return ""
}

// samplePath adds the query a GET route needs.
func samplePath(f *fixture, route string) (method, path string) {
	method, path, _ = strings.Cut(route, " ")
	switch path {
	case "/session", "/online", "/client/uid":
		path += "?client_id=" + f.a
	case "/uid/online", "/uid/clients":
		path += "?uid=u1"
	case "/group/clients", "/group/count", "/group/sessions", "/group/uids", "/group/uid-count":
		path += "?group=room1"
	}
	return method, path
}

// TestEveryRouteAuthAndLimits runs the error paths shared by all routes and
// checks that the sample request of each route succeeds with the right key.
func TestEveryRouteAuthAndLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, &pushapi.Options{APIKeys: []string{"", "other-key", testKey}, MaxBodyBytes: 1024})
	off := newFixture(t, &pushapi.Options{})
	big := `{"payload":"` + strings.Repeat("x", 2048) + `"}`
	for _, route := range pushapi.Routes() {
		t.Run(route, func(t *testing.T) {
			method, path := samplePath(f, route)
			body := sampleBody(f, route)
			expect := func(name string, fx *fixture, body, key string, status int, code string) {
				t.Helper()
				st, out := fx.do(t, method, path, body, key)
				got, _ := out["error"].(string)
				if st != status || got != code {
					t.Errorf("%s: got %d %v, want %d %q", name, st, out, status, code)
				}
				if code != "" && out["message"] == "" {
					t.Errorf("%s: error without message: %v", name, out)
				}
			}
			expect("disabled", off, body, testKey, http.StatusServiceUnavailable, "push_disabled")
			expect("no key", f, body, "", http.StatusUnauthorized, "unauthorized")
			expect("wrong key", f, body, "wrong", http.StatusUnauthorized, "unauthorized")
			expect("key prefix", f, body, testKey[:4], http.StatusUnauthorized, "unauthorized")
			expect("oversized", f, big, testKey, http.StatusRequestEntityTooLarge, "body_too_large")
			if method == http.MethodPost {
				expect("bad json", f, `{"payload":`, testKey, http.StatusBadRequest, "bad_json")
				expect("not an object", f, `["x"]`, testKey, http.StatusBadRequest, "bad_json")
				expect("unknown field", f, `{"nope":1}`, testKey, http.StatusBadRequest, "bad_json")
				expect("empty body", f, ``, testKey, http.StatusBadRequest, "bad_json")
			}
			expect("ok", f, body, testKey, http.StatusOK, "")
		})
	}
}

func TestWrongAuthScheme(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	req := func(h string) int {
		st, _ := f.doHeader(t, h)
		return st
	}
	for _, h := range []string{"", "Basic " + testKey, "Bearer", "Bearer  ", "bearer " + testKey, testKey} {
		if st := req(h); st != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, st)
		}
	}
	if st := req("Bearer " + testKey); st != http.StatusOK {
		t.Errorf("right key: status %d", st)
	}
}

// TestRequestErrors covers the per-route client errors: missing fields,
// invalid ids, reserved session fields, unknown clients, unknown routes.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	gone := "gw1.AAAAAAAAAAAAAAAAAAAAAA" // well-formed, never connected
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"send no payload", "POST", "/send/all", `{}`, 400, "bad_request"},
		{"send null payload", "POST", "/send/uid", `{"uid":"u1","payload":null}`, 400, "bad_request"},
		{"send no target", "POST", "/send/uid", `{"payload":"x"}`, 400, "bad_request"},
		{"send no list", "POST", "/send/groups", `{"payload":"x"}`, 400, "bad_request"},
		{"send bad client id", "POST", "/send/client", `{"client_id":"nodot","payload":"x"}`, 400, "invalid_id"},
		{"send bad uid", "POST", "/send/uids", `{"uids":["ok","{bad}"],"payload":"x"}`, 400, "invalid_id"},
		{"send bad group", "POST", "/send/group", `{"group":"a\u0001b","payload":"x"}`, 400, "invalid_id"},
		{"send bad payload type", "POST", "/send/all", `{"payload":"\ud800"}`, 200, ""}, // JSON decodes lone surrogates to U+FFFD
		{"send to unknown client", "POST", "/send/client", js(map[string]string{"client_id": gone, "payload": "x"}), 200, ""},
		{"bind no uid", "POST", "/bind", js(map[string]string{"client_id": f.a}), 400, "bad_request"},
		{"bind unknown client", "POST", "/bind", js(map[string]string{"client_id": gone, "uid": "u1"}), 404, "client_not_found"},
		{"bind bad uid", "POST", "/bind", js(map[string]string{"client_id": f.a, "uid": "{x}"}), 400, "invalid_id"},
		{"unbind unknown client", "POST", "/unbind", js(map[string]string{"client_id": gone, "uid": "u1"}), 200, ""},
		{"join unknown client", "POST", "/join", js(map[string]string{"client_id": gone, "group": "g"}), 404, "client_not_found"},
		{"join no group", "POST", "/join", js(map[string]string{"client_id": f.a}), 400, "bad_request"},
		{"leave unknown client", "POST", "/leave", js(map[string]string{"client_id": gone, "group": "g"}), 200, ""},
		{"ungroup no group", "POST", "/ungroup", `{}`, 400, "bad_request"},
		{"close unknown client", "POST", "/close", js(map[string]string{"client_id": gone}), 200, ""},
		{"close bad id", "POST", "/close", `{"client_id":"x"}`, 400, "invalid_id"},
		{"set session unknown client", "POST", "/session/set", js(map[string]any{"client_id": gone, "session": map[string]string{}}), 404, "client_not_found"},
		{"update session reserved", "POST", "/session/update", js(map[string]any{"client_id": f.a, "session": map[string]string{"_uid": "x"}}), 400, "reserved_field"},
		{"update session no session", "POST", "/session/update", js(map[string]any{"client_id": f.a}), 400, "bad_request"},
		{"session values not strings", "POST", "/session/set", js(map[string]any{"client_id": f.a, "session": map[string]int{"n": 1}}), 400, "bad_json"},
		{"get session unknown client", "GET", "/session?client_id=" + gone, "", 404, "client_not_found"},
		{"get session no param", "GET", "/session", "", 400, "bad_request"},
		{"get session bad id", "GET", "/session?client_id=nodot", "", 400, "invalid_id"},
		{"uid of unknown client", "GET", "/client/uid?client_id=" + gone, "", 404, "client_not_found"},
		{"online unknown client", "GET", "/online?client_id=" + gone, "", 200, ""},
		{"uid online no param", "GET", "/uid/online", "", 400, "bad_request"},
		{"batch no uids", "POST", "/uids/online", `{}`, 400, "bad_request"},
		{"batch bad uid", "POST", "/uids/clients", `{"uids":["{"]}`, 400, "invalid_id"},
		{"unknown route", "GET", "/nope", "", 404, "not_found"},
		{"wrong method", "GET", "/send/all", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, out := f.do(t, tt.method, tt.path, tt.body, testKey)
			if st != tt.status {
				t.Fatalf("status %d %v, want %d", st, out, tt.status)
			}
			if tt.code != "" && out["error"] != tt.code {
				t.Fatalf("error %v, want %q", out, tt.code)
			}
			if tt.code == "" && out["error"] != nil {
				t.Fatalf("unexpected error %v", out)
			}
		})
	}
}

// TestRedisTimeoutIsUnavailable: Redis that accepts connections but never
// answers makes a request answer 503 unavailable (the chat app's status and
// code for the same failure), within about Options.Timeout.
func TestRedisTimeoutIsUnavailable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Stalled(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pushapi.Register(app.Group("/api/push"), session.New(rdb, &session.Options{Logger: quiet}),
		&pushapi.Options{APIKeys: []string{testKey}, Timeout: 200 * time.Millisecond, Logger: quiet})
	req := httptest.NewRequest("GET", "/api/push/session?client_id="+session.NewClientID("gw1"), nil)
	req.Header.Set("Authorization", "Bearer "+testKey)
	resp, err := app.Test(req, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 503 || body["error"] != "unavailable" {
		t.Fatalf("stalled Redis: %d %v, want 503 unavailable", resp.StatusCode, body)
	}
}
