package pushapi_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gofiber/fiber/v2"
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

const testKey = "s3cret-key"

// fixture is one push API over a fresh miniredis, with three live clients
// registered the way a gateway registers them: a and b on gateway gw1 (a bound
// to uid u1 and in group room1 with a session), c on gw2 (uid u2, room1).
type fixture struct {
	app     *fiber.App
	store   *session.Store
	a, b, c string
	inbox   map[string]*recorder // gateway id → envelopes received
}

func newFixture(t *testing.T, opts *pushapi.Options) *fixture {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store := session.New(rdb, &session.Options{Prefix: "t:", Logger: quiet})
	if opts == nil {
		opts = &pushapi.Options{APIKeys: []string{"other-key", testKey}}
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	pushapi.Register(app.Group("/api/push"), store.Push, opts)
	f := &fixture{app: app, store: store, a: session.NewClientID("gw1"), b: session.NewClientID("gw1"), c: session.NewClientID("gw2"),
		inbox: map[string]*recorder{}}
	ctx := context.Background()
	now := time.Now()
	for _, cs := range []*session.ClientState{
		{ID: f.a, Gateway: "gw1", IP: "127.0.0.1", ConnectedAt: now, Uid: "u1", Groups: []string{"room1"}, Session: session.Session{"uname": "ann"}},
		{ID: f.b, Gateway: "gw1", IP: "127.0.0.1", ConnectedAt: now},
		{ID: f.c, Gateway: "gw2", IP: "127.0.0.1", ConnectedAt: now, Uid: "u2", Groups: []string{"room1"}, Session: session.Session{"uname": "cy"}},
	} {
		if err := store.RegisterClient(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	for _, gw := range []string{"gw1", "gw2"} {
		if _, err := store.MarkAlive(ctx, gw, time.Minute); err != nil {
			t.Fatal(err)
		}
		f.inbox[gw] = listen(t, store, gw)
	}
	return f
}

// recorder is an InboxHandler that keeps what a gateway would receive.
type recorder struct {
	mu   sync.Mutex
	envs []*session.Envelope
	up   chan struct{}
	once sync.Once
}

func (r *recorder) HandleEnvelope(e *session.Envelope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs = append(r.envs, e)
}

func (r *recorder) SubscriptionChanged(up bool) {
	if up {
		r.once.Do(func() { close(r.up) })
	}
}

// wait polls until an envelope with op arrives and returns it.
func (r *recorder) wait(t *testing.T, op session.Op) *session.Envelope {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i, e := range r.envs {
			if e.Op == op {
				r.envs = append(r.envs[:i:i], r.envs[i+1:]...)
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %q envelope within 10s", op)
	return nil
}

func listen(t *testing.T, store *session.Store, gw string) *recorder {
	t.Helper()
	r := &recorder{up: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = store.Listen(ctx, gw, r, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-r.up:
	case <-time.After(10 * time.Second):
		t.Fatalf("gateway %s inbox not subscribed within 10s", gw)
	}
	return r
}

// do sends one request; key "" sends no Authorization header.
func (f *fixture) do(t *testing.T, method, path, body, key string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/api/push"+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := f.app.Test(req, 10000)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
	}
	return resp.StatusCode, out
}

// mustOK sends an authorized request and fails unless it answers 200.
func (f *fixture) mustOK(t *testing.T, method, path, body string) map[string]any {
	t.Helper()
	st, out := f.do(t, method, path, body, testKey)
	if st != http.StatusOK {
		t.Fatalf("%s %s %s: status %d %v", method, path, body, st, out)
	}
	return out
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// doHeader sends GET /clients/count with a raw Authorization header.
func (f *fixture) doHeader(t *testing.T, auth string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("GET", "/api/push/clients/count", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := f.app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
