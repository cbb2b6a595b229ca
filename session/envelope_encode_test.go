package session

import (
	"encoding/json"
	"strings"
	"testing"
)

// envelopeCases cover every field, omitempty and the strings encoding/json
// escapes (quotes, controls, HTML characters, U+2028/9, invalid UTF-8).
var envelopeCases = []Envelope{
	{Op: OpSend},
	{Op: OpSend, Payload: `{"type":"say","content":"hi"}`, Groups: []string{"room-0"}, TS: 1796281813146},
	{Op: OpSend, Clients: []string{"gw1.a", "gw2.b"}, Uids: []string{"42"}, Groups: []string{"g"}, Exclude: []string{"gw1.a"}, Payload: "x", TS: 1, Seq: 7, Epoch: "e<1>"},
	{Op: OpSend, Clients: []string{}, Session: map[string]string{}},
	{Op: OpSetSession, Clients: []string{"gw1.a"}, Session: map[string]string{"z": "1", "a": "\"q\"", "m": "<b>&</b>"}},
	{Op: OpClose, Clients: []string{"gw1.a"}, Payload: "bye", Reason: "kicked\n"},
	{Op: OpSend, Payload: "\x00\x01\x1f\b\f\n\r\t\\/\"\u2028\u2029\u00e9\U0001F600 \x7f"},
	{Op: OpSend, Payload: "bad \xff\xfe utf8 \xe2\x82 end"},
	{Op: "op with \"quote\"", TS: -5, Seq: -1},
}

// TestEnvelopeEncodeAsJSON checks that the hand-written encoder writes the
// bytes encoding/json writes, which the gateways and the docs' PHP examples
// read.
func TestEnvelopeEncodeAsJSON(t *testing.T) {
	t.Parallel()
	for i := range envelopeCases {
		e := envelopeCases[i]
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Errorf("case %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// FuzzEnvelopeEncode compares the encoder with encoding/json on arbitrary
// strings in every string field.
func FuzzEnvelopeEncode(f *testing.F) {
	f.Add("send", "payload <&>", "g", "gw1.a", "k", "v", int64(1))
	f.Add("", "\xff\u2028\x00", "", "", "", "", int64(0))
	f.Fuzz(func(t *testing.T, op, payload, group, client, field, value string, n int64) {
		e := Envelope{Op: Op(op), Payload: payload, Groups: []string{group}, Clients: strings.Fields(client),
			Exclude: []string{client, group}, Session: map[string]string{field: value, value: field}, Reason: value, TS: n, Seq: -n, Epoch: field}
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.appendJSON(nil); string(got) != string(want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

// BenchmarkEnvelopeEncode compares the encoder with encoding/json on the
// head of a group send (figures in docs/BENCHMARKS.md).
func BenchmarkEnvelopeEncode(b *testing.B) {
	e := Envelope{Op: OpSend, Groups: []string{"room-0"}, TS: 1796281813146}
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = e.appendJSON(make([]byte, 0, e.sizeHint()))
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = json.Marshal(&e)
		}
	})
}
