package pushapi_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strconv"
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
		{"recoverable, not an object", `{"sends":[{"to":"all","payload":"x"},{"to":"groups","groups":["room1"],"payload":"x","recoverable":true}]}`, "invalid_payload", `send 1: `},
		{"recoverable, seq field", `{"sends":[{"to":"all","payload":"x"},{"to":"group","group":"room1","payload":{"seq":1},"recoverable":true}]}`, "invalid_payload", `send 1: `},
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

// TestSendBatchRecoverableDocs posts the recoverable batch example of
// docs/push-api.md and checks what the doc says of it: the "news" item is
// logged (seq 1), the "groups" item is logged for "news" (seq 2, the log the
// first item created) and sent unlogged to "sport", and the log holds both.
func TestSendBatchRecoverableDocs(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	// a (gw1) reads news, c (gw2) reads sport.
	if err := f.store.JoinGroup(ctx, f.a, "news"); err != nil {
		t.Fatal(err)
	}
	if err := f.store.JoinGroup(ctx, f.c, "sport"); err != nil {
		t.Fatal(err)
	}
	for _, gw := range []string{"gw1", "gw2"} {
		f.inbox[gw].wait(t, session.OpJoin)
	}
	f.mustOK(t, "POST", "/send/batch", docsBatchBody(t, `"recoverable":true`))
	log, err := f.store.GroupLogSince(ctx, "news", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Entries) != 2 || log.Seq != 2 {
		t.Fatalf("news log: %+v, want 2 entries", log)
	}
	for i, title := range []string{"one", "two"} {
		want := `{"type":"news","title":"` + title + `","group":"news","seq":` + strconv.Itoa(i+1) + `,"epoch":"` + log.Epoch + `"}`
		got := f.inbox["gw1"].wait(t, session.OpSend)
		if got.Payload != want || got.Seq != int64(i+1) || !reflect.DeepEqual(got.Groups, []string{"news"}) {
			t.Errorf("gw1 envelope %d: %+v, want payload %s", i, got, want)
		}
		if log.Entries[i].Payload != want {
			t.Errorf("log entry %d: %q, want %q", i, log.Entries[i].Payload, want)
		}
	}
	got := f.inbox["gw2"].wait(t, session.OpSend)
	if got.Payload != `{"type":"news","title":"two"}` || got.Seq != 0 || !reflect.DeepEqual(got.Groups, []string{"sport"}) {
		t.Errorf("gw2 envelope: %+v, want the unlogged send to sport", got)
	}
	if _, err := f.store.GroupLogSince(ctx, "sport", "", 0); !errors.Is(err, session.ErrNoLog) {
		t.Errorf("sport log: %v, want ErrNoLog", err)
	}
}

// docsBatchBody returns the JSON body of the /send/batch curl example of
// docs/push-api.md that contains marker.
func docsBatchBody(t *testing.T, marker string) string {
	t.Helper()
	raw, err := os.ReadFile("../docs/push-api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?s)api/push/send/batch [^\n]*\\\n\s*-d '([^']*)'`).FindAllStringSubmatch(string(raw), -1) {
		if strings.Contains(m[1], marker) {
			return m[1]
		}
	}
	t.Fatalf("docs/push-api.md has no /send/batch example with %s", marker)
	return ""
}
