package httpapi

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConnectToken: POST /api/token needs a login and the CSRF token, and
// returns an HS256 JWT for the login's uid whose id is recorded with the
// login session; the session id appears nowhere in it.
func TestConnectToken(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	if r := e.client().do("POST", "/api/token", nil); r.status != 401 {
		t.Fatalf("token without login: %d %s", r.status, r.body)
	}
	c := e.client()
	c.login("Ada")
	if r := c.do("POST", "/api/token", nil, "X-CSRF-Token", ""); r.status != 403 || r.errorCode(t) != "csrf" {
		t.Fatalf("token without CSRF: %d %s", r.status, r.body)
	}
	tok, claims := c.token()
	sid := strings.TrimPrefix(c.cookie, sessionCookie+"=")
	parts := strings.Split(tok, ".")
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if !strings.Contains(string(header), `"alg":"HS256"`) || strings.Contains(string(header)+string(body), sid) {
		t.Fatalf("token %s %s must be HS256 and must not carry the session id %s", header, body, sid)
	}
	if !e.mr.Exists("t:tokens:{"+sid+"}") || !strings.Contains(fmt.Sprint(e.mr.Members("t:tokens:{"+sid+"}")), claims.ID) {
		t.Fatalf("token id %s not recorded with session %s: %v", claims.ID, sid, e.mr.Keys())
	}
	if _, again := c.token(); again.ID == claims.ID {
		t.Fatal("two tokens with one id")
	}
	var me map[string]any
	c.do("GET", "/api/me", nil).decode(t, &me)
	if _, ok := me["token"]; ok {
		t.Fatalf("GET /api/me still hands out a token: %v", me)
	}
}

// TestConnectTokenRateLimit: a user gets TokenPerMinute tokens a minute.
func TestConnectTokenRateLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{TokenPerMinute: 2})
	c := e.client()
	c.login("Ada")
	var got []int
	for range 3 {
		got = append(got, c.do("POST", "/api/token", nil).status)
	}
	if fmt.Sprint(got) != "[200 200 429]" {
		t.Fatalf("statuses %v, want 2 tokens then 429", got)
	}
}

// TestLogoutRace: requests racing a logout never bring the session back
// (issue 10, item 3), and every token minted around it is refused or
// revoked. Many enters (each saves the session) and token requests run
// while the user logs out; afterwards the login is gone for good.
func TestLogoutRace(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{LoginPerMinute: -1, TokenPerMinute: -1, EnterPerMinute: -1, CreateRoomPerMinute: -1, SayPerMinute: -1})
	rooms := []string{e.room("ra"), e.room("rb")}
	const rounds, workers, perWorker = 15, 6, 12
	for round := range rounds {
		c := e.client()
		tab := round%2 == 1 // tab logins (X-Chatgate-Session) in odd rounds
		if tab {
			c.loginTab(fmt.Sprintf("Ada%d", round))
		} else {
			c.login(fmt.Sprintf("Ada%d", round))
		}
		c.enter(rooms[0])
		sid := strings.TrimPrefix(c.cookie, sessionCookie+"=")
		if tab {
			sid = c.tab
		}
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			tokens []string // ids of the tokens handed out
		)
		start := make(chan struct{})
		for w := range workers {
			wg.Add(1)
			// Same browser; copied here, as c changes when it logs out.
			wc := &client{env: e, cookie: c.cookie, csrf: c.csrf, me: c.me, tab: c.tab, browser: c.browser}
			go func() {
				defer wg.Done()
				<-start
				for i := range perWorker {
					if w%3 == 0 {
						r := wc.do("POST", "/api/token", nil)
						if r.status == 200 {
							var tr tokenResponse
							r.decode(t, &tr)
							claims, err := e.signer.Verify(tr.Token)
							if err != nil {
								t.Errorf("minted token does not verify: %v", err)
								return
							}
							mu.Lock()
							tokens = append(tokens, claims.ID)
							mu.Unlock()
						}
						continue
					}
					wc.do("POST", "/api/rooms/"+rooms[(w+i)%2]+"/enter", nil)
				}
			}()
		}
		close(start)
		time.Sleep(time.Duration(round%5) * time.Millisecond) // log out early in some rounds, later in others
		if r := c.do("POST", "/api/logout", nil); r.status != 204 {
			t.Fatalf("round %d: logout: %d %s", round, r.status, r.body)
		}
		wg.Wait()
		if e.mr.Exists("t:login:{" + sid + "}") {
			t.Fatalf("round %d: the logged-out session was saved back", round)
		}
		stale := &client{env: e, cookie: sessionCookie + "=" + sid, csrf: c.csrf}
		if tab {
			stale = &client{env: e, tab: sid, browser: c.browser, csrf: c.csrf}
		}
		if r := stale.do("GET", "/api/me", nil); r.status != 401 {
			t.Fatalf("round %d: /api/me after logout: %d %s", round, r.status, r.body)
		}
		if r := stale.do("POST", "/api/say", sayRequest{Type: "all", Content: "back?"}); r.status != 401 {
			t.Fatalf("round %d: /api/say after logout: %d %s", round, r.status, r.body)
		}
		for _, jti := range tokens {
			if revoked, err := e.chat.TokenRevoked(context.Background(), jti); !revoked || err != nil {
				t.Fatalf("round %d: token %s handed out around the logout is not revoked (%v)", round, jti, err)
			}
		}
	}
}

// TestUnsafeNames: user and room names refuse bidi controls and stacked
// combining marks (issue 10, item 13), and accept real scripts that use marks.
func TestUnsafeNames(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{SayPerMinute: -1, LoginPerMinute: -1, CreateRoomPerMinute: -1})
	owner := e.client()
	owner.login("Owner")
	tests := []struct {
		name   string
		text   string
		unsafe bool
	}{
		{"plain", "Ada", false},
		{"RLO override", "Bob\u202Etxt.exe", true},
		{"LRE", "a\u202Ab", true},
		{"RLE", "a\u202Bb", true},
		{"PDF", "a\u202Cb", true},
		{"LRO", "a\u202Db", true},
		{"LRI", "a\u2066b", true},
		{"RLI", "a\u2067b", true},
		{"FSI", "a\u2068b", true},
		{"PDI", "a\u2069b", true},
		{"LRM", "a\u200Eb", true},
		{"RLM", "a\u200Fb", true},
		{"ALM", "a\u061Cb", true},
		{"one mark", "e\u0301", false},
		{"two marks (decomposed Vietnamese)", "Nguye\u0302\u0303n", false},
		{"three marks", "e\u0301\u0302\u0303", true},
		{"zalgo", "Z\u0351\u0352\u0357\u035B\u0300a", true},
		{"marks on separate letters", "a\u0301\u0302b\u0301\u0302", false},
		{"Hindi", "नमस्ते", false},
		{"Hebrew with points", "שָׁלוֹם", false},
		{"Arabic", "سلام", false},
		{"Thai", "สวัสดี", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want, code := 200, ""
			if tc.unsafe {
				want, code = 400, "unsafe_name"
			}
			r := e.client().do("POST", "/api/login", loginRequest{Name: tc.text, Avatar: "cat", Bubble: bubbles[0]})
			if r.status != want || (code != "" && r.errorCode(t) != code) {
				t.Fatalf("login name %+q: %d %s, want %d %s", tc.text, r.status, r.body, want, code)
			}
			if want == 200 {
				want = 201
			}
			r = owner.do("POST", "/api/rooms", roomRequest{Name: tc.text})
			if r.status != want || (code != "" && r.errorCode(t) != code) {
				t.Fatalf("room name %+q: %d %s, want %d %s", tc.text, r.status, r.body, want, code)
			}
		})
	}
}

// realServer serves e's app on a real loopback socket and returns its
// address. Clients can pick their source address (127.0.0.0/8) to play a
// trusted proxy or a stranger.
func realServer(t *testing.T, e *testEnv, tlsConfig *tls.Config) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.App().Listener(ln) }()
	t.Cleanup(func() {
		_ = e.srv.App().ShutdownWithTimeout(5 * time.Second)
		<-done
	})
	return ln.Addr().String()
}

// fromAddr is an HTTP client whose connections come from source address ip.
func fromAddr(ip string, tr *http.Transport) *http.Client {
	if tr == nil {
		tr = &http.Transport{}
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr.DialContext = d.DialContext
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func realDo(t *testing.T, hc *http.Client, method, url, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return res, b
}

// TestForwardedHeaders: X-Forwarded-For, -Proto and -Host count only from a
// trusted proxy (issue 10, item 9): a stranger's cannot change the gateway
// URL, the cookie, or the address its rate limits are counted under; a
// trusted proxy's do, and the client is the last address it vouches for.
func TestForwardedHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		trusted     []netip.Prefix
		from        string
		xff         string
		wantGateway string
		wantLimitIP string
		wantSecure  bool
	}{
		{"no proxies configured", nil, "127.0.0.2", "203.0.113.9", "ws://127.0.0.1:7272/", "127.0.0.2", false},
		{"untrusted peer", []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, "127.0.0.3", "203.0.113.9", "ws://127.0.0.1:7272/", "127.0.0.3", false},
		{"trusted proxy", []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, "127.0.0.2", "203.0.113.9", "wss://evil.example:7272/", "203.0.113.9", true},
		{"trusted proxy, client-forged first hop", []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}, "127.0.0.2", "198.51.100.66, 203.0.113.9", "wss://evil.example:7272/", "203.0.113.9", true},
		{"two trusted proxies", []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("10.0.0.0/8")}, "127.0.0.2", "198.51.100.66, 203.0.113.9, 10.1.2.3", "wss://evil.example:7272/", "203.0.113.9", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, &Options{TrustedProxies: tc.trusted, LoginPerMinute: 1})
			base := "http://" + realServer(t, e, nil)
			hc := fromAddr(tc.from, nil)
			hdr := map[string]string{"Host": "127.0.0.1:8080", "X-Forwarded-For": tc.xff,
				"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"}
			_, body := realDo(t, hc, "GET", base+"/api/config", "", hdr)
			var cfg configResponse
			if err := json.Unmarshal(body, &cfg); err != nil || cfg.GatewayURL != tc.wantGateway {
				t.Fatalf("gateway_url %q (%v), want %q", cfg.GatewayURL, err, tc.wantGateway)
			}
			login := `{"name":"A","avatar":"cat","bubble":"` + bubbles[0] + `"}`
			res, body := realDo(t, hc, "POST", base+"/api/login", login, hdr)
			if res.StatusCode != 200 {
				t.Fatalf("login: %d %s", res.StatusCode, body)
			}
			if secure := strings.Contains(res.Header.Get("Set-Cookie"), "; secure"); secure != tc.wantSecure {
				t.Fatalf("Set-Cookie %q: secure %v, want %v", res.Header.Get("Set-Cookie"), secure, tc.wantSecure)
			}
			if key := "t:limit:{login:ip:" + tc.wantLimitIP + "}"; !e.mr.Exists(key) {
				t.Fatalf("no %s: limits counted under %v", key, e.mr.Keys())
			}
			// The limit holds for that address whatever the client writes left of the proxy's entry.
			hdr["X-Forwarded-For"] = "192.0.2." + fmt.Sprint(len(tc.name)) + ", " + tc.xff
			if res, body := realDo(t, hc, "POST", base+"/api/login", login, hdr); res.StatusCode != 429 {
				t.Fatalf("second login from %s: %d %s, want 429", tc.wantLimitIP, res.StatusCode, body)
			}
		})
	}
}

// TestCookieSecure: the login cookie is Secure over https (TLS, or a trusted
// proxy's X-Forwarded-Proto), per --cookie-secure (issue 10, item 11).
func TestCookieSecure(t *testing.T) {
	t.Parallel()
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.StartTLS() // for its certificate and a client that trusts it
	tlsConfig, tlsTransport := hs.TLS.Clone(), hs.Client().Transport.(*http.Transport).Clone()
	hs.Close()
	proxy := []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}
	tests := []struct {
		policy CookieSecure
		via    string // "http", "tls", "trusted proxy https", "stranger https"
		want   bool
	}{
		{"", "http", false},
		{"", "tls", true},
		{"", "trusted proxy https", true},
		{"", "stranger https", false},
		{CookieSecureAuto, "tls", true},
		{CookieSecureAlways, "http", true},
		{CookieSecureAlways, "stranger https", true},
		{CookieSecureNever, "tls", false},
		{CookieSecureNever, "trusted proxy https", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/%s", tc.policy, tc.via), func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, &Options{CookieSecure: tc.policy, TrustedProxies: proxy})
			scheme, cfg, tr, from := "http", (*tls.Config)(nil), (*http.Transport)(nil), "127.0.0.3"
			hdr := map[string]string{}
			switch tc.via {
			case "tls":
				scheme, cfg, tr = "https", tlsConfig, tlsTransport.Clone()
			case "trusted proxy https":
				from, hdr["X-Forwarded-Proto"] = "127.0.0.2", "https"
			case "stranger https":
				hdr["X-Forwarded-Proto"] = "https"
			}
			base := scheme + "://" + realServer(t, e, cfg)
			hc := fromAddr(from, tr)
			login := `{"name":"A","avatar":"cat","bubble":"` + bubbles[0] + `"}`
			res, body := realDo(t, hc, "POST", base+"/api/login", login, hdr)
			if res.StatusCode != 200 {
				t.Fatalf("login: %d %s", res.StatusCode, body)
			}
			ck := res.Header.Get("Set-Cookie")
			if secure := strings.Contains(ck, "; secure"); secure != tc.want || !strings.Contains(ck, "HttpOnly") {
				t.Fatalf("Set-Cookie %q: secure %v, want %v (and HttpOnly)", ck, secure, tc.want)
			}
		})
	}
	e := newTestEnv(t, nil)
	if _, err := New(e.store, e.chat, &Options{CookieSecure: "sometimes"}); err == nil {
		t.Fatal("an unknown cookie policy was accepted")
	}
}
