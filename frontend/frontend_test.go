package frontend

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"
)

// chromiumPath is where scripts/test.sh installs the browser.
const chromiumPath = "/usr/bin/chromium"

// pageCSP is the policy that the real server sends; the fake adds report-uri so
// that the test sees any violation.
const pageCSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; " +
	"img-src 'self' data:; frame-ancestors 'none'; report-uri /csp-report"

var testAvatars = []string{"cat", "dog", "fox", "owl", "panda", "robot", "bear", "frog"}

var testBubbles = []string{"#e3f2fd", "#e8f5e9", "#fff3e0", "#fce4ec", "#ede7f6", "#f5f5f5"}

func TestFilesHasPageAndAvatars(t *testing.T) {
	files := Files()
	for _, name := range []string{"index.html", "app.js", "style.css", "favicon.svg", "lib/chatgate.js"} {
		if _, err := fs.Stat(files, name); err != nil {
			t.Errorf("Files() lacks %s: %v", name, err)
		}
	}
	for _, a := range testAvatars {
		b, err := fs.ReadFile(files, "avatars/"+a+".svg")
		if err != nil {
			t.Errorf("Files() lacks avatars/%s.svg: %v", a, err)
			continue
		}
		if !strings.Contains(string(b), "<svg") || strings.Contains(string(b), "style=") || strings.Contains(string(b), "<script") {
			t.Errorf("avatars/%s.svg must be a plain SVG with no style attribute and no script", a)
		}
	}
	if got := mime.TypeByExtension(".svg"); got != "image/svg+xml" {
		t.Errorf("mime type of .svg = %q, want image/svg+xml", got)
	}
	html, err := fs.ReadFile(files, "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"style=", "onclick", "onload", "onerror", "onsubmit", "javascript:"} {
		if strings.Contains(string(html), bad) {
			t.Errorf("index.html contains %q; the CSP forbids inline styles and handlers", bad)
		}
	}
	if n := strings.Count(string(html), "<script"); n != 1 || !strings.Contains(string(html), `<script type="module" src="/app.js"></script>`) {
		t.Errorf("index.html must load only /app.js, with no inline script (found %d script tags)", n)
	}
	js, err := fs.ReadFile(files, "app.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("app.js uses %s; user text must go in as text", bad)
		}
	}
}

// ---------------------------------------------------------------- fake backend

type fakeRoom struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Online int    `json:"online"`
}

type fakeConn struct {
	id    string
	token string
	c     *websocket.Conn
	recv  chan map[string]any // frames from the page; closed when the socket ends
}

func (fc *fakeConn) send(t *testing.T, v any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, fc.c, v); err != nil {
		t.Fatalf("gateway write to %s: %v", fc.id, err)
	}
}

// closeWith closes the socket from the server side, as the gateway would.
func (fc *fakeConn) closeWith(code websocket.StatusCode, reason string) {
	go fc.c.Close(code, reason) //nolint:errcheck // the page may close first
}

type fakeBackend struct {
	t *testing.T

	mu         sync.Mutex
	rooms      []fakeRoom
	loggedIn   bool
	user       map[string]any
	roomID     string
	tokenSeq   int
	token      string
	logins     []map[string]any
	meCalls    int
	tokenCalls int
	logouts    int
	cspReports []string
	notFound   []string
	badReqs    []string
	connSeq    int
	gate       chan struct{}
	gatewayURL string
	appHost    string

	binds chan string
	says  chan map[string]any
	conns chan *fakeConn
}

const (
	fakeSID        = "sid-1"
	fakeBrowserKey = "browser-key-1"
	fakeCSRF       = "csrf-token-1"
)

func newFakeBackend(t *testing.T) *fakeBackend {
	return &fakeBackend{
		t: t,
		rooms: []fakeRoom{
			{ID: "r1", Name: "General", Online: 3},
			{ID: "r2", Name: "Random", Online: 0},
		},
		binds: make(chan string, 16),
		says:  make(chan map[string]any, 16),
		conns: make(chan *fakeConn, 16),
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) //nolint:errcheck
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

// newTokenLocked issues a fresh connect token; mu must be held.
func (fb *fakeBackend) newTokenLocked() string {
	fb.tokenSeq++
	fb.token = fmt.Sprintf("tok-%d+/=", fb.tokenSeq) // needs URL encoding
	return fb.token
}

// authed: like the real API's tab logins, a request needs the tab's session
// id (X-Chatgate-Session) and the HttpOnly browser key cookie.
func (fb *fakeBackend) authed(r *http.Request) bool {
	c, err := r.Cookie("browser")
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return err == nil && c.Value == fakeBrowserKey && r.Header.Get("X-Chatgate-Session") == fakeSID && fb.loggedIn
}

// checkWrite enforces what the real API enforces on state-changing requests.
func (fb *fakeBackend) checkWrite(w http.ResponseWriter, r *http.Request, needLogin bool) bool {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		fb.noteBad(r, "content-type "+r.Header.Get("Content-Type"))
		writeErr(w, http.StatusUnsupportedMediaType, "bad_content_type", "JSON only")
		return false
	}
	if !needLogin {
		return true
	}
	if !fb.authed(r) {
		writeErr(w, http.StatusUnauthorized, "unauthorized", "Please log in.")
		return false
	}
	if r.Header.Get("X-CSRF-Token") != fakeCSRF {
		fb.noteBad(r, "csrf "+r.Header.Get("X-CSRF-Token"))
		writeErr(w, http.StatusForbidden, "csrf", "Bad CSRF token.")
		return false
	}
	return true
}

func (fb *fakeBackend) noteBad(r *http.Request, why string) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	fb.badReqs = append(fb.badReqs, r.Method+" "+r.URL.Path+": "+why)
}

func decodeBody(r *http.Request) map[string]any {
	m := map[string]any{}
	json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&m) //nolint:errcheck
	return m
}

func (fb *fakeBackend) meLocked() map[string]any {
	m := map[string]any{}
	for k, v := range fb.user {
		m[k] = v
	}
	m["csrf_token"] = fakeCSRF
	return m
}

// statusRecorder notes static files that are missing.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (fb *fakeBackend) appHandler() http.Handler {
	mux := http.NewServeMux()
	files := http.FileServerFS(Files())
	mux.Handle("GET /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: 200}
		files.ServeHTTP(rec, r)
		if rec.status == http.StatusNotFound {
			fb.mu.Lock()
			fb.notFound = append(fb.notFound, r.URL.Path)
			fb.mu.Unlock()
		}
	}))
	mux.HandleFunc("POST /csp-report", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		fb.mu.Lock()
		fb.cspReports = append(fb.cspReports, string(b))
		fb.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, r *http.Request) {
		fb.mu.Lock()
		gw := fb.gatewayURL
		fb.mu.Unlock()
		writeJSON(w, 200, map[string]any{"avatars": testAvatars, "bubbles": testBubbles, "gateway_url": gw})
	})
	mux.HandleFunc("POST /api/login", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, false) {
			return
		}
		if h := r.Header.Get("X-Chatgate-Session"); h != "new" {
			fb.noteBad(r, "login with X-Chatgate-Session "+h+", want new (a tab login)")
		}
		body := decodeBody(r)
		fb.mu.Lock()
		defer fb.mu.Unlock()
		fb.logins = append(fb.logins, body)
		name, _ := body["name"].(string)
		if strings.TrimSpace(name) == "" {
			writeErr(w, 400, "bad_name", "Name is required.")
			return
		}
		fb.loggedIn = true
		fb.roomID = ""
		fb.user = map[string]any{"uid": "u1", "name": name, "avatar": body["avatar"], "bubble": body["bubble"]}
		http.SetCookie(w, &http.Cookie{Name: "browser", Value: fakeBrowserKey, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		m := fb.meLocked()
		m["session_id"] = fakeSID
		writeJSON(w, 200, m)
	})
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		if !fb.authed(r) {
			writeErr(w, 401, "unauthorized", "Not logged in.")
			return
		}
		fb.mu.Lock()
		defer fb.mu.Unlock()
		fb.meCalls++
		m := fb.meLocked()
		if fb.roomID == "" {
			m["room_id"] = nil
		} else {
			m["room_id"] = fb.roomID
		}
		writeJSON(w, 200, m)
	})
	mux.HandleFunc("POST /api/token", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		fb.mu.Lock()
		defer fb.mu.Unlock()
		fb.tokenCalls++
		writeJSON(w, 200, map[string]any{"token": fb.newTokenLocked(), "expires_at": time.Now().Add(5 * time.Minute).Unix()})
	})
	mux.HandleFunc("POST /api/logout", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		fb.mu.Lock()
		fb.loggedIn = false
		fb.logouts++
		fb.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /api/rooms", func(w http.ResponseWriter, r *http.Request) {
		if !fb.authed(r) {
			writeErr(w, 401, "unauthorized", "Not logged in.")
			return
		}
		fb.mu.Lock()
		defer fb.mu.Unlock()
		writeJSON(w, 200, fb.rooms)
	})
	mux.HandleFunc("POST /api/rooms", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		name, _ := decodeBody(r)["name"].(string)
		fb.mu.Lock()
		defer fb.mu.Unlock()
		room := fakeRoom{ID: fmt.Sprintf("r%d", len(fb.rooms)+1), Name: name}
		fb.rooms = append(fb.rooms, room)
		writeJSON(w, 200, map[string]string{"id": room.ID, "name": room.Name})
	})
	mux.HandleFunc("POST /api/rooms/{id}/enter", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		id := r.PathValue("id")
		fb.mu.Lock()
		defer fb.mu.Unlock()
		for _, room := range fb.rooms {
			if room.ID == id {
				fb.roomID = id
				writeJSON(w, 200, map[string]string{"id": room.ID, "name": room.Name})
				return
			}
		}
		writeErr(w, 404, "no_room", "No such room.")
	})
	mux.HandleFunc("GET /api/rooms/{id}/history", func(w http.ResponseWriter, r *http.Request) {
		if !fb.authed(r) {
			writeErr(w, 401, "unauthorized", "Not logged in.")
			return
		}
		if r.URL.Query().Get("limit") != "50" {
			fb.noteBad(r, "limit "+r.URL.Query().Get("limit"))
		}
		msgs := []map[string]any{}
		if r.PathValue("id") == "r1" {
			msgs = append(msgs, map[string]any{
				"type": "all", "uid": "u2", "uname": "Bob", "avatar": "dog", "bubble": "#e8f5e9",
				"content": "welcome to General", "ts": time.Now().Add(-time.Hour).UnixMilli(),
			})
		}
		writeJSON(w, 200, msgs)
	})
	mux.HandleFunc("POST /api/bind", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		id, _ := decodeBody(r)["client_id"].(string)
		fb.mu.Lock()
		inRoom := fb.roomID != ""
		fb.mu.Unlock()
		if !inRoom {
			writeErr(w, 409, "no_room", "Enter a room first.")
			return
		}
		fb.binds <- id
		writeJSON(w, 200, map[string]bool{"ok": true})
	})
	mux.HandleFunc("POST /api/say", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		body := decodeBody(r)
		if body["content"] == "spam" {
			w.Header().Set("Retry-After", "3")
			writeErr(w, http.StatusTooManyRequests, "rate_limited", "You are sending too fast.")
			return
		}
		fb.says <- body
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("POST /api/flush", func(w http.ResponseWriter, r *http.Request) {
		if !fb.checkWrite(w, r, true) {
			return
		}
		w.WriteHeader(http.StatusAccepted)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", pageCSP)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

func (fb *fakeBackend) gatewayHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		fb.mu.Lock()
		valid := fb.loggedIn && token == fb.token
		gate := fb.gate
		appHost := fb.appHost
		fb.mu.Unlock()
		if !valid {
			fb.noteBad(r, "gateway token "+token)
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		if gate != nil {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: []string{appHost}})
		if err != nil {
			fb.noteBad(r, "accept: "+err.Error())
			return
		}
		fb.mu.Lock()
		fb.connSeq++
		fc := &fakeConn{id: fmt.Sprintf("c%d", fb.connSeq), token: token, c: c, recv: make(chan map[string]any, 16)}
		fb.mu.Unlock()
		ctx := context.Background()
		if err := wsjson.Write(ctx, c, map[string]string{"type": "init", "client_id": fc.id}); err != nil {
			return
		}
		fb.conns <- fc
		defer close(fc.recv)
		for {
			var m map[string]any
			if err := wsjson.Read(ctx, c, &m); err != nil {
				return
			}
			fc.recv <- m
		}
	})
}

func (fb *fakeBackend) setGate(g chan struct{}) {
	fb.mu.Lock()
	fb.gate = g
	fb.mu.Unlock()
}

// ---------------------------------------------------------------- browser helpers

type browser struct {
	t   *testing.T
	ctx context.Context
}

// do runs actions with a bound on the time they may take.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func evalIn[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript boolean expression. chromedp.Poll builds its
// predicate with new Function, which the page CSP forbids, so poll from Go.
func (b *browser) waitFor(expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %v waiting for %s (last error: %v)\nstatus=%q messages=%q", timeout, expr, err,
				evalIn[string](b, `(document.getElementById('status')||{}).dataset ? document.getElementById('status').dataset.state : ''`),
				evalIn[string](b, `Array.from(document.querySelectorAll('#messages .msg')).map(m => m.textContent).join(' | ')`))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return evalIn[string](b, fmt.Sprintf(`(document.querySelector(%q) || {textContent: ''}).textContent`, sel))
}

func (b *browser) screenshot(dir, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("write screenshot: %v", err)
	}
	return path
}

// phoneShot takes a screenshot at phone width (375 px), then goes back to desktop width.
func (b *browser) phoneShot(dir, name string) string {
	b.t.Helper()
	b.do("phone viewport", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	path := b.screenshot(dir, name)
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	return path
}

// pressEnter sends a bare Enter key (keydown and keyup, no char event), as a
// person pressing Enter in the message box does.
func pressEnter(mods int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Key: "Enter", Code: "Enter", Modifiers: mods,
				WindowsVirtualKeyCode: 13, NativeVirtualKeyCode: 13,
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// clearField empties a text field as a person would, firing an input event.
// (chromedp.Clear only resets the value attribute of an input, and SetValue
// reports an error for an empty value.)
func clearField(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(
		`(el => { el.value = ''; el.dispatchEvent(new Event('input', {bubbles: true})); })(document.getElementById(%q))`, id))
}

func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func (fb *fakeBackend) expectBind(t *testing.T, want string) {
	t.Helper()
	if got := recvWithin(t, fb.binds, "POST /api/bind "+want); got != want {
		t.Fatalf("bound client_id %q, want %q", got, want)
	}
}

func (fb *fakeBackend) expectSay(t *testing.T, want map[string]any) {
	t.Helper()
	if got := recvWithin(t, fb.says, "POST /api/say"); !reflect.DeepEqual(got, want) {
		t.Fatalf("POST /api/say body = %v, want %v", got, want)
	}
}

func expectFrame(t *testing.T, fc *fakeConn, wantType string) {
	t.Helper()
	for {
		select {
		case m, ok := <-fc.recv:
			if !ok {
				t.Fatalf("socket %s closed while waiting for a %q frame", fc.id, wantType)
			}
			if m["type"] == wantType {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q frame from the page on %s", wantType, fc.id)
		}
	}
}

func expectClosed(t *testing.T, fc *fakeConn) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-fc.recv:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the page did not close socket %s", fc.id)
		}
	}
}

// ---------------------------------------------------------------- the test

func TestChatPageInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("this test drives a real browser, and %s is missing (%v): run scripts/test.sh, which installs Chromium and runs the tests", chromiumPath, err)
	}

	fb := newFakeBackend(t)
	app := httptest.NewServer(fb.appHandler())
	defer app.Close()
	gw := httptest.NewServer(fb.gatewayHandler())
	defer gw.Close()
	appURL, _ := url.Parse(app.URL)
	gwURL, _ := url.Parse(gw.URL)
	fb.appHost = appURL.Host
	fb.gatewayURL = "ws://" + gwURL.Host + "/"

	// The screenshots stay after the test so that a person can look at them.
	shots := os.Getenv("CHATGATE_SCREENSHOT_DIR")
	if shots == "" {
		var err error
		if shots, err = os.MkdirTemp("", "chatgate-frontend-shots-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	profile, err := os.MkdirTemp("", "chatgate-chromium-profile-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(profile) //nolint:errcheck

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 800),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	defer cancelCtx()
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout on its life
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx}

	var exMu sync.Mutex
	var exceptions []string
	exEvents := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exEvents {
			if err != nil {
				return
			}
			exMu.Lock()
			exceptions = append(exceptions, ev.ExceptionDetails.Text+" "+fmt.Sprint(ev.ExceptionDetails.Exception))
			exMu.Unlock()
		}
	}()

	b.do("set viewport", chromedp.EmulateViewport(1280, 800))

	// --- login: client-side validation first.
	b.do("open page", chromedp.Navigate(app.URL), chromedp.WaitVisible(chromedp.ID("login-form")))
	if n := evalIn[int](b, `document.querySelectorAll('.avatar-option').length`); n != len(testAvatars) {
		t.Fatalf("avatar options = %d, want %d", n, len(testAvatars))
	}
	if n := evalIn[int](b, `document.querySelectorAll('.bubble-option').length`); n != len(testBubbles) {
		t.Fatalf("bubble options = %d, want %d", n, len(testBubbles))
	}
	b.do("submit empty name", chromedp.Click(chromedp.ID("login-submit")))
	b.waitFor(`!document.getElementById('login-error').hidden && document.getElementById('login-error').textContent.length > 0`, 5*time.Second)
	b.do("submit blank name", chromedp.SendKeys(chromedp.ID("name"), "   "), chromedp.Click(chromedp.ID("login-submit")))
	b.do("submit long name", chromedp.SendKeys(chromedp.ID("name"), strings.Repeat("x", 33)), chromedp.Click(chromedp.ID("login-submit")))
	if !strings.Contains(b.text("#login-error"), "32") {
		t.Errorf("a 33-character name should be rejected with a length message, got %q", b.text("#login-error"))
	}
	fb.mu.Lock()
	early := len(fb.logins)
	fb.mu.Unlock()
	if early != 0 {
		t.Fatalf("invalid names reached POST /api/login %d times; they must be rejected client-side", early)
	}
	if !evalIn[bool](b, `!document.getElementById('login').hidden`) {
		t.Fatal("the login screen should stay after a rejected name")
	}
	b.screenshot(shots, "login-error.png")
	b.phoneShot(shots, "login-error-phone.png")

	b.do("log in",
		clearField("name"),
		chromedp.SendKeys(chromedp.ID("name"), "Alice"),
		chromedp.Click(chromedp.CSS(`.avatar-option[data-avatar="fox"]`)),
		chromedp.Click(chromedp.CSS(`.bubble-option[data-bubble="#fff3e0"]`)),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.ID("lobby")),
	)
	fb.mu.Lock()
	gotLogin := fb.logins
	fb.mu.Unlock()
	wantLogin := map[string]any{"name": "Alice", "avatar": "fox", "bubble": "#fff3e0"}
	if len(gotLogin) != 1 || !reflect.DeepEqual(gotLogin[0], wantLogin) {
		t.Fatalf("login bodies = %v, want one %v", gotLogin, wantLogin)
	}

	// --- lobby: room list with online counts, refreshed every 5 s.
	b.waitFor(`document.querySelectorAll('#room-list .room').length === 2`, 5*time.Second)
	if got := b.text(`.room[data-room-id="r1"] .room-online`); !strings.Contains(got, "3") {
		t.Fatalf("r1 online = %q, want it to show 3", got)
	}
	if got := b.text(`.room[data-room-id="r1"] .room-name`); got != "General" {
		t.Fatalf("r1 name = %q", got)
	}
	b.screenshot(shots, "lobby.png")
	b.phoneShot(shots, "lobby-phone.png")
	fb.mu.Lock()
	fb.rooms[0].Online = 4
	fb.mu.Unlock()
	b.waitFor(`document.querySelector('.room[data-room-id="r1"] .room-online').textContent.includes('4')`, 8*time.Second)

	// --- create a room: it is entered at once; then back to the lobby.
	b.do("create room",
		chromedp.SendKeys(chromedp.ID("new-room-name"), "Book club"),
		chromedp.Click(chromedp.ID("create-room")),
		chromedp.WaitVisible(chromedp.ID("room")),
	)
	c1 := recvWithin(t, fb.conns, "first gateway connection")
	fb.expectBind(t, c1.id)
	fb.mu.Lock()
	wantTok := fb.token
	fb.mu.Unlock()
	if c1.token != wantTok {
		t.Fatalf("socket token %q, want %q", c1.token, wantTok)
	}
	if got := b.text("#title"); got != "Book club" {
		t.Fatalf("room title = %q, want Book club", got)
	}
	b.do("back to lobby", chromedp.Click(chromedp.ID("back-to-lobby")), chromedp.WaitVisible(chromedp.ID("lobby")))
	expectClosed(t, c1)
	b.waitFor(`document.querySelectorAll('#room-list .room').length === 3`, 5*time.Second)

	// --- enter General: history first, then the socket, then bind the init client_id.
	b.do("enter room", chromedp.Click(chromedp.CSS(`.room[data-room-id="r1"]`)), chromedp.WaitVisible(chromedp.ID("room")))
	c2 := recvWithin(t, fb.conns, "gateway connection in General")
	fb.expectBind(t, c2.id)
	b.waitFor(`document.getElementById('status').dataset.state === 'connected' && document.getElementById('status').textContent === 'connected'`, 5*time.Second)
	if got := b.text("#messages .msg .msg-content"); got != "welcome to General" {
		t.Fatalf("first message = %q, want the history message", got)
	}

	// --- live messages.
	now := time.Now().UnixMilli()
	c2.send(t, map[string]any{"type": "all", "uid": "u2", "uname": "Bob", "avatar": "dog", "bubble": "#e8f5e9", "content": "hello &amp; welcome", "ts": now})
	b.waitFor(`document.querySelector('#messages .msg:last-child .msg-content').textContent === 'hello & welcome'`, 5*time.Second)
	if got := b.text("#messages .msg:last-child .msg-name"); got != "Bob" {
		t.Fatalf("sender name = %q", got)
	}

	c2.send(t, map[string]any{"type": "all", "uid": "u2", "uname": "Bob", "avatar": "dog", "bubble": "#e8f5e9", "content": "&lt;script&gt;alert(1)&lt;/script&gt;", "ts": now})
	b.waitFor(`document.querySelector('#messages .msg:last-child .msg-content').textContent === '<script>alert(1)</script>'`, 5*time.Second)
	if n := evalIn[int](b, `document.querySelectorAll('script').length`); n != 1 {
		t.Fatalf("the page has %d script elements, want only app.js", n)
	}
	if evalIn[bool](b, `document.querySelector('#messages script') !== null`) {
		t.Fatal("a message created a script element")
	}
	// Content that is not escaped still goes in as text.
	c2.send(t, map[string]any{"type": "all", "uid": "u2", "uname": "<b>Bob</b>", "avatar": "../x", "bubble": "red;background:url(x)", "content": `<img src=x id=pwn>`, "ts": now})
	b.waitFor(`document.querySelector('#messages .msg:last-child .msg-content').textContent === '<img src=x id=pwn>'`, 5*time.Second)
	if evalIn[bool](b, `document.getElementById('pwn') !== null || document.querySelector('#messages b') !== null`) {
		t.Fatal("message text was parsed as HTML")
	}

	// A whisper to me, and my own whisper echoed back.
	c2.send(t, map[string]any{"type": "to", "uid": "u2", "uname": "Bob", "avatar": "dog", "bubble": "#e8f5e9", "content": "psst, Alice", "ts": now, "to_uid": "u1", "to_uname": "Alice"})
	b.waitFor(`document.querySelectorAll('#messages .msg.private').length === 1`, 5*time.Second)
	if got := b.text("#messages .msg.private"); !strings.Contains(got, "@me") || !strings.Contains(got, "psst, Alice") {
		t.Fatalf("private message text = %q, want the @me marker and the content", got)
	}
	if !evalIn[bool](b, `getComputedStyle(document.querySelector('.msg.private')).backgroundColor !== getComputedStyle(document.querySelector('.msg:not(.private):not(.system)')).backgroundColor`) {
		t.Fatal("a private message should be highlighted")
	}
	c2.send(t, map[string]any{"type": "to", "uid": "u1", "uname": "Alice", "avatar": "fox", "bubble": "#fff3e0", "content": "hi Bob", "ts": now, "to_uid": "u2", "to_uname": "Bob"})
	b.waitFor(`document.querySelectorAll('#messages .msg.private').length === 2`, 5*time.Second)
	if got := b.text("#messages .msg.private:last-child .msg-private-tag"); got != "@Bob" {
		t.Fatalf("echoed whisper tag = %q, want @Bob", got)
	}
	if !evalIn[bool](b, `document.querySelector('#messages .msg:last-child').classList.contains('mine')`) {
		t.Fatal("my own message should have the class mine")
	}

	// Notices and the user list.
	c2.send(t, map[string]any{"type": "join", "uid": "u3", "uname": "Carol"})
	b.waitFor(`document.querySelector('#messages .msg:last-child').matches('.msg.system') && document.querySelector('#messages .msg:last-child').textContent.includes('Carol joined')`, 5*time.Second)
	c2.send(t, map[string]any{"type": "flush", "users_list": map[string]string{"u1": "Alice", "u2": "Bob", "u3": "Carol", "u4": "Dave"}})
	b.waitFor(`document.querySelectorAll('#users .user').length === 4 && document.querySelector('#users .user[data-uid="u4"]').textContent.includes('Dave')`, 5*time.Second)
	c2.send(t, map[string]any{"type": "close", "uid": "u4", "uname": "Dave"})
	b.waitFor(`document.querySelector('#messages .msg:last-child').matches('.msg.system') && document.querySelector('#messages .msg:last-child').textContent.includes('Dave left')`, 5*time.Second)
	c2.send(t, map[string]any{"type": "flush", "users_list": map[string]string{"u1": "Alice", "u2": "Bob", "u3": "Carol"}})
	b.waitFor(`document.querySelectorAll('#users .user').length === 3 && !document.querySelector('#users .user[data-uid="u4"]')`, 5*time.Second)

	// Ping gets a pong.
	c2.send(t, map[string]any{"type": "ping"})
	expectFrame(t, c2, "pong")

	// Enter sends to everyone; Shift+Enter does not send.
	b.do("type a message", chromedp.SendKeys(chromedp.ID("input"), "hi all"), pressEnter(0))
	fb.expectSay(t, map[string]any{"type": "all", "content": "hi all"})
	b.waitFor(`document.getElementById('input').value === ''`, 5*time.Second)
	b.do("shift enter", chromedp.SendKeys(chromedp.ID("input"), "line one"), pressEnter(8)) // 8 is Shift
	// Then Enter: the next message sent holds both texts, so Shift+Enter
	// sent nothing, not even late. (The synthetic key event types no newline.)
	b.do("enter after shift enter", chromedp.SendKeys(chromedp.ID("input"), " two"), pressEnter(0))
	fb.expectSay(t, map[string]any{"type": "all", "content": "line one two"})
	b.waitFor(`document.getElementById('input').value === ''`, 5*time.Second)

	// A rate-limited message shows the server's message and keeps the text.
	b.do("send too fast", chromedp.SendKeys(chromedp.ID("input"), "spam"), pressEnter(0))
	b.waitFor(`!document.getElementById('composer-error').hidden && document.getElementById('composer-error').textContent.includes('sending too fast') && document.getElementById('composer-error').textContent.includes('3 s')`, 5*time.Second)
	if got := evalIn[string](b, `document.getElementById('input').value`); got != "spam" {
		t.Fatalf("after a 429 the input holds %q, want the unsent text", got)
	}
	b.do("clear input", clearField("input"))

	// Click a user to whisper.
	b.do("pick whisper target", chromedp.Click(chromedp.CSS(`#users .user[data-uid="u2"]`)))
	b.waitFor(`!document.getElementById('whisper-target').hidden && document.getElementById('whisper-target').textContent.includes('Bob')`, 5*time.Second)
	b.do("whisper", chromedp.SendKeys(chromedp.ID("input"), "psst"), chromedp.Click(chromedp.ID("send")))
	fb.expectSay(t, map[string]any{"type": "to", "to_uid": "u2", "content": "psst"})

	// Screenshots at desktop width, then at phone width.
	c2.send(t, map[string]any{"type": "all", "uid": "u3", "uname": "Carol", "avatar": "owl", "bubble": "#fce4ec", "content": "Line one\nline two, with a much longer sentence so that the bubble wraps nicely on a narrow phone screen.", "ts": now})
	b.waitFor(`document.querySelector('#messages .msg:last-child .msg-name').textContent === 'Carol'`, 5*time.Second)
	desktop := b.screenshot(shots, "room-desktop.png")
	b.do("phone viewport", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	b.waitFor(`document.getElementById('toggle-users').offsetParent !== null`, 5*time.Second)
	b.waitFor(`document.getElementById('sidebar').getBoundingClientRect().left >= window.innerWidth`, 5*time.Second)
	phone := b.screenshot(shots, "room-phone.png")
	b.do("open people", chromedp.Click(chromedp.ID("toggle-users")))
	b.waitFor(`getComputedStyle(document.getElementById('sidebar')).transform === 'none'`, 5*time.Second)
	phoneUsers := b.screenshot(shots, "room-phone-people.png")
	b.do("pick from drawer", chromedp.Click(chromedp.CSS(`#users .user[data-uid="u3"]`)))
	b.waitFor(`document.getElementById('whisper-name').textContent === 'Carol' && !document.getElementById('sidebar').classList.contains('open')`, 5*time.Second)
	// Wait until the drawer has slid away, so that the next click is not on it.
	b.waitFor(`document.getElementById('sidebar').getBoundingClientRect().left >= window.innerWidth`, 5*time.Second)
	b.do("stop whispering", chromedp.Click(chromedp.ID("whisper-clear")))
	b.waitFor(`document.getElementById('whisper-target').hidden`, 5*time.Second)
	b.do("desktop viewport", chromedp.EmulateViewport(1280, 800))
	t.Logf("screenshots: %s, %s, %s (folder %s)", desktop, phone, phoneUsers, shots)

	// --- reconnect after the server closes the socket: reconnecting, then connected and re-bound.
	// A token that is still good is used again (no POST /api/token).
	fb.mu.Lock()
	tokensBefore, tokBefore := fb.tokenCalls, fb.token
	fb.mu.Unlock()
	gate := make(chan struct{})
	fb.setGate(gate)
	c2.closeWith(websocket.StatusGoingAway, "bye")
	b.waitFor(`document.getElementById('status').dataset.state === 'reconnecting' && document.getElementById('status').textContent === 'reconnecting…'`, 5*time.Second)
	fb.setGate(nil)
	close(gate)
	c3 := recvWithin(t, fb.conns, "reconnection")
	fb.expectBind(t, c3.id)
	b.waitFor(`document.getElementById('status').dataset.state === 'connected'`, 5*time.Second)
	fb.mu.Lock()
	tokensAfter := fb.tokenCalls
	fb.mu.Unlock()
	if tokensAfter != tokensBefore || c3.token != tokBefore {
		t.Fatalf("plain reconnect: POST /api/token calls %d -> %d, socket token %q, want the unexpired %q", tokensBefore, tokensAfter, c3.token, tokBefore)
	}

	// 4001: the token is stale, so the page gets a new one (POST /api/token) first.
	fb.mu.Lock()
	tokBefore4001, oldTok := fb.tokenCalls, fb.token
	fb.mu.Unlock()
	c3.closeWith(4001, "token expired")
	c4 := recvWithin(t, fb.conns, "reconnection after 4001")
	fb.expectBind(t, c4.id)
	fb.mu.Lock()
	tokAfter4001, newTok := fb.tokenCalls, fb.token
	fb.mu.Unlock()
	if tokAfter4001 <= tokBefore4001 || c4.token == oldTok || c4.token != newTok {
		t.Fatalf("after 4001: POST /api/token calls %d -> %d, socket token %q (old %q, newest %q)", tokBefore4001, tokAfter4001, c4.token, oldTok, newTok)
	}
	b.waitFor(`document.getElementById('status').dataset.state === 'connected'`, 5*time.Second)

	// 1012: service restart, reconnect promptly. The restarted server has
	// forgotten the room, so the first bind fails and the page enters again.
	fb.mu.Lock()
	fb.roomID = ""
	fb.mu.Unlock()
	start := time.Now()
	c4.closeWith(websocket.StatusServiceRestart, "restart")
	c5 := recvWithin(t, fb.conns, "reconnection after 1012")
	fb.expectBind(t, c5.id)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("reconnect after 1012 took %v", d)
	}
	fb.mu.Lock()
	reentered := fb.roomID
	fb.mu.Unlock()
	if reentered != "r1" {
		t.Errorf("after a failed bind the page should enter r1 again, room is %q", reentered)
	}
	b.waitFor(`document.getElementById('status').dataset.state === 'connected'`, 5*time.Second)

	// --- a reload goes back into the room that /api/me names.
	b.do("reload in room", chromedp.Navigate(app.URL), chromedp.WaitVisible(chromedp.ID("room")))
	expectClosed(t, c5)
	c6 := recvWithin(t, fb.conns, "connection after reload")
	fb.expectBind(t, c6.id)
	b.waitFor(`document.getElementById('status').dataset.state === 'connected' && document.getElementById('title').textContent === 'General'`, 5*time.Second)

	// --- leave and log out.
	b.do("leave room", chromedp.Click(chromedp.ID("back-to-lobby")), chromedp.WaitVisible(chromedp.ID("lobby")))
	expectClosed(t, c6)
	b.do("log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login-form")))
	fb.mu.Lock()
	logouts := fb.logouts
	fb.mu.Unlock()
	if logouts != 1 {
		t.Fatalf("logouts = %d, want 1", logouts)
	}

	// A reload with no session shows the login screen again.
	b.do("reload", chromedp.Navigate(app.URL), chromedp.WaitVisible(chromedp.ID("login-form")))

	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.cspReports) > 0 {
		t.Errorf("CSP violations: %v", fb.cspReports)
	}
	if len(fb.notFound) > 0 {
		t.Errorf("missing static files: %v", fb.notFound)
	}
	if len(fb.badReqs) > 0 {
		t.Errorf("requests that break the API contract: %v", fb.badReqs)
	}
	exMu.Lock()
	defer exMu.Unlock()
	if len(exceptions) > 0 {
		t.Errorf("uncaught exceptions in the page: %v", exceptions)
	}
}
