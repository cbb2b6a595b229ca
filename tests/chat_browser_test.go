package tests

// The chat app end to end: real gateways and HTTP apps (internal/app.Run, in
// process) on one real redis-server, driven by headless Chromium and by
// WebSocket clients. Every identifier starts with "chat" because other
// engineers add files to this package.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/session"
)

const (
	chatChromium = "/usr/bin/chromium"
	chatSecret   = "chat-browser-test-secret-0123456789"
	chatPrefix   = "chatbrowser:"
)

// chatRun runs one role of chatgate in-process until the test ends and
// returns the addresses it listens on.
func chatRun(t *testing.T, role string, args ...string) app.Started {
	t.Helper()
	cfg, err := config.Load("chatgate "+role, args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatalf("config %s %v: %v", role, args, err)
	}
	log := slog.New(slog.NewTextHandler(chatLogWriter{t, role}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan app.Started, 1)
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, role, cfg, log, func(s app.Started) { started <- s }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s stopped: %v", role, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20s", role)
		}
	})
	select {
	case s := <-started:
		return s
	case err := <-done:
		t.Fatalf("%s did not start: %v", role, err)
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start within 20s", role)
	}
	return app.Started{}
}

type chatLogWriter struct {
	t    *testing.T
	role string
}

func (w chatLogWriter) Write(p []byte) (int, error) {
	w.t.Log(w.role + ": " + strings.TrimSpace(string(p)))
	return len(p), nil
}

// chatCluster is two gateways and two HTTP apps (each pointing its page at
// a different gateway) sharing one redis-server.
type chatCluster struct {
	redis *redistest.Server
	gw    [2]app.Started
	http  [2]app.Started
	store *session.Store
}

func chatStartCluster(t *testing.T, extra ...string) *chatCluster {
	t.Helper()
	rs := redistest.Start(t)
	c := &chatCluster{redis: rs}
	common := append([]string{"--redis-url", rs.URL(), "--redis-prefix", chatPrefix, "--token-secret", chatSecret,
		"--internal-addr", "127.0.0.1:0", "--log-format", "text"}, extra...)
	for i := range c.gw {
		c.gw[i] = chatRun(t, app.RoleGateway, append([]string{"--ws-addr", "127.0.0.1:0", "--gateway-id", fmt.Sprintf("chatgw%d", i+1),
			"--allowed-origins", "127.0.0.1:*"}, common...)...)
	}
	for i := range c.http {
		c.http[i] = chatRun(t, app.RoleHTTP, append([]string{"--http-addr", "127.0.0.1:0",
			"--gateway-url", "ws://" + c.gw[i].WSAddr + "/"}, common...)...)
	}
	st, err := session.Open(context.Background(), rs.URL(), 5*time.Second, &session.Options{Prefix: chatPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c.store = st
	return c
}

// chatBrowser is one user: a tab in its own browser context (own cookies).
type chatBrowser struct {
	t     *testing.T
	name  string
	ctx   context.Context
	close context.CancelFunc // closes the tab
}

func (b *chatBrowser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		state, _ := chatEval[string](b, `location.href + ' ' + document.body.innerText.slice(0, 300)`)
		b.t.Fatalf("%s: %s: %v (page: %s)", b.name, what, err, state)
	}
}

func chatEval[T any](b *chatBrowser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// waitJS polls a JavaScript boolean expression (chromedp.Poll would build
// its predicate with new Function, which the page CSP forbids).
func (b *chatBrowser) waitJS(what, expr string) {
	b.t.Helper()
	testwait.For(b.t, 20*time.Second, b.name+": "+what, func() error {
		ok, err := chatEval[bool](b, "!!("+expr+")")
		if err != nil {
			return err
		}
		if !ok {
			msgs, _ := chatEval[string](b, `Array.from(document.querySelectorAll('#messages .msg')).map(m => m.textContent.trim()).join(' | ')`)
			return fmt.Errorf("%s is false; messages: %s", expr, msgs)
		}
		return nil
	})
}

func (b *chatBrowser) screenshot(dir, step string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", b.name, err)
	}
	path := filepath.Join(dir, "chat-"+strings.ToLower(b.name)+"-"+step+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	return path
}

// chatStartChromium starts one headless Chromium for the test.
func chatStartChromium(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chatChromium); err != nil {
		t.Fatalf("this test drives a real browser and %s is missing (%v): run scripts/test.sh, which installs Chromium", chatChromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chatChromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1100, 760),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// chatOpen opens a tab in a new browser context and records page exceptions.
func chatOpen(t *testing.T, browserCtx context.Context, name, url string, exceptions *chatExceptions) *chatBrowser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	return chatOpenIn(t, ctx, cancel, name, url, exceptions)
}

// chatOpenTab opens another tab in the browser context of b: same cookies.
func chatOpenTab(t *testing.T, b *chatBrowser, name, url string, exceptions *chatExceptions) *chatBrowser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	return chatOpenIn(t, ctx, cancel, name, url, exceptions)
}

// chatOpenIn opens url in the tab of ctx, waits for the login form, and
// records page exceptions.
func chatOpenIn(t *testing.T, ctx context.Context, cancel context.CancelFunc, name, url string, exceptions *chatExceptions) *chatBrowser {
	t.Helper()
	t.Cleanup(cancel)
	b := &chatBrowser{t: t, name: name, ctx: ctx, close: cancel}
	events := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			exceptions.add(name + ": " + ev.ExceptionDetails.Text + " " + fmt.Sprint(ev.ExceptionDetails.Exception))
		}
	}()
	b.do("open page", chromedp.Navigate(url))
	b.waitJS("login form", `document.getElementById('login') && !document.getElementById('login').hidden`)
	return b
}

type chatExceptions struct {
	mu   sync.Mutex
	list []string
}

func (e *chatExceptions) add(s string) { e.mu.Lock(); e.list = append(e.list, s); e.mu.Unlock() }
func (e *chatExceptions) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// login logs in from the login form and enters the default room.
func (b *chatBrowser) loginAndEnter(avatar string) {
	b.t.Helper()
	b.login(avatar)
	b.do("enter lobby", chromedp.Click(chromedp.CSS(`.room[data-room-id="lobby"]`)), chromedp.WaitVisible(chromedp.ID("room")))
	b.waitJS("connected", `document.getElementById('status').dataset.state === 'connected'`)
}

// login logs in from the login form and waits for the room list.
func (b *chatBrowser) login(avatar string) {
	b.t.Helper()
	b.do("log in",
		// The page pre-fills the last name used in this browser: clear it first.
		chromedp.Evaluate[chromedp.Void](`(el => { el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); })(document.getElementById('name'))`),
		chromedp.SendKeys(chromedp.ID("name"), b.name),
		chromedp.Click(chromedp.CSS(`.avatar-option[data-avatar="`+avatar+`"]`)),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("lobby")),
	)
	b.waitJS("lobby room listed", `document.querySelector('.room[data-room-id="lobby"]')`)
}

func (b *chatBrowser) say(text string) {
	b.t.Helper()
	b.do("type "+text, chromedp.SendKeys(chromedp.ID("input"), text), chromedp.Click(chromedp.ID("send")))
	b.waitJS("input cleared after send", `document.getElementById('input').value === ''`)
}

func chatJS(s string) string { b, _ := json.Marshal(s); return string(b) }

// users is the page's user list (names).
func (b *chatBrowser) usersJS(names ...string) string {
	conds := []string{fmt.Sprintf(`document.querySelectorAll('#users .user').length === %d`, len(names))}
	for _, n := range names {
		conds = append(conds, fmt.Sprintf(`Array.from(document.querySelectorAll('#users .user-name')).some(e => e.textContent === %s)`, chatJS(n)))
	}
	return strings.Join(conds, " && ")
}

func messageJS(text, extra string) string {
	return fmt.Sprintf(`Array.from(document.querySelectorAll('#messages .msg%s')).some(m => m.querySelector('.msg-content') && m.querySelector('.msg-content').textContent === %s)`, extra, chatJS(text))
}

// chatAliceAndBob opens Alice's page on the first HTTP app and Bob's on the
// second, logs both in and waits until both see both in the lobby.
func chatAliceAndBob(t *testing.T, c *chatCluster, exceptions *chatExceptions) (alice, bob *chatBrowser) {
	t.Helper()
	browserCtx := chatStartChromium(t)
	alice = chatOpen(t, browserCtx, "Alice", "http://"+c.http[0].HTTPAddr+"/", exceptions)
	bob = chatOpen(t, browserCtx, "Bob", "http://"+c.http[1].HTTPAddr+"/", exceptions)
	alice.loginAndEnter("fox")
	bob.loginAndEnter("owl")
	for _, b := range []*chatBrowser{alice, bob} {
		b.waitJS("both users listed", b.usersJS("Alice", "Bob"))
	}
	return alice, bob
}

// TestChatBrowser: two users on two HTTP apps and two gateways, one Redis.
func TestChatBrowser(t *testing.T) {
	c := chatStartCluster(t)
	var exceptions chatExceptions
	alice, bob := chatAliceAndBob(t, c, &exceptions)
	// The two are held by different gateways, found through Redis only.
	ctx := context.Background()
	cids, err := c.store.ClientIDsByGroup(ctx, "lobby")
	if err != nil || len(cids) != 2 {
		t.Fatalf("lobby members %v %v", cids, err)
	}
	gw0, _ := session.GatewayOf(cids[0])
	gw1, _ := session.GatewayOf(cids[1])
	if gw0 == gw1 {
		t.Fatalf("both users on gateway %s; want one on each", gw0)
	}
	t.Logf("lobby members %v on gateways %s and %s", cids, gw0, gw1)

	alice.say("hello from Alice")
	bob.waitJS("public message", messageJS("hello from Alice", ""))
	bob.say("hi Alice, Bob here")
	alice.waitJS("public reply", messageJS("hi Alice, Bob here", ""))

	const evil = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">`
	alice.say(evil)
	bob.waitJS("script shown as text", messageJS(evil, ""))
	for _, b := range []*chatBrowser{alice, bob} {
		if v, err := chatEval[bool](b, `window.__pwned === undefined && !document.querySelector('#messages script, #messages img[src="x"]')`); err != nil || !v {
			t.Fatalf("%s: HTML in a message was interpreted (%v)", b.name, err)
		}
	}

	// Private: Bob whispers to Alice from the user list.
	bob.do("pick Alice", chromedp.Click(chromedp.CSS(`#users .user:not(.self)`)))
	bob.waitJS("whisper target", `!document.getElementById('whisper-target').hidden`)
	bob.say("psst, only you")
	alice.waitJS("private message to me", messageJS("psst, only you", ".private")+
		` && document.querySelector('#messages .msg.private .msg-private-tag').textContent === '@me'`)
	bob.waitJS("own private message", messageJS("psst, only you", ".private.mine"))

	dir, err := os.MkdirTemp("", "chatgate-chat-browser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s %s", alice.screenshot(dir, "chatting"), bob.screenshot(dir, "chatting"))

	// Bob leaves (logout): Alice sees the notice and the updated list.
	bob.do("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	alice.waitJS("leave notice", `Array.from(document.querySelectorAll('#messages .msg.system')).some(m => m.textContent === 'Bob left')`)
	alice.waitJS("list without Bob", alice.usersJS("Alice"))
	t.Logf("after Bob logged out: %s", alice.screenshot(dir, "after-logout"))

	// Bob comes back, then closes his tab: Alice sees him come and go.
	bob.loginAndEnter("panda")
	alice.waitJS("Bob back", alice.usersJS("Alice", "Bob"))
	bob.close()
	alice.waitJS("second leave notice", `Array.from(document.querySelectorAll('#messages .msg.system')).filter(m => m.textContent === 'Bob left').length === 2`)
	alice.waitJS("list without Bob again", alice.usersJS("Alice"))
	t.Logf("after Bob closed his tab: %s", alice.screenshot(dir, "after-close-tab"))
	if ex := exceptions.all(); len(ex) > 0 {
		t.Fatalf("page exceptions: %v", ex)
	}
}

// chatSign makes a connect token by hand (docs/http-api.md, Connect tokens),
// for headers and claims the HTTP app would never issue (expired, alg none).
func chatSign(secret, alg, uid string, exp time.Time) string {
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	p := b64(map[string]any{"alg": alg, "typ": "JWT"}) + "." + b64(map[string]any{"sub": uid, "jti": "hand-made", "exp": exp.Unix()})
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(p))
	return p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// chatHTTP is a logged-in HTTP API client.
type chatHTTP struct {
	base string
	hc   *http.Client
	me   map[string]any
}

func chatLogin(t *testing.T, base, name string) *chatHTTP {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &chatHTTP{base: base, hc: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
	body := fmt.Sprintf(`{"name":%s,"avatar":"cat","bubble":"#e0e7ff"}`, chatJS(name))
	res, err := c.hc.Post(base+"/api/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&c.me) != nil {
		t.Fatalf("login: %d", res.StatusCode)
	}
	return c
}

// token gets a connect token (POST /api/token).
func (c *chatHTTP) token(t *testing.T) string {
	t.Helper()
	req, _ := http.NewRequest("POST", c.base+"/api/token", nil)
	req.Header.Set("X-CSRF-Token", c.me["csrf_token"].(string))
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tr struct {
		Token string `json:"token"`
	}
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&tr) != nil || tr.Token == "" {
		t.Fatalf("POST /api/token: %d", res.StatusCode)
	}
	return tr.Token
}

func (c *chatHTTP) post(t *testing.T, path string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", c.me["csrf_token"].(string))
	res, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// chatDial connects to a gateway with a token and returns the client id of
// the init frame, or the close status of a refused connection.
func chatDial(t *testing.T, wsAddr, tok string) (string, websocket.StatusCode, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws://" + wsAddr + "/"
	if tok != "" {
		u += "?token=" + tok
	}
	ws, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	_, data, err := ws.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return "", ce.Code, ce.Reason
		}
		t.Fatalf("read: %v", err)
	}
	var init struct {
		Type     string `json:"type"`
		ClientID string `json:"client_id"`
	}
	if json.Unmarshal(data, &init) != nil || init.Type != "init" {
		t.Fatalf("first frame %s", data)
	}
	return init.ClientID, -1, ""
}

// TestChatConnectTokens: the gateway binds a valid token's uid at connect
// and refuses (4001) forged, expired, tampered, other-algorithm and
// logged-out tokens.
func TestChatConnectTokens(t *testing.T) {
	c := chatStartCluster(t)
	api := chatLogin(t, "http://"+c.http[0].HTTPAddr, "Tess")
	uid, tok := api.me["uid"].(string), api.token(t)
	parts := strings.Split(tok, ".")
	ctx := context.Background()

	cid, code, _ := chatDial(t, c.gw[1].WSAddr, tok) // any gateway verifies it
	if code != -1 {
		t.Fatalf("valid token refused: %d", code)
	}
	if got, err := c.store.UidByClient(ctx, cid); err != nil || got != uid {
		t.Fatalf("valid token: client bound to %q (%v), want %q", got, err, uid)
	}
	// Binding the token-bound connection again through the API is fine.
	other := chatLogin(t, "http://"+c.http[0].HTTPAddr, "Mallory")
	mtok := other.token(t)
	mparts := strings.Split(mtok, ".")

	tests := []struct {
		name string
		tok  string
	}{
		{"missing", ""},
		{"forged (other secret)", chatSign("not-the-secret", "HS256", uid, time.Now().Add(time.Minute))},
		{"expired", chatSign(chatSecret, "HS256", uid, time.Now().Add(-time.Second))},
		{"alg none", chatSign(chatSecret, "none", uid, time.Now().Add(time.Minute))},
		{"alg HS512 (right secret)", chatSign(chatSecret, "HS512", uid, time.Now().Add(time.Minute))},
		{"other uid (claims of Mallory, signature of Tess)", mparts[0] + "." + mparts[1] + "." + parts[2]},
		{"garbage", "not-a-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, code, reason := chatDial(t, c.gw[0].WSAddr, tc.tok)
			if code != 4001 {
				t.Fatalf("code %d (%q), want 4001", code, reason)
			}
			t.Logf("refused: 4001 %q", reason)
		})
	}
	t.Run("replayed after logout", func(t *testing.T) {
		if _, code, reason := chatDial(t, c.gw[0].WSAddr, mtok); code != -1 {
			t.Fatalf("before logout: code %d (%q), want a connection", code, reason)
		}
		if st := other.post(t, "/api/logout"); st != 204 {
			t.Fatalf("logout: %d", st)
		}
		_, code, reason := chatDial(t, c.gw[0].WSAddr, mtok)
		if code != 4001 {
			t.Fatalf("code %d (%q), want 4001", code, reason)
		}
		t.Logf("refused: 4001 %q", reason)
	})
}
