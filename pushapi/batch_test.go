package pushapi_test

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/session"
)

// TestSendBatch checks that /send/batch makes every send of the batch, each
// with the envelope its single route would publish, and that each gateway
// gets them in batch order (broadcast and inbox alike).
func TestSendBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.mustOK(t, "POST", "/send/batch", js(map[string]any{"sends": []map[string]any{
		{"to": "client", "client_id": f.b, "payload": "one"},
		{"to": "group", "group": "room1", "payload": "two", "exclude": []string{f.a}},
		{"to": "uid", "uid": "u2", "payload": map[string]int{"n": 3}},
		{"to": "all", "payload": "four"},
		{"to": "clients", "client_ids": []string{f.a, f.c}, "payload": "five"},
		{"to": "uids", "uids": []string{"u1", "u2"}, "payload": "six"},
		{"to": "groups", "groups": []string{"room1", "nobody"}, "payload": "seven"},
	}}))
	want := map[string][]session.Envelope{
		"gw1": {
			{Op: session.OpSend, Clients: []string{f.b}, Payload: "one"},
			{Op: session.OpSend, Groups: []string{"room1"}, Payload: "two", Exclude: []string{f.a}},
			{Op: session.OpSend, Payload: "four"},
			{Op: session.OpSend, Clients: []string{f.a}, Payload: "five"},
			{Op: session.OpSend, Uids: []string{"u1", "u2"}, Payload: "six"},
			{Op: session.OpSend, Groups: []string{"room1", "nobody"}, Payload: "seven"},
		},
		"gw2": {
			{Op: session.OpSend, Groups: []string{"room1"}, Payload: "two", Exclude: []string{f.a}},
			{Op: session.OpSend, Uids: []string{"u2"}, Payload: `{"n":3}`},
			{Op: session.OpSend, Payload: "four"},
			{Op: session.OpSend, Clients: []string{f.c}, Payload: "five"},
			{Op: session.OpSend, Uids: []string{"u1", "u2"}, Payload: "six"},
			{Op: session.OpSend, Groups: []string{"room1", "nobody"}, Payload: "seven"},
		},
	}
	for gw, envs := range want {
		for i, w := range envs {
			got := f.inbox[gw].wait(t, session.OpSend)
			got.TS = 0
			if !reflect.DeepEqual(*got, w) {
				t.Errorf("%s envelope %d: got %+v, want %+v", gw, i, *got, w)
			}
		}
	}
}

// TestSendBatchInvalid checks that one invalid send fails the whole batch
// with 400 naming its index, and that nothing of the batch was published: a
// marker sent afterwards is the first envelope each gateway gets.
func TestSendBatchInvalid(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	tests := []struct {
		name, body, code, msg string
	}{
		{"bad client id", js(map[string]any{"sends": []map[string]any{
			{"to": "group", "group": "room1", "payload": "x"},
			{"to": "client", "client_id": "no-dot", "payload": "x"},
		}}), "invalid_id", "send 1:"},
		{"bad group id", js(map[string]any{"sends": []map[string]any{
			{"to": "all", "payload": "x"},
			{"to": "groups", "groups": []string{"ok", "bad{brace}"}, "payload": "x"},
		}}), "invalid_id", "send 1:"},
		{"unknown to", `{"sends":[{"to":"all","payload":"x"},{"to":"room","payload":"x"}]}`, "bad_request", "sends[1]: "},
		{"missing target", `{"sends":[{"to":"all","payload":"x"},{"to":"uid","payload":"x"}]}`, "bad_request", `sends[1]: field "uid" is required`},
		{"missing payload", `{"sends":[{"to":"group","group":"room1"}]}`, "bad_request", `sends[0]: field "payload" is required`},
		{"missing sends", `{}`, "bad_request", `field "sends" is required`},
		{"recoverable", `{"sends":[{"to":"all","payload":"x"},{"to":"group","group":"room1","payload":{"a":1},"recoverable":true}]}`, "bad_request", `sends[1]: "recoverable" is not supported`},
		{"unknown field", `{"sends":[{"to":"all","payload":"x","room":"1"}]}`, "bad_json", "unknown field"},
	}
	for _, tt := range tests {
		st, out := f.do(t, "POST", "/send/batch", tt.body, testKey)
		if st != http.StatusBadRequest || out["error"] != tt.code || !strings.Contains(out["message"].(string), tt.msg) {
			t.Errorf("%s: got %d %v, want 400 %s containing %q", tt.name, st, out, tt.code, tt.msg)
		}
	}
	f.mustOK(t, "POST", "/send/all", `{"payload":"marker"}`)
	for _, gw := range []string{"gw1", "gw2"} {
		if got := f.inbox[gw].wait(t, session.OpSend); got.Payload != "marker" {
			t.Errorf("%s got %+v before the marker: a failed batch published", gw, got)
		}
	}
}
