package httpapi

import (
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chatgate/chatgate/session"
)

// TestHistoryPosition: the history response carries the room's log position
// read before the history, so recovering from it gives exactly the messages
// said after the history (docs/http-api.md, "GET /api/rooms/{id}/history").
func TestHistoryPosition(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, nil)
	ada, _, _, _, room, in := chatRoom(t, e)
	if r := ada.do("POST", "/api/say", sayRequest{Type: "all", Content: "one"}); r.status != 202 {
		t.Fatalf("say: %d %s", r.status, r.body)
	}
	one := in.waitPayload(t, "first message", func(_ *session.Envelope, m map[string]any) bool {
		return m != nil && m["content"] == "one"
	})
	r := ada.do("GET", "/api/rooms/"+room+"/history", nil)
	var hist []chatMessage
	r.decode(t, &hist)
	epoch, seq := r.header.Get("X-Chatgate-Epoch"), r.header.Get("X-Chatgate-Seq")
	if len(hist) != 1 || epoch != one["epoch"] || seq != strconv.Itoa(int(one["seq"].(float64))) {
		t.Fatalf("history %+v at %q/%q, want the first message at %v/%v", hist, epoch, seq, one["epoch"], one["seq"])
	}
	if r := ada.do("POST", "/api/say", sayRequest{Type: "all", Content: "two"}); r.status != 202 {
		t.Fatalf("say: %d %s", r.status, r.body)
	}
	since, _ := strconv.ParseInt(seq, 10, 64)
	l, err := e.store.GroupLogSince(context.Background(), room, epoch, since)
	if err != nil || len(l.Entries) != 1 {
		t.Fatalf("log since the history's position: %+v %v, want the second message only", l, err)
	}
	var two chatMessage
	if err := json.Unmarshal([]byte(l.Entries[0].Payload), &two); err != nil || two.Content != "two" {
		t.Fatalf("recovered %s (%v), want the second message", l.Entries[0].Payload, err)
	}

	// A room that has no log yet: seq 0 and no epoch (recover from the start).
	var rr roomResponse
	ada.do("POST", "/api/rooms", roomRequest{Name: "Quiet"}).decode(t, &rr)
	r = ada.do("GET", "/api/rooms/"+rr.ID+"/history", nil)
	if r.status != 200 || r.header.Get("X-Chatgate-Seq") != "0" || r.header.Values("X-Chatgate-Epoch") != nil {
		t.Fatalf("history of a room without a log: %d, headers %v", r.status, r.header)
	}
}

var historyHeadersRe = regexp.MustCompile("(?s)### `GET /api/rooms/\\{id\\}/history.*?```\\n(X-Chatgate-.*?)```")

// TestDocHistoryHeaders: the header example of the history section of
// docs/http-api.md names the headers the handler sets, with values of their
// form.
func TestDocHistoryHeaders(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../docs/http-api.md")
	if err != nil {
		t.Fatal(err)
	}
	m := historyHeadersRe.FindSubmatch(doc)
	if m == nil {
		t.Fatal("no header example in the history section of docs/http-api.md")
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(m[1])), "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("header line %q", line)
		}
		got[name] = value
	}
	if len(got) != 2 || got[headerRoomEpoch] == "" || got[headerRoomSeq] == "" {
		t.Fatalf("documented headers %v, want %s and %s", got, headerRoomEpoch, headerRoomSeq)
	}
	if _, err := strconv.ParseInt(got[headerRoomSeq], 10, 64); err != nil {
		t.Errorf("documented seq %q: %v", got[headerRoomSeq], err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(got[headerRoomEpoch]) {
		t.Errorf("documented epoch %q is not an epoch (16 hex digits)", got[headerRoomEpoch])
	}
}
