package pushapi_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/chatgate/chatgate/session"
)

// TestSends checks that each /send/* route publishes the envelope the
// gateways expect, with the payload verbatim and the exclude list.
func TestSends(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name, path string
		body       map[string]any
		gateways   []string // inboxes that must get the envelope
		want       session.Envelope
	}{
		{"all", "/send/all", map[string]any{"payload": "hi all", "exclude": []string{f.a}},
			[]string{"gw1", "gw2"}, session.Envelope{Op: session.OpSend, Payload: "hi all", Exclude: []string{f.a}}},
		{"client", "/send/client", map[string]any{"client_id": f.b, "payload": "hi b"},
			[]string{"gw1"}, session.Envelope{Op: session.OpSend, Clients: []string{f.b}, Payload: "hi b"}},
		{"uid", "/send/uid", map[string]any{"uid": "u2", "payload": map[string]string{"type": "to"}},
			[]string{"gw2"}, session.Envelope{Op: session.OpSend, Uids: []string{"u2"}, Payload: `{"type":"to"}`}},
		{"uids", "/send/uids", map[string]any{"uids": []string{"u1", "u2"}, "payload": "hi", "exclude": []string{f.c}},
			[]string{"gw1", "gw2"}, session.Envelope{Op: session.OpSend, Uids: []string{"u1", "u2"}, Payload: "hi", Exclude: []string{f.c}}},
		{"group", "/send/group", map[string]any{"group": "room1", "payload": "hi room"},
			[]string{"gw1", "gw2"}, session.Envelope{Op: session.OpSend, Groups: []string{"room1"}, Payload: "hi room"}},
		{"groups", "/send/groups", map[string]any{"groups": []string{"room1", "nobody"}, "payload": "[1,2]"},
			[]string{"gw1", "gw2"}, session.Envelope{Op: session.OpSend, Groups: []string{"room1", "nobody"}, Payload: "[1,2]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out := f.mustOK(t, "POST", tt.path, js(tt.body)); out["ok"] != true {
				t.Fatalf("response %v", out)
			}
			for _, gw := range tt.gateways {
				got := f.inbox[gw].wait(t, session.OpSend)
				if got.Op != tt.want.Op || got.Payload != tt.want.Payload || !reflect.DeepEqual(got.Exclude, tt.want.Exclude) ||
					!reflect.DeepEqual(got.Uids, tt.want.Uids) || !reflect.DeepEqual(got.Groups, tt.want.Groups) ||
					!reflect.DeepEqual(got.Clients, tt.want.Clients) {
					t.Errorf("gateway %s got %+v, want %+v", gw, got, tt.want)
				}
			}
		})
	}
	// /send/clients splits the list by gateway: one envelope each.
	f.mustOK(t, "POST", "/send/clients", js(map[string]any{"client_ids": []string{f.a, f.b, f.c}, "payload": "x"}))
	if e := f.inbox["gw1"].wait(t, session.OpSend); !sameSet(e.Clients, []string{f.a, f.b}) {
		t.Errorf("gw1 clients %v", e.Clients)
	}
	if e := f.inbox["gw2"].wait(t, session.OpSend); !sameSet(e.Clients, []string{f.c}) {
		t.Errorf("gw2 clients %v", e.Clients)
	}
}

// TestMembershipAndSessions runs the write routes and reads their effect
// back through the read routes (read-your-writes through the API).
func TestMembershipAndSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.checkUids(t)
	f.checkGroups(t)
	f.checkSessions(t)
	f.checkTeardown(t)
}

func (f *fixture) post(t *testing.T, path string, body map[string]any) {
	t.Helper()
	f.mustOK(t, "POST", path, js(body))
}

func (f *fixture) get(t *testing.T, path string) map[string]any {
	t.Helper()
	return f.mustOK(t, "GET", path, "")
}

func (f *fixture) checkUids(t *testing.T) {
	f.post(t, "/bind", map[string]any{"client_id": f.b, "uid": "u1"})
	if e := f.inbox["gw1"].wait(t, session.OpBind); e.Uids[0] != "u1" || e.Clients[0] != f.b {
		t.Errorf("bind envelope %+v", e)
	}
	if got := f.get(t, "/uid/clients?uid=u1")["client_ids"]; !sameSet(strs(got), []string{f.a, f.b}) {
		t.Errorf("clients of u1 %v", got)
	}
	if got := f.get(t, "/client/uid?client_id="+f.b)["uid"]; got != "u1" {
		t.Errorf("uid of b %v", got)
	}
	batch := f.mustOK(t, "POST", "/uids/online", `{"uids":["u1","u2","u3"]}`)["online"]
	if !reflect.DeepEqual(batch, map[string]any{"u1": true, "u2": true, "u3": false}) {
		t.Errorf("uids online %v", batch)
	}
	byUids := f.mustOK(t, "POST", "/uids/clients", `{"uids":["u2","u3"]}`)["client_ids"].(map[string]any)
	if !sameSet(strs(byUids["u2"]), []string{f.c}) || len(strs(byUids["u3"])) != 0 {
		t.Errorf("clients by uids %v", byUids)
	}
}

func (f *fixture) checkGroups(t *testing.T) {
	f.post(t, "/join", map[string]any{"client_id": f.b, "group": "room2"})
	f.inbox["gw1"].wait(t, session.OpJoin)
	if got := f.get(t, "/group/clients?group=room2")["client_ids"]; !sameSet(strs(got), []string{f.b}) {
		t.Errorf("room2 %v", got)
	}
	if got := f.get(t, "/groups")["groups"]; !sameSet(strs(got), []string{"room1", "room2"}) {
		t.Errorf("groups %v", got)
	}
	f.post(t, "/join", map[string]any{"client_id": f.b, "group": "room1"})
	if got := f.get(t, "/group/count?group=room1")["count"]; got != 3.0 {
		t.Errorf("room1 count %v", got)
	}
	if got := f.get(t, "/group/uids?group=room1")["uids"]; !sameSet(strs(got), []string{"u1", "u2"}) {
		t.Errorf("room1 uids %v", got)
	}
	if got := f.get(t, "/group/uid-count?group=room1")["count"]; got != 2.0 {
		t.Errorf("room1 uid count %v", got)
	}
}

func (f *fixture) checkSessions(t *testing.T) {
	f.post(t, "/session/set", map[string]any{"client_id": f.a, "session": map[string]string{"room_id": "1"}})
	if e := f.inbox["gw1"].wait(t, session.OpSetSession); e.Session["room_id"] != "1" {
		t.Errorf("set session envelope %+v", e)
	}
	f.post(t, "/session/update", map[string]any{"client_id": f.a, "session": map[string]string{"bubble": "blue"}})
	f.inbox["gw1"].wait(t, session.OpUpdateSession)
	if got := f.get(t, "/session?client_id="+f.a)["session"]; !reflect.DeepEqual(got, map[string]any{"room_id": "1", "bubble": "blue"}) {
		t.Errorf("session %v", got)
	}
	sessions := f.get(t, "/group/sessions?group=room1")["sessions"].(map[string]any)
	if len(sessions) != 3 || !reflect.DeepEqual(sessions[f.c], map[string]any{"uname": "cy"}) {
		t.Errorf("room1 sessions %v", sessions)
	}
}

func (f *fixture) checkTeardown(t *testing.T) {
	f.post(t, "/leave", map[string]any{"client_id": f.b, "group": "room2"})
	f.inbox["gw1"].wait(t, session.OpLeave)
	if got := f.get(t, "/groups")["groups"]; !sameSet(strs(got), []string{"room1"}) {
		t.Errorf("groups after leave %v", got)
	}
	f.post(t, "/ungroup", map[string]any{"group": "room1"})
	f.inbox["gw1"].wait(t, session.OpUngroup)
	f.inbox["gw2"].wait(t, session.OpUngroup)
	if got := f.get(t, "/group/count?group=room1")["count"]; got != 0.0 {
		t.Errorf("room1 count after ungroup %v", got)
	}
	f.post(t, "/unbind", map[string]any{"client_id": f.a, "uid": "u1"})
	f.post(t, "/unbind", map[string]any{"client_id": f.b, "uid": "u1"})
	if got := f.get(t, "/uid/online?uid=u1")["online"]; got != false {
		t.Errorf("u1 online after unbind %v", got)
	}
	if got := f.get(t, "/uids")["uids"]; !sameSet(strs(got), []string{"u2"}) {
		t.Errorf("uids %v", got)
	}
	if got := f.get(t, "/uids/count")["count"]; got != 1.0 {
		t.Errorf("uid count %v", got)
	}
	if got := f.get(t, "/clients/count")["count"]; got != 3.0 {
		t.Errorf("client count %v", got)
	}
	if got := f.get(t, "/clients")["client_ids"]; !sameSet(strs(got), []string{f.a, f.b, f.c}) {
		t.Errorf("clients %v", got)
	}
	if got := f.get(t, "/online?client_id="+f.c)["online"]; got != true {
		t.Errorf("c online %v", got)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.mustOK(t, "POST", "/close", js(map[string]any{"client_id": f.c, "payload": map[string]string{"type": "bye"}}))
	if e := f.inbox["gw2"].wait(t, session.OpClose); e.Payload != `{"type":"bye"}` || e.Clients[0] != f.c {
		t.Errorf("close envelope %+v", e)
	}
	f.mustOK(t, "POST", "/close", js(map[string]any{"client_id": f.a}))
	if e := f.inbox["gw1"].wait(t, session.OpClose); e.Payload != "" {
		t.Errorf("close envelope %+v", e)
	}
	// The API only asks; the gateway closes and cleans up. Nothing else was sent.
	if on, err := f.store.IsOnline(context.Background(), f.a); err != nil || !on {
		t.Errorf("online %v %v", on, err)
	}
}

func strs(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// "recoverable":true sends through the group's log: the envelope and the
// payload carry the group's seq and epoch, and a payload that is not a JSON
// object is refused with 400.
func TestSendRecoverable(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.mustOK(t, "POST", "/send/group", js(map[string]any{"group": "room1", "payload": map[string]string{"type": "say"}, "recoverable": true}))
	got := f.inbox["gw1"].wait(t, session.OpSend)
	if got.Seq != 1 || got.Epoch == "" || got.Payload != `{"type":"say","group":"room1","seq":1,"epoch":"`+got.Epoch+`"}` {
		t.Fatalf("recoverable send: %+v", got)
	}
	status, out := f.do(t, "POST", "/send/group", js(map[string]any{"group": "room1", "payload": "plain text"}), testKey)
	if status != 400 || out["error"] != "invalid_payload" {
		t.Fatalf("text to a recoverable group: %d %v", status, out)
	}
}
