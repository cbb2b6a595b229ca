package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
)

// TestTabLogins: two tabs of one browser (same cookies) log in as two users
// (issue 15). The second login leaves the first alone: its tokens are not
// revoked, its session still answers; logging out one tab ends only its own
// login; a cookie login in the same browser is a third, separate login.
func TestTabLogins(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ctx := context.Background()
	ada := e.client()
	ada.loginTab("Ada")
	_, adaTok := ada.token()

	r := (&client{env: e, browser: ada.browser, tab: tabNew}).do("POST", "/api/login", loginRequest{Name: "Bob", Avatar: "cat", Bubble: bubbles[0]})
	if r.status != 200 {
		t.Fatalf("second tab login: %d %s", r.status, r.body)
	}
	ck := (&http.Response{Header: r.header}).Cookies()
	if len(ck) != 1 || ck[0].Name != browserCookie || ck[0].Value != ada.browser || !ck[0].HttpOnly ||
		ck[0].SameSite != http.SameSiteLaxMode || ck[0].Path != "/" || ck[0].MaxAge <= 0 {
		t.Fatalf("tab login cookies %+v: want only the same browser key, HttpOnly, SameSite=Lax, Path=/ (no login cookie)", ck)
	}
	bob := &client{env: e, browser: ada.browser}
	var tr tabLoginResponse
	r.decode(t, &tr)
	bob.me, bob.csrf, bob.tab = tr.loginResponse, tr.CSRFToken, tr.SessionID
	if bob.tab == ada.tab || bob.me.Uid == ada.me.Uid {
		t.Fatalf("second tab got the first tab's session or uid: %q %q", bob.tab, bob.me.Uid)
	}
	if revoked, err := e.chat.TokenRevoked(ctx, adaTok.ID); revoked || err != nil {
		t.Fatalf("the second tab's login revoked the first tab's token (%v)", err)
	}

	// A cookie login in the same browser is a login of its own.
	cy := &client{env: e, browser: ada.browser}
	cy.login("Cy")
	for _, c := range []*client{ada, bob, cy} {
		c.cookie = cy.cookie // one browser: every tab sends the login cookie
		var me meResponse
		if r := c.do("GET", "/api/me", nil); r.status != 200 {
			t.Fatalf("%s: me: %d %s", c.me.Name, r.status, r.body)
		} else if r.decode(t, &me); me.Uid != c.me.Uid {
			t.Fatalf("%s's tab is %s (%s)", c.me.Name, me.Name, me.Uid)
		}
	}
	// CSRF still applies to a tab.
	if r := ada.do("POST", "/api/flush", nil, "X-CSRF-Token", ""); r.status != 403 {
		t.Fatalf("tab POST without CSRF token: %d %s", r.status, r.body)
	}

	if r := bob.do("POST", "/api/logout", nil); r.status != 204 {
		t.Fatalf("bob logout: %d %s", r.status, r.body)
	}
	if r := bob.do("GET", "/api/me", nil); r.status != 401 {
		t.Fatalf("bob's tab after logout: %d %s", r.status, r.body)
	}
	for _, c := range []*client{ada, cy} {
		if r := c.do("GET", "/api/me", nil); r.status != 200 {
			t.Fatalf("%s after another tab logged out: %d %s", c.me.Name, r.status, r.body)
		}
	}
	if revoked, _ := e.chat.TokenRevoked(ctx, adaTok.ID); revoked {
		t.Fatal("another tab's logout revoked ada's token")
	}
}

// TestTabLoginBoundToBrowser: a tab's session id alone is no login. It needs
// the HttpOnly browser key it was bound to, and only the header names it.
func TestTabLoginBoundToBrowser(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{LoginPerMinute: -1})
	vic := e.client()
	vic.loginTab("Vic")
	_, vicTok := vic.token()
	eve := e.client() // another browser
	eve.loginTab("Eve")
	cat := e.client()
	cat.login("Cat") // a cookie login
	catSID := strings.TrimPrefix(cat.cookie, sessionCookie+"=")

	tests := []struct {
		name string
		c    *client
	}{
		{"id without a browser key", &client{tab: vic.tab}},
		{"id with another browser's key", &client{tab: vic.tab, browser: eve.browser}},
		{"id as the login cookie", &client{cookie: sessionCookie + "=" + vic.tab}},
		{"id as the login cookie with another browser's key", &client{cookie: sessionCookie + "=" + vic.tab, browser: eve.browser}},
		{"cookie login's id in the header", &client{tab: catSID, browser: vic.browser}},
		{"id in a cookie named like the header", &client{cookie: tabHeader + "=" + vic.tab, tab: "x" + eve.tab, browser: vic.browser}},
	}
	for _, tc := range tests {
		tc.c.env, tc.c.csrf = e, vic.csrf
		if r := tc.c.do("GET", "/api/me", nil); r.status != 401 {
			t.Errorf("%s: me %d %s, want 401", tc.name, r.status, r.body)
		}
		if r := tc.c.do("POST", "/api/logout", nil); r.status != 401 {
			t.Errorf("%s: logout %d %s, want 401", tc.name, r.status, r.body)
		}
	}
	// Logging in while naming the victim's id from another browser starts a
	// new login and leaves the victim's alone.
	thief := &client{env: e, tab: vic.tab, browser: eve.browser}
	if r := thief.do("POST", "/api/login", loginRequest{Name: "Thief", Avatar: "cat", Bubble: bubbles[0]}); r.status != 200 {
		t.Fatalf("login naming another browser's tab: %d %s", r.status, r.body)
	}
	if r := vic.do("GET", "/api/me", nil); r.status != 200 {
		t.Fatalf("victim after the attempts: %d %s", r.status, r.body)
	}
	if revoked, _ := e.chat.TokenRevoked(context.Background(), vicTok.ID); revoked {
		t.Fatal("the victim's token was revoked")
	}
}
