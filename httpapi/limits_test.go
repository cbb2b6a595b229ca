package httpapi

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/session"
)

// TestRoomPushRateLimits: every route that pushes to a whole room (flush,
// bind, enter) and room creation is limited per user and, separately, per
// client IP, answering 429 rate_limited with Retry-After (issue 10 item 4).
func TestRoomPushRateLimits(t *testing.T) {
	t.Parallel()
	const perMinute = 2
	off := -1
	tests := []struct {
		name string
		opts func(o *Options, n int)
		// do sends one request of the route as c (set up by prepare).
		prepare func(e *testEnv, c *client) func() response
		ok      int
	}{
		{"flush", func(o *Options, n int) { o.FlushPerMinute = n }, func(e *testEnv, c *client) func() response {
			c.enter(e.room("r1"))
			return func() response { return c.do("POST", "/api/flush", nil) }
		}, 202},
		{"bind", func(o *Options, n int) { o.BindPerMinute = n }, func(e *testEnv, c *client) func() response {
			c.enter(e.room("r1"))
			cid := e.connect("gwa", "")
			return func() response { return c.do("POST", "/api/bind", bindRequest{ClientID: cid}) }
		}, 200},
		{"enter", func(o *Options, n int) { o.EnterPerMinute = n }, func(e *testEnv, c *client) func() response {
			e.room("r1")
			return func() response { return c.do("POST", "/api/rooms/r1/enter", nil) }
		}, 200},
		{"create room", func(o *Options, n int) { o.CreateRoomPerMinute = n }, func(e *testEnv, c *client) func() response {
			return func() response { return c.do("POST", "/api/rooms", roomRequest{Name: "Room"}) }
		}, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := &Options{LoginPerMinute: off, SayPerMinute: off, CreateRoomPerMinute: off, FlushPerMinute: off,
				BindPerMinute: off, EnterPerMinute: off, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/32")}}
			tc.opts(o, perMinute)
			e := newTestEnv(t, o)
			ada, bob, carol := e.client(), e.client(), e.client()
			ada.login("Ada")
			bob.login("Bob")
			carol.login("Carol")
			adaDo, bobDo, carolDo := tc.prepare(e, ada), tc.prepare(e, bob), tc.prepare(e, carol)
			steps := []struct {
				what string
				c    *client
				do   func() response
				ip   string
				want int
			}{
				{"Ada 1", ada, adaDo, "203.0.113.1", tc.ok},
				{"Ada 2", ada, adaDo, "203.0.113.1", tc.ok},
				{"Ada 3: over her budget", ada, adaDo, "203.0.113.1", 429},
				{"Bob from Ada's IP: over the IP's budget", bob, bobDo, "203.0.113.1", 429},
				{"Ada from another IP: still over her own budget", ada, adaDo, "203.0.113.2", 429},
				{"Carol from a third IP: her own budgets", carol, carolDo, "203.0.113.3", tc.ok},
			}
			for _, st := range steps {
				st.c.xff = st.ip
				r := st.do()
				st.c.xff = ""
				if r.status != st.want {
					t.Fatalf("%s: %d %s, want %d", st.what, r.status, r.body, st.want)
				}
				if st.want == 429 && (r.header.Get("Retry-After") == "" || r.errorCode(t) != "rate_limited") {
					t.Fatalf("%s: 429 without Retry-After or code: %v %s", st.what, r.header, r.body)
				}
			}
		})
	}
}

// TestRoomsListMostActiveFirst: GET /api/rooms lists MaxListedRooms rooms,
// the most recently active first, so a new or busy room is never hidden
// behind old ones.
func TestRoomsListMostActiveFirst(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, &Options{MaxListedRooms: 2, SayPerMinute: -1})
	for i, id := range []string{"old", "mid", "new"} {
		e.room(id)
		// Created long ago, in this order (no sleeping for distinct milliseconds).
		if _, err := e.mr.ZAdd("t:rooms", float64(1000*(i+1)), id); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client()
	c.login("Ada")
	list := func() string {
		var rooms []roomListItem
		c.do("GET", "/api/rooms", nil).decode(t, &rooms)
		ids := []string{}
		for _, r := range rooms {
			ids = append(ids, r.ID)
		}
		return strings.Join(ids, ",")
	}
	if got := list(); got != "new,mid" {
		t.Fatalf("rooms %q, want the 2 newest: new,mid", got)
	}
	c.enter("old")
	if r := c.do("POST", "/api/say", sayRequest{Type: "all", Content: "hi"}); r.status != 202 {
		t.Fatalf("say: %d %s", r.status, r.body)
	}
	if got := list(); got != "old,new" {
		t.Fatalf("rooms %q after a message in old, want old,new", got)
	}
}

// TestCompactMessages: content is HTML-escaped once and nothing more; the
// JSON of the pushed frame, the stored history entry and the history
// response are not HTML-escaped again (issue 10 item 7: 2,000 '"' took
// 20,120 bytes, now 10,1xx).
func TestCompactMessages(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ada, _, _, _, room, in := chatRoom(t, e)
	content := strings.Repeat(`"`, 2000)
	if r := ada.do("POST", "/api/say", sayRequest{Type: "all", Content: content}); r.status != 202 {
		t.Fatalf("say: %d %s", r.status, r.body)
	}
	escaped := strings.Repeat("&#34;", 2000) // html.EscapeString, once
	var pushed string
	in.waitPayload(t, "the message", func(env *session.Envelope, m map[string]any) bool {
		if m != nil && m["type"] == "all" {
			pushed = env.Payload
			return true
		}
		return false
	})
	stored, err := e.chat.History(context.Background(), room, 1)
	if err != nil || len(stored) != 1 {
		t.Fatalf("history: %v %v", stored, err)
	}
	hist := ada.do("GET", "/api/rooms/"+room+"/history", nil)
	for what, raw := range map[string]string{"pushed frame": pushed, "stored entry": stored[0], "history response": string(hist.body)} {
		t.Logf("%s: %d bytes for 2,000 '\"'", what, len(raw))
		if !strings.Contains(raw, `"content":"`+escaped+`"`) {
			t.Errorf("%s: content is not the once-escaped text verbatim: %.80s…", what, raw)
		}
		if len(raw) > 10_200 {
			t.Errorf("%s: %d bytes, want at most 10,200", what, len(raw))
		}
	}
	var back []chatMessage
	if err := json.Unmarshal(hist.body, &back); err != nil || len(back) != 1 || back[0].Content != escaped {
		t.Fatalf("history does not decode to the escaped content: %v", err)
	}
}

// TestAdminDeleteRoom: an operator deletes a room with an API key; its
// members get room_deleted (before the group is dissolved), and its
// history, members and list entry are gone for good.
func TestAdminDeleteRoom(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	e.srv.RegisterAdmin(e.srv.App().Group("/admin"), []string{"op-key"})
	ada, bob, adaCid, bobCid, room, in := chatRoom(t, e)
	if r := ada.do("POST", "/api/say", sayRequest{Type: "all", Content: "hello"}); r.status != 202 {
		t.Fatalf("say: %d %s", r.status, r.body)
	}
	op := e.client()
	tests := []struct {
		name, path, key string
		status          int
		code            string
	}{
		{"no key", "/admin/rooms/" + room, "", 401, "unauthorized"},
		{"wrong key", "/admin/rooms/" + room, "Bearer nope", 401, "unauthorized"},
		{"session cookie is no key", "/admin/rooms/" + room, "", 401, "unauthorized"},
		{"unknown room", "/admin/rooms/nope", "Bearer op-key", 404, "room_not_found"},
		{"invalid id", "/admin/rooms/%7Bx%7D", "Bearer op-key", 404, "room_not_found"},
	}
	for _, tc := range tests {
		c := op
		if tc.name == "session cookie is no key" {
			c = ada
		}
		r := c.do("DELETE", tc.path, nil, "Authorization", tc.key)
		if r.status != tc.status || r.errorCode(t) != tc.code {
			t.Fatalf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	r := op.do("DELETE", "/admin/rooms/"+room, nil, "Authorization", "Bearer op-key")
	var got roomDeletedResponse
	r.decode(t, &got)
	if r.status != 200 || got != (roomDeletedResponse{ID: room, Name: "Tea", Connections: 2}) {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	in.waitPayload(t, "room_deleted frame to the room", func(env *session.Envelope, m map[string]any) bool {
		return m != nil && m["type"] == "room_deleted" && m["room_id"] == room && m["name"] == "Tea" && env.Groups[0] == room
	})
	// Then the group is dissolved, in that order on the gateway's inbox.
	in.waitPayload(t, "ungroup", func(env *session.Envelope, _ map[string]any) bool {
		return env.Op == session.OpUngroup && env.Groups[0] == room
	})
	in.mu.Lock()
	frameAt, ungroupAt := -1, -1
	for i, env := range in.envs {
		if env.Op == session.OpSend && strings.Contains(env.Payload, `"room_deleted"`) {
			frameAt = i
		}
		if env.Op == session.OpUngroup && env.Groups[0] == room {
			ungroupAt = i
		}
	}
	in.mu.Unlock()
	if frameAt < 0 || ungroupAt < frameAt {
		t.Fatalf("room_deleted at %d, ungroup at %d: the frame must come first", frameAt, ungroupAt)
	}
	ctx := context.Background()
	for _, cid := range []string{adaCid, bobCid} {
		if sess, _ := e.store.Session(ctx, cid); sess["room_id"] != "" {
			t.Fatalf("connection %s still names the deleted room: %v", cid, sess)
		}
	}
	if ids, _ := e.store.ClientIDsByGroup(ctx, room); len(ids) != 0 {
		t.Fatalf("group still has %v", ids)
	}
	var rooms []roomListItem
	bob.do("GET", "/api/rooms", nil).decode(t, &rooms)
	for _, rr := range rooms {
		if rr.ID == room {
			t.Fatalf("deleted room still listed: %+v", rooms)
		}
	}
	for _, req := range []struct{ method, path string }{{"GET", "/api/rooms/" + room + "/history"}, {"POST", "/api/rooms/" + room + "/enter"}} {
		if r := bob.do(req.method, req.path, nil); r.status != 404 {
			t.Fatalf("%s %s after delete: %d", req.method, req.path, r.status)
		}
	}
	// Ada's login still names the room: her message is refused and brings nothing back.
	if r := ada.do("POST", "/api/say", sayRequest{Type: "all", Content: "anyone?"}); r.status != 404 || r.errorCode(t) != "room_not_found" {
		t.Fatalf("say in a deleted room: %d %s", r.status, r.body)
	}
	if r := ada.do("POST", "/api/bind", bindRequest{ClientID: adaCid}); r.status != 404 || r.errorCode(t) != "room_not_found" {
		t.Fatalf("bind in a deleted room: %d %s", r.status, r.body)
	}
	for _, k := range []string{"t:room:{" + room + "}", "t:history:{" + room + "}", "t:members:{" + room + "}"} {
		if e.mr.Exists(k) {
			t.Errorf("%s exists after the delete", k)
		}
	}
	if r := op.do("DELETE", "/admin/rooms/"+room, nil, "Authorization", "Bearer op-key"); r.status != 404 {
		t.Fatalf("second delete: %d %s", r.status, r.body)
	}

	off := newTestEnv(t, nil)
	off.srv.RegisterAdmin(off.srv.App().Group("/admin"), []string{"", " "})
	if r := off.client().do("DELETE", "/admin/rooms/x", nil, "Authorization", "Bearer "); r.status != 503 || r.errorCode(t) != "admin_disabled" {
		t.Fatalf("no key configured: %d %s", r.status, r.body)
	}
}
