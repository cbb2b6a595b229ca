package pushapi

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// TestKnownKeys checks the top-level key scan of decodeSend: keys nested in
// values, strings holding quotes, braces and commas, and case-insensitive
// names are told apart from unknown or escaped keys.
func TestKnownKeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		body string
		want bool
	}{
		{`{"group":"room-0","payload":{"type":"say","content":"hello"}}`, true},
		{`{}`, true},
		{` { "Group" : "r" , "PAYLOAD" : [1,{"x":2}] } `, true},
		{`{"payload":{"room":"x","nested":{"a":[1,2,{"b":3}]}},"group":"g"}`, true},
		{`{"payload":"a \"quoted\", {brace} [x] \\","uid":"u"}`, true},
		{`{"payload":"x","room":"1"}`, false},
		{`{"payload":{"a":1},"exclude":[],"extra":null}`, false},
		{`{"group":"g","payload":"x:y","recoverable":true,"clientid":"c"}`, false},
		{`{"\u0067roup":"g"}`, false},
		{`{"payload":"x","client_ids":["a","b"],"uids":["1"],"groups":["g"],"client_id":"c","uid":"u"}`, true},
		{`[]`, false},
	} {
		if got := knownKeys([]byte(tt.body), sendFields); got != tt.want {
			t.Errorf("knownKeys(%s) = %v, want %v", tt.body, got, tt.want)
		}
	}
}

// TestSendFields checks that sendFields lists exactly sendRequest's JSON
// fields: a field added to one and not the other would be refused, or
// accepted without decode's check.
func TestSendFields(t *testing.T) {
	t.Parallel()
	rt := reflect.TypeFor[sendRequest]()
	var got []string
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		got = append(got, name)
	}
	if !reflect.DeepEqual(got, sendFields) {
		t.Errorf("sendRequest fields %q, sendFields %q", got, sendFields)
	}
}

// BenchmarkDecodeSend compares the /send/* fast lane with decode on the
// body bench/push.sh posts (figures in docs/BENCHMARKS.md).
func BenchmarkDecodeSend(b *testing.B) {
	body := `{"group":"room-0","payload":{"type":"say","content":"hello"}}`
	app := fiber.New()
	for _, bc := range []struct {
		name string
		f    func(*fiber.Ctx, *sendRequest) error
	}{
		{"fast", decodeSend},
		{"decoder", func(c *fiber.Ctx, r *sendRequest) error { return decode(c, r) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			fc := &fasthttp.RequestCtx{}
			fc.Request.SetBodyString(body)
			c := app.AcquireCtx(fc)
			defer app.ReleaseCtx(c)
			req := new(sendRequest)
			b.ReportAllocs()
			for b.Loop() {
				req.reset()
				if err := bc.f(c, req); err != nil || req.Group != "room-0" {
					b.Fatal(err)
				}
			}
		})
	}
}
