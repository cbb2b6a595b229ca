package httpapi

import (
	"encoding/json"
	"log/slog"
	"testing"
)

// FuzzBodies: no request body makes a JSON endpoint fail with 500 or answer
// something that is not JSON.
func FuzzBodies(f *testing.F) {
	for _, seed := range []string{
		`{"name":"Ada","avatar":"cat","bubble":"#e0e7ff"}`,
		`{"type":"all","content":"<b>hi</b>"}`,
		`{"type":"to","to_uid":"u1","content":"x"}`,
		`{"client_id":"gw.AAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"name":"\u0000"}`, `[]`, `null`, `"x"`, `{"content":1e999}`, "\xff", ``,
	} {
		f.Add(seed)
	}
	// The fuzz target may not use f, so the server logs nowhere.
	e := newTestEnv(f, &Options{LoginPerMinute: -1, SayPerMinute: -1, Logger: slog.New(slog.DiscardHandler)})
	c := e.client()
	c.login("Fuzz")
	c.enter(e.room("r1"))
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		for _, path := range []string{"/api/login", "/api/say", "/api/bind", "/api/rooms"} {
			cl := c
			if path == "/api/login" {
				cl = e.client()
			}
			r := cl.do("POST", path, []byte(body))
			if r.status >= 500 || !json.Valid(r.body) {
				t.Fatalf("POST %s %q: %d %s", path, body, r.status, r.body)
			}
		}
	})
}
