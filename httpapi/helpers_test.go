package httpapi

import (
	"bytes"
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
	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/internal/token"
	"github.com/chatgate/chatgate/session"
)

// testEnv is a Server on a fresh miniredis.
type testEnv struct {
	t      testing.TB
	mr     *miniredis.Miniredis
	store  *session.Store
	chat   *chatdata.Store
	srv    *Server
	signer *token.Signer
}

func newTestEnv(t testing.TB, opts *Options) *testEnv {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	store := session.New(rdb, &session.Options{Prefix: "t:"})
	chat := chatdata.New(rdb, &chatdata.Options{Prefix: "t:"})
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Tokens == nil {
		o.Tokens = token.NewSigner([]byte("test-secret"), time.Minute)
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 2 * time.Second
	}
	srv, err := New(store, chat, &o)
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, mr: mr, store: store, chat: chat, srv: srv, signer: o.Tokens}
}

// room creates a room directly in the store.
func (e *testEnv) room(id string) string {
	e.t.Helper()
	if _, err := e.chat.CreateRoom(context.Background(), id, "Room "+id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// response is what a test request got back.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) errorCode(t testing.TB) string {
	t.Helper()
	var e errorResponse
	r.decode(t, &e)
	if e.Message == "" {
		t.Fatalf("error without message: %s", r.body)
	}
	return e.Error
}

// client is a browser: it keeps the session cookie and the CSRF token. A
// tab client (loginTab) also keeps its tab's session id, sent as
// X-Chatgate-Session, and the browser key cookie; copy browser to make a
// second tab of the same browser.
type client struct {
	env     *testEnv
	cookie  string
	csrf    string
	me      loginResponse
	tab     string // the tab's session id ("" for a cookie login)
	browser string // the browser key cookie's value
	xff     string // X-Forwarded-For of its requests, when set
}

func (e *testEnv) client() *client { return &client{env: e} }

// do sends a request; body is JSON-encoded unless it is a string or []byte.
func (c *client) do(method, path string, body any, hdr ...string) response {
	c.env.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var cookies []string
	if c.cookie != "" {
		cookies = append(cookies, c.cookie)
	}
	if c.browser != "" {
		cookies = append(cookies, browserCookie+"="+c.browser)
	}
	if len(cookies) > 0 {
		req.Header.Set("Cookie", strings.Join(cookies, "; "))
	}
	if c.tab != "" {
		req.Header.Set(tabHeader, c.tab)
	}
	if c.csrf != "" && method != http.MethodGet {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.xff != "" {
		req.Header.Set("X-Forwarded-For", c.xff)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := c.env.srv.App().Test(req, 10_000)
	if err != nil {
		c.env.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		switch {
		case ck.Name == sessionCookie:
			c.cookie = ck.Name + "=" + ck.Value
			if ck.MaxAge < 0 || ck.Value == "" {
				c.cookie = ""
			}
		case ck.Name == browserCookie && ck.MaxAge > 0:
			c.browser = ck.Value
		}
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// login logs c in as name and keeps its CSRF token.
func (c *client) login(name string) loginResponse {
	c.env.t.Helper()
	r := c.do("POST", "/api/login", loginRequest{Name: name, Avatar: "cat", Bubble: bubbles[0]})
	if r.status != 200 {
		c.env.t.Fatalf("login %s: %d %s", name, r.status, r.body)
	}
	r.decode(c.env.t, &c.me)
	c.csrf = c.me.CSRFToken
	return c.me
}

// loginTab logs c in as name with a tab login, as the page does: the tab's
// session id is then sent as X-Chatgate-Session.
func (c *client) loginTab(name string) loginResponse {
	c.env.t.Helper()
	c.tab = tabNew
	r := c.do("POST", "/api/login", loginRequest{Name: name, Avatar: "cat", Bubble: bubbles[0]})
	var tr tabLoginResponse
	if r.status == 200 {
		r.decode(c.env.t, &tr)
	}
	if r.status != 200 || tr.SessionID == "" || c.browser == "" {
		c.env.t.Fatalf("tab login %s: %d %s (browser key %q)", name, r.status, r.body, c.browser)
	}
	c.me, c.csrf, c.tab = tr.loginResponse, tr.CSRFToken, tr.SessionID
	return c.me
}

// token gets a connect token (POST /api/token) and its verified claims.
func (c *client) token() (string, token.Claims) {
	c.env.t.Helper()
	r := c.do("POST", "/api/token", nil)
	var tr tokenResponse
	r.decode(c.env.t, &tr)
	claims, err := c.env.signer.Verify(tr.Token)
	if r.status != 200 || err != nil || claims.Uid != c.me.Uid || tr.ExpiresAt != claims.Expires.Unix() {
		c.env.t.Fatalf("token: %d %s: %+v %v", r.status, r.body, claims, err)
	}
	return tr.Token, claims
}

func (c *client) enter(room string) {
	c.env.t.Helper()
	if r := c.do("POST", "/api/rooms/"+room+"/enter", nil); r.status != 200 {
		c.env.t.Fatalf("enter %s: %d %s", room, r.status, r.body)
	}
}

// inbox records the payloads published to a fake gateway's inbox, standing
// in for a real gateway's clients.
type inbox struct {
	mu   sync.Mutex
	envs []*session.Envelope
	up   chan struct{}
	once sync.Once
}

func (in *inbox) HandleEnvelope(e *session.Envelope) {
	in.mu.Lock()
	in.envs = append(in.envs, e)
	in.mu.Unlock()
}

func (in *inbox) SubscriptionChanged(up bool) {
	if up {
		in.once.Do(func() { close(in.up) })
	}
}

// listen subscribes to gateway gw's inbox until the test ends.
func (e *testEnv) listen(gw string) *inbox {
	e.t.Helper()
	in := &inbox{up: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.store.Listen(ctx, gw, in, nil) }()
	e.t.Cleanup(func() { cancel(); <-done })
	select {
	case <-in.up:
	case <-time.After(10 * time.Second):
		e.t.Fatal("inbox subscription not up")
	}
	return in
}

// connect registers a fake live connection held by gateway gw.
func (e *testEnv) connect(gw, uid string) string {
	e.t.Helper()
	cid := session.NewClientID(gw)
	err := e.store.RegisterClient(context.Background(), &session.ClientState{ID: cid, Gateway: gw, IP: "127.0.0.1", ConnectedAt: time.Now(), Uid: uid})
	if err != nil {
		e.t.Fatal(err)
	}
	return cid
}

// waitPayload waits until a payload sent through the inbox satisfies ok.
func (in *inbox) waitPayload(t *testing.T, what string, ok func(env *session.Envelope, m map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		in.mu.Lock()
		envs := append([]*session.Envelope(nil), in.envs...)
		in.mu.Unlock()
		for _, env := range envs {
			if env.Op != session.OpSend {
				if ok(env, nil) {
					return nil
				}
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(env.Payload), &m) == nil && ok(env, m) {
				return m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, e := range in.envs {
		t.Logf("got %s %v %v %s", e.Op, e.Clients, e.Groups, e.Payload)
	}
	t.Fatalf("no %s arrived", what)
	return nil
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// testLogger logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
