package session

import (
	"reflect"
	"testing"
)

// FuzzDecodeEnvelope: DecodeEnvelope never panics, and an envelope it
// accepts re-encodes to one that decodes equal (what a gateway and a PHP app
// writing envelopes by hand must agree on).
func FuzzDecodeEnvelope(f *testing.F) {
	for _, s := range []string{
		`{"op":"send","payload":"{\"type\":\"all\"}"}`,
		`{"op":"send","groups":["room1"],"exclude":["gw1.abc"],"payload":"{\"type\":\"say\"}"}`,
		`{"op":"send","clients":["gw1.AAAAAAAAAAAAAAAAAAAAAA"],"uids":["42"],"payload":"x"}`,
		`{"op":"join","clients":["gw1.a"],"groups":["r"]}`,
		`{"op":"leave","clients":["gw1.a"],"groups":["r","s"]}`,
		`{"op":"ungroup","groups":["r"]}`,
		`{"op":"bind","clients":["gw1.a"],"uids":["u"]}`,
		`{"op":"unbind","clients":["gw1.a"],"uids":["u"]}`,
		`{"op":"set_session","clients":["gw1.a"],"session":{"uname":"Ann"}}`,
		`{"op":"update_session","clients":["gw1.a"],"session":{}}`,
		`{"op":"close","clients":["gw1.a"],"payload":"bye","reason":"kicked"}`,
		`{"op":"bind","clients":["gw1.a"],"uids":["u","v"]}`,
		`{"op":"nope"}`,
		`{"OP":"send","Payload":"case"}`,
		`{"op":"send","payload":"\ud800"}`,
		`{"op":"send","clients":[],"session":{"a":"b"}}`,
		`{"op":"send","payload":1}`,
		`[]`, `null`, ``, `{`, "\xff\xfe",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := DecodeEnvelope(b)
		if err != nil {
			if env != nil {
				t.Fatalf("error %v with a non-nil envelope", err)
			}
			return
		}
		again, err := DecodeEnvelope(env.encode())
		if err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", env.encode(), err)
		}
		if !reflect.DeepEqual(normalizeEnvelope(env), normalizeEnvelope(again)) {
			t.Fatalf("round trip differs:\n first %#v\nsecond %#v", env, again)
		}
	})
}

// normalizeEnvelope treats empty and absent lists and maps alike (omitempty
// drops empty ones on encode).
func normalizeEnvelope(e *Envelope) Envelope {
	n := *e
	for _, l := range []*[]string{&n.Clients, &n.Uids, &n.Groups, &n.Exclude} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(n.Session) == 0 {
		n.Session = nil
	}
	return n
}
