package tests

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/frontend"
	"github.com/chatgate/chatgate/httpapi"
	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

// TestPushMountedOnChatApp mounts the push API on the chat app the way
// internal/app does and checks that the app's middleware (sessions, CSRF,
// the page, its body limit) leaves it working and JSON-speaking.
func TestPushMountedOnChatApp(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := session.New(rdb, &session.Options{Logger: quiet})
	srv, err := httpapi.New(store, &httpapi.Options{MaxBodyBytes: 4096, Frontend: frontend.Files(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pushapi.Register(srv.App().Group("/api/push"), store, &pushapi.Options{APIKeys: []string{"k"}, MaxBodyBytes: 4096, Logger: quiet})
	tests := []struct {
		name, method, path, body, key string
		status                        int
		code                          string
	}{
		{"send", "POST", "/api/push/send/all", `{"payload":"hi"}`, "k", 200, ""},
		{"read", "GET", "/api/push/uids/count", "", "k", 200, ""},
		{"no key", "POST", "/api/push/send/all", `{"payload":"hi"}`, "", 401, "unauthorized"},
		{"unknown route", "GET", "/api/push/nope", "", "k", 404, "not_found"},
		{"app body limit", "POST", "/api/push/send/all", `{"payload":"` + strings.Repeat("x", 8192) + `"}`, "k", 413, "body_too_large"},
	}
	// A real listener: app.Test cannot show what fasthttp answers to a body
	// over the app's limit.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = srv.App().Shutdown(); <-served })
	client := &http.Client{Timeout: pushDeadline}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+ln.Addr().String()+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out map[string]any
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("status %d, body not JSON: %q", resp.StatusCode, raw)
			}
			if got, _ := out["error"].(string); resp.StatusCode != tt.status || got != tt.code {
				t.Errorf("got %d %v, want %d %q", resp.StatusCode, out, tt.status, tt.code)
			}
		})
	}
}
