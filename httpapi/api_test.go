package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/redis/go-redis/v9"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/chatgate/chatgate/session"
)

func TestConfigAndHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts Options
		host string
		want string
	}{
		{"derived from host", Options{}, "chat.example.com:8080", "ws://chat.example.com:7272/"},
		{"derived, other port", Options{GatewayPort: 9000}, "10.0.0.1", "ws://10.0.0.1:9000/"},
		{"derived, ipv6", Options{}, "[::1]:8080", "ws://[::1]:7272/"},
		{"configured", Options{GatewayURL: "wss://ws.example.com/chat"}, "x", "wss://ws.example.com/chat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, &tc.opts)
			r := e.client().do("GET", "/api/config", nil, "Host", tc.host)
			if r.status != 200 {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			var cfg configResponse
			r.decode(t, &cfg)
			if cfg.GatewayURL != tc.want || len(cfg.Avatars) != 6 || len(cfg.Bubbles) == 0 {
				t.Fatalf("config %+v, want gateway_url %q", cfg, tc.want)
			}
			csp := r.header.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
				r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Referrer-Policy") == "" {
				t.Fatalf("security headers missing: %v", r.header)
			}
		})
	}
}

func TestLoginValidation(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{MaxBodyBytes: 4096})
	ok := loginRequest{Name: "Ada", Avatar: "fox", Bubble: bubbles[1]}
	with := func(f func(*loginRequest)) loginRequest { r := ok; f(&r); return r }
	tests := []struct {
		name   string
		body   any
		hdr    []string
		status int
		code   string
	}{
		{"ok", ok, nil, 200, ""},
		{"32 runes", with(func(r *loginRequest) { r.Name = strings.Repeat("é", 32) }), nil, 200, ""},
		{"33 runes", with(func(r *loginRequest) { r.Name = strings.Repeat("é", 33) }), nil, 400, "bad_name"},
		{"empty name", with(func(r *loginRequest) { r.Name = "" }), nil, 400, "bad_name"},
		{"spaces only", with(func(r *loginRequest) { r.Name = "   \u200b " }), nil, 400, "bad_name"},
		{"control char", with(func(r *loginRequest) { r.Name = "a\x00b" }), nil, 400, "bad_name"},
		{"unknown avatar", with(func(r *loginRequest) { r.Avatar = "../../etc/passwd" }), nil, 400, "bad_avatar"},
		{"unknown bubble", with(func(r *loginRequest) { r.Bubble = "red;background:url(x)" }), nil, 400, "bad_bubble"},
		{"not json", `{"name":`, nil, 400, "bad_json"},
		{"form post", "name=Ada", []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.client().do("POST", "/api/login", tc.body, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.code != "" {
				if got := r.errorCode(t); got != tc.code {
					t.Fatalf("code %q, want %q", got, tc.code)
				}
				return
			}
			var lr loginResponse
			r.decode(t, &lr)
			if lr.Uid == "" || lr.CSRFToken == "" || lr.Avatar != "fox" {
				t.Fatalf("login response %+v", lr)
			}
		})
	}
}

func TestLoginSessionAndToken(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	c := e.client()
	if r := c.do("GET", "/api/me", nil); r.status != 401 || r.errorCode(t) != "not_logged_in" {
		t.Fatalf("me before login: %d %s", r.status, r.body)
	}
	r := c.do("POST", "/api/login", loginRequest{Name: "  Ada  ", Avatar: "owl", Bubble: bubbles[0]})
	if r.status != 200 {
		t.Fatalf("login: %d %s", r.status, r.body)
	}
	setCookie := r.header.Get("Set-Cookie")
	if !strings.Contains(setCookie, "HttpOnly") || !strings.Contains(strings.ToLower(setCookie), "samesite=lax") {
		t.Fatalf("session cookie %q must be HttpOnly and SameSite=Lax", setCookie)
	}
	var lr loginResponse
	r.decode(t, &lr)
	if lr.Name != "Ada" {
		t.Fatalf("name not trimmed: %q", lr.Name)
	}
	c.me, c.csrf = lr, lr.CSRFToken
	c.token()
	var me meResponse
	r = c.do("GET", "/api/me", nil)
	r.decode(t, &me)
	if r.status != 200 || me.Uid != lr.Uid || me.CSRFToken != lr.CSRFToken || me.RoomID != nil {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	if !strings.Contains(string(r.body), `"room_id":null`) {
		t.Fatalf("room_id must be null before entering a room: %s", r.body)
	}
	// Session data lives in Redis: a second server on the same Redis (another
	// replica) knows the user.
	other, err := New(e.store, &Options{Tokens: e.signer})
	if err != nil {
		t.Fatal(err)
	}
	saved := e.srv
	e.srv = other
	if r := c.do("GET", "/api/me", nil); r.status != 200 {
		t.Fatalf("me on another replica: %d %s", r.status, r.body)
	}
	e.srv = saved
}

// TestLoginAgain: a second login in the same browser ends the first one.
func TestLoginAgain(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	c := e.client()
	first := c.login("Ada")
	c.enter(e.room("r1"))
	_, claims := c.token()
	oldCookie := c.cookie
	second := c.login("Ada2")
	if second.Uid == first.Uid || c.cookie == oldCookie {
		t.Fatalf("second login kept uid or session id: %+v %q", second, c.cookie)
	}
	if revoked, _ := e.store.TokenRevoked(context.Background(), claims.ID); !revoked {
		t.Fatal("first login's tokens not revoked")
	}
	var me meResponse
	c.do("GET", "/api/me", nil).decode(t, &me)
	if me.Uid != second.Uid || me.RoomID != nil {
		t.Fatalf("me after second login: %+v", me)
	}
	c.cookie = oldCookie
	if r := c.do("GET", "/api/me", nil); r.status != 401 {
		t.Fatalf("first session still valid: %d", r.status)
	}
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	c := e.client()
	c.login("Ada")
	tests := []struct {
		name   string
		hdr    []string
		status int
	}{
		{"missing", []string{"X-CSRF-Token", ""}, 403},
		{"wrong", []string{"X-CSRF-Token", otherFirstByte(c.csrf)}, 403},
		{"right", nil, 201},
	}
	for _, tc := range tests {
		for _, path := range []string{"/api/rooms", "/api/say", "/api/bind", "/api/flush", "/api/logout", "/api/rooms/lobby/enter"} {
			if tc.status == 201 && path != "/api/rooms" {
				continue
			}
			r := c.do("POST", path, roomRequest{Name: "Room"}, tc.hdr...)
			if r.status != tc.status {
				t.Fatalf("%s %s: %d, want %d: %s", tc.name, path, r.status, tc.status, r.body)
			}
			if tc.status == 403 && r.errorCode(t) != "csrf" {
				t.Fatalf("%s %s: %s", tc.name, path, r.body)
			}
		}
	}
	anon := e.client()
	if r := anon.do("POST", "/api/rooms", roomRequest{Name: "x"}); r.status != 401 {
		t.Fatalf("anonymous post: %d", r.status)
	}
}

func TestRooms(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{MaxRooms: 2})
	c := e.client()
	c.login("Ada")
	var rooms []roomListItem
	c.do("GET", "/api/rooms", nil).decode(t, &rooms)
	if len(rooms) != 0 {
		t.Fatalf("rooms before: %+v", rooms)
	}
	r := c.do("POST", "/api/rooms", roomRequest{Name: " Tea <time> "})
	var room roomResponse
	r.decode(t, &room)
	if r.status != 201 || room.ID == "" || room.Name != "Tea <time>" {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	tests := []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"bad name", "POST", "/api/rooms", roomRequest{Name: strings.Repeat("x", 65)}, 400, "bad_name"},
		{"enter unknown", "POST", "/api/rooms/nope/enter", nil, 404, "room_not_found"},
		{"enter invalid id", "POST", "/api/rooms/%7Bx%7D/enter", nil, 404, "room_not_found"},
		{"history unknown", "GET", "/api/rooms/nope/history", nil, 404, "room_not_found"},
		{"history bad limit", "GET", "/api/rooms/" + room.ID + "/history?limit=-1", nil, 400, "bad_limit"},
		{"history not a number", "GET", "/api/rooms/" + room.ID + "/history?limit=x", nil, 400, "bad_limit"},
		{"enter", "POST", "/api/rooms/" + room.ID + "/enter", nil, 200, ""},
		{"history empty", "GET", "/api/rooms/" + room.ID + "/history?limit=500", nil, 200, ""},
		{"second room", "POST", "/api/rooms", roomRequest{Name: "B"}, 201, ""},
		{"room limit", "POST", "/api/rooms", roomRequest{Name: "C"}, 409, "too_many_rooms"},
		{"unknown api path", "GET", "/api/nope", nil, 404, "not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(tc.method, tc.path, tc.body)
			if r.status != tc.status || (tc.code != "" && r.errorCode(t) != tc.code) {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	c.do("GET", "/api/rooms", nil).decode(t, &rooms)
	if len(rooms) != 2 || rooms[0].ID != room.ID && rooms[1].ID != room.ID || rooms[0].Online != 0 {
		t.Fatalf("rooms: %+v", rooms)
	}
	var me meResponse
	c.do("GET", "/api/me", nil).decode(t, &me)
	if me.RoomID == nil || *me.RoomID != room.ID {
		t.Fatalf("me after enter: %+v", me)
	}
}

// chatRoom logs two users in, puts them in one room and binds one fake
// connection each (both on gateway "gwa", whose inbox is recorded).
func chatRoom(t *testing.T, e *testEnv) (ada, bob *client, adaCid, bobCid, room string, in *inbox) {
	t.Helper()
	in = e.listen("gwa")
	ada, bob = e.client(), e.client()
	ada.login("Ada")
	bob.login("Bob")
	var rr roomResponse
	ada.do("POST", "/api/rooms", roomRequest{Name: "Tea"}).decode(t, &rr)
	ada.enter(rr.ID)
	bob.enter(rr.ID)
	adaCid, bobCid = e.connect("gwa", ""), e.connect("gwa", bob.me.Uid) // Bob's was bound from a token
	for _, b := range []struct {
		c   *client
		cid string
	}{{ada, adaCid}, {bob, bobCid}} {
		if r := b.c.do("POST", "/api/bind", bindRequest{ClientID: b.cid}); r.status != 200 {
			t.Fatalf("bind %s: %d %s", b.c.me.Name, r.status, r.body)
		}
	}
	return ada, bob, adaCid, bobCid, rr.ID, in
}

func TestBind(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ada, bob, adaCid, bobCid, room, in := chatRoom(t, e)
	ctx := context.Background()
	sess, err := e.store.Session(ctx, adaCid)
	if err != nil || sess["uid"] != ada.me.Uid || sess["uname"] != "Ada" || sess["room_id"] != room || sess["avatar"] != "cat" || sess["bubble"] == "" {
		t.Fatalf("client session %v %v", sess, err)
	}
	if uid, _ := e.store.UidByClient(ctx, adaCid); uid != ada.me.Uid {
		t.Fatalf("ada's client bound to %q", uid)
	}
	in.waitPayload(t, "join of Bob", func(env *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "join" && m["uname"] == "Bob" && env.Groups[0] == room
	})
	in.waitPayload(t, "flush with both", func(_ *session.Envelope, m map[string]any) bool {
		ul, _ := m["users_list"].(map[string]any)
		return m != nil && m["type"] == "flush" && ul[ada.me.Uid] == "Ada" && ul[bob.me.Uid] == "Bob"
	})
	var rooms []roomListItem
	ada.do("GET", "/api/rooms", nil).decode(t, &rooms)
	if rooms[0].Online != 2 {
		t.Fatalf("online %d, want 2", rooms[0].Online)
	}

	carol := e.client()
	carol.login("Carol")
	tests := []struct {
		name   string
		c      *client
		body   any
		status int
		code   string
	}{
		{"not in a room", carol, bindRequest{ClientID: e.connect("gwa", "")}, 409, "not_in_room"},
		{"again, same uid", bob, bindRequest{ClientID: bobCid}, 200, ""},
		{"other user's connection", ada, bindRequest{ClientID: bobCid}, 403, "forbidden"},
		{"unknown connection", ada, bindRequest{ClientID: "gwa.AAAAAAAAAAAAAAAAAAAAAA"}, 404, "client_not_found"},
		{"malformed id", ada, bindRequest{ClientID: "nope"}, 400, "bad_client_id"},
		{"no body", ada, "", 400, "bad_json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.do("POST", "/api/bind", tc.body)
			if r.status != tc.status || (tc.code != "" && r.errorCode(t) != tc.code) {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
}

func TestSay(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ada, bob, _, _, room, in := chatRoom(t, e)
	r := ada.do("POST", "/api/say", sayRequest{Type: "all", Content: `<script>alert("x")</script> & hi`})
	if r.status != 202 {
		t.Fatalf("say all: %d %s", r.status, r.body)
	}
	const escaped = `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; hi`
	m := in.waitPayload(t, "public message", func(env *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "all" && len(env.Groups) == 1 && env.Groups[0] == room
	})
	if m["content"] != escaped || m["uid"] != ada.me.Uid || m["uname"] != "Ada" || m["avatar"] != "cat" || m["bubble"] != bubbles[0] || m["ts"].(float64) < 1e12 {
		t.Fatalf("public message %v", m)
	}
	// Rooms are recoverable groups: the frame carries the room's seq and epoch.
	if m["group"] != room || m["seq"] == nil || m["seq"].(float64) < 1 || m["epoch"] == nil || m["epoch"] == "" {
		t.Fatalf("public message without the room's seq and epoch: %v", m)
	}
	r = bob.do("POST", "/api/say", sayRequest{Type: "to", ToUid: ada.me.Uid, Content: "psst"})
	if r.status != 202 {
		t.Fatalf("say to: %d %s", r.status, r.body)
	}
	in.waitPayload(t, "private message to both uids", func(env *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "to" && m["to_uid"] == ada.me.Uid && m["to_uname"] == "Ada" && m["uname"] == "Bob" &&
			len(env.Uids) == 2 && env.Uids[0] == ada.me.Uid && env.Uids[1] == bob.me.Uid
	})
	var hist []chatMessage
	ada.do("GET", "/api/rooms/"+room+"/history", nil).decode(t, &hist)
	if len(hist) != 1 || hist[0].Content != escaped || hist[0].Type != "all" {
		t.Fatalf("history (private messages are not kept): %+v", hist)
	}

	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"2000 runes", sayRequest{Type: "all", Content: strings.Repeat("é", 2000)}, 202, ""},
		{"2001 runes", sayRequest{Type: "all", Content: strings.Repeat("é", 2001)}, 400, "bad_content"},
		{"empty", sayRequest{Type: "all", Content: ""}, 400, "bad_content"},
		{"blank", sayRequest{Type: "all", Content: " \n\t"}, 400, "bad_content"},
		{"bad utf-8", `{"type":"all","content":"\xff"}`, 400, ""},
		{"bad type", sayRequest{Type: "shout", Content: "x"}, 400, "bad_type"},
		{"to without uid", sayRequest{Type: "to", Content: "x"}, 400, "bad_to_uid"},
		{"to unknown user", sayRequest{Type: "to", ToUid: "nobody", Content: "x"}, 404, "user_not_found"},
		{"to invalid uid", sayRequest{Type: "to", ToUid: "{x}", Content: "x"}, 404, "user_not_found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := ada.do("POST", "/api/say", tc.body)
			if r.status != tc.status || (tc.code != "" && r.errorCode(t) != tc.code) {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tc.status, tc.code)
			}
		})
	}
	loner := e.client()
	loner.login("Loner")
	if r := loner.do("POST", "/api/say", sayRequest{Type: "all", Content: "x"}); r.status != 409 {
		t.Fatalf("say outside a room: %d %s", r.status, r.body)
	}
	if r := loner.do("POST", "/api/flush", nil); r.status != 409 {
		t.Fatalf("flush outside a room: %d %s", r.status, r.body)
	}
	if r := ada.do("POST", "/api/flush", nil); r.status != 202 {
		t.Fatalf("flush: %d %s", r.status, r.body)
	}
}

func TestHistoryLimit(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{HistoryLen: 5, SayPerMinute: -1})
	c := e.client()
	c.login("Ada")
	c.enter(e.room("r1"))
	for i := range 7 {
		if r := c.do("POST", "/api/say", sayRequest{Type: "all", Content: strconv.Itoa(i)}); r.status != 202 {
			t.Fatalf("say: %d %s", r.status, r.body)
		}
	}
	tests := []struct {
		query string
		want  string
	}{
		{"", "23456"}, {"?limit=2", "56"}, {"?limit=1000", "23456"},
	}
	for _, tc := range tests {
		var hist []chatMessage
		c.do("GET", "/api/rooms/r1/history"+tc.query, nil).decode(t, &hist)
		got := ""
		for _, m := range hist {
			got += m.Content
		}
		if got != tc.want {
			t.Errorf("history%s = %q, want %q (capped at HistoryLen, oldest first)", tc.query, got, tc.want)
		}
	}
}

func TestEnterMovesConnections(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ada, bob, adaCid, _, room, in := chatRoom(t, e)
	var other roomResponse
	ada.do("POST", "/api/rooms", roomRequest{Name: "Other"}).decode(t, &other)
	ada.enter(other.ID)
	in.waitPayload(t, "close notice for Ada in the old room", func(env *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "close" && m["uid"] == ada.me.Uid && env.Groups[0] == room
	})
	ids, _ := e.store.ClientIDsByGroup(context.Background(), room)
	if len(ids) != 1 {
		t.Fatalf("old room members %v, want only Bob's", ids)
	}
	if sess, _ := e.store.Session(context.Background(), adaCid); sess["room_id"] != "" {
		t.Fatalf("moved connection still names the old room: %v", sess)
	}
	_ = bob
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{LoginPerMinute: 2, SayPerMinute: 3})
	for i := range 3 {
		r := e.client().do("POST", "/api/login", loginRequest{Name: "A", Avatar: "cat", Bubble: bubbles[0]})
		if want := map[bool]int{true: 200, false: 429}[i < 2]; r.status != want {
			t.Fatalf("login %d: %d, want %d", i, r.status, want)
		}
		if i == 2 {
			if r.header.Get("Retry-After") == "" || r.errorCode(t) != "rate_limited" {
				t.Fatalf("429 without Retry-After or code: %v %s", r.header, r.body)
			}
		}
	}
	e.mr.FastForward(time.Minute + time.Second)
	c := e.client()
	c.login("B")
	c.enter(e.room("lobby"))
	var statuses []int
	for range 4 {
		statuses = append(statuses, c.do("POST", "/api/say", sayRequest{Type: "all", Content: "x"}).status)
	}
	if fmt.Sprint(statuses) != "[202 202 202 429]" {
		t.Fatalf("say statuses %v, want 3 accepted then 429", statuses)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ada, bob, adaCid, _, _, in := chatRoom(t, e)
	_, claims := ada.token()
	if r := ada.do("POST", "/api/logout", nil); r.status != 204 {
		t.Fatalf("logout: %d %s", r.status, r.body)
	}
	in.waitPayload(t, "close of Ada's connection", func(env *session.Envelope, _ map[string]any) bool {
		return env.Op == session.OpClose && len(env.Clients) == 1 && env.Clients[0] == adaCid
	})
	if revoked, err := e.store.TokenRevoked(context.Background(), claims.ID); !revoked || err != nil {
		t.Fatalf("token not revoked: %v %v", revoked, err)
	}
	if r := ada.do("GET", "/api/me", nil); r.status != 401 {
		t.Fatalf("me after logout: %d %s", r.status, r.body)
	}
	if r := bob.do("POST", "/api/say", sayRequest{Type: "to", ToUid: ada.me.Uid, Content: "x"}); r.status != 404 {
		t.Fatalf("whisper to a logged-out user: %d %s", r.status, r.body)
	}
}

// TestRedisDown: every endpoint that needs Redis answers 503 at once, never
// 500 and never a hang.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{RequestTimeout: time.Second})
	c := e.client()
	c.login("Ada")
	e.mr.Close()
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/me"}, {"GET", "/api/rooms"}, {"POST", "/api/say"},
	} {
		start := time.Now()
		r := c.do(req.method, req.path, sayRequest{Type: "all", Content: "x"})
		if r.status != 503 || r.errorCode(t) != "unavailable" {
			t.Fatalf("%s %s with Redis down: %d %s", req.method, req.path, r.status, r.body)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%s took %v", req.path, d)
		}
	}
	r := e.client().do("POST", "/api/login", loginRequest{Name: "B", Avatar: "cat", Bubble: bubbles[0]})
	if r.status != 503 {
		t.Fatalf("login with Redis down: %d %s", r.status, r.body)
	}
	if r := c.do("GET", "/healthz", nil); r.status != 200 {
		t.Fatalf("healthz must not need Redis: %d", r.status)
	}
}

func TestFrontend(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{Frontend: fstest.MapFS{
		"index.html": {Data: []byte("<!doctype html><title>chat</title>")},
		"app.js":     {Data: []byte("'use strict';")},
	}})
	c := e.client()
	r := c.do("GET", "/", nil)
	if r.status != 200 || !strings.Contains(string(r.body), "<title>chat</title>") || r.header.Get("Content-Security-Policy") == "" {
		t.Fatalf("index: %d %v %s", r.status, r.header, r.body)
	}
	if r := c.do("GET", "/app.js", nil); r.status != 200 || r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("app.js: %d", r.status)
	}
	if r := c.do("GET", "/api/nope", nil); r.status != 404 || r.errorCode(t) != "not_found" {
		t.Fatalf("api 404: %d %s", r.status, r.body)
	}
}

// TestBodyLimitOverHTTP: a body over MaxBodyBytes gets a JSON 413 from a
// real listener (Fiber's app.Test cannot show it: the server refuses the
// request before any handler).
func TestBodyLimitOverHTTP(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{MaxBodyBytes: 1024})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.App().Listener(ln) }()
	t.Cleanup(func() { _ = e.srv.App().Shutdown(); <-done })
	body := `{"name":"` + strings.Repeat("a", 4096) + `"}`
	res, err := http.Post("http://"+ln.Addr().String()+"/api/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var er errorResponse
	if res.StatusCode != 413 || json.Unmarshal(b, &er) != nil || er.Error != "body_too_large" {
		t.Fatalf("oversized body: %d %s", res.StatusCode, b)
	}
}

// TestRedisHangs: Redis accepts connections but never answers (stopped,
// overloaded). Requests answer 503 within RequestTimeout, never hang.
func TestRedisHangs(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	srv, err := New(session.New(rdb, nil), &Options{RequestTimeout: 500 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, srv: srv}
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/me"}, {"POST", "/api/login"},
	} {
		start := time.Now()
		c := e.client()
		c.cookie = sessionCookie + "=8a1c1f5e-1d5a-4c43-a1b7-6f3e0a9e2b11" // a session the store must look up
		r := c.do(req.method, req.path, loginRequest{Name: "A", Avatar: "cat", Bubble: bubbles[0]})
		d := time.Since(start)
		if r.status != 503 {
			t.Fatalf("%s %s: %d %s", req.method, req.path, r.status, r.body)
		}
		if d > 3*time.Second {
			t.Fatalf("%s %s took %v with RequestTimeout 500ms", req.method, req.path, d)
		}
		t.Logf("%s %s → 503 in %v", req.method, req.path, d.Round(time.Millisecond))
	}
}

// TestTrustedProxies: behind a trusted proxy the per-IP limits count the
// client of X-Forwarded-For; otherwise the header is ignored (spoofable).
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		trusted []netip.Prefix
		want    []int
	}{
		{"trusted", []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}, []int{200, 200, 429}}, // App.Test's peer
		{"not trusted", nil, []int{200, 429, 429}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, &Options{LoginPerMinute: 1, TrustedProxies: tc.trusted})
			var got []int
			for _, xff := range []string{"203.0.113.1", "203.0.113.2", "203.0.113.1"} {
				r := e.client().do("POST", "/api/login", loginRequest{Name: "A", Avatar: "cat", Bubble: bubbles[0]}, "X-Forwarded-For", xff)
				got = append(got, r.status)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("statuses %v, want %v", got, tc.want)
			}
		})
	}
}

// otherFirstByte returns tok with its first byte changed, so it differs from
// tok whatever tok starts with.
func otherFirstByte(tok string) string {
	b := []byte(tok)
	if b[0] == 'x' {
		b[0] = 'y'
	} else {
		b[0] = 'x'
	}
	return string(b)
}
