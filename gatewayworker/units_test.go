package gatewayworker

import (
	"encoding/json"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/chatgate/chatgate/gatewayworker/phpserial"
	"github.com/chatgate/chatgate/session"
)

func TestAddresses(t *testing.T) {
	id, err := GatewayID(netip.MustParseAddrPort("127.0.0.1:2900"))
	if err != nil || id != "7f0000010b54" {
		t.Fatalf("GatewayID = %q, %v; want 7f0000010b54 (protocol doc §2.3)", id, err)
	}
	if addr, ok := AddressOf("0a0b0c0d1f90"); !ok || addr != "10.11.12.13:8080" {
		t.Fatalf("AddressOf = %q, %v", addr, ok)
	}
	for _, bad := range []string{"0.0.0.0:2900", "127.0.0.1:0", "[::1]:2900"} {
		if _, err := GatewayID(netip.MustParseAddrPort(bad)); err == nil {
			t.Errorf("GatewayID(%s) accepted", bad)
		}
	}
	if id, _ := GatewayID(netip.MustParseAddrPort("[::ffff:10.0.0.1]:1")); id != "0a0000010001" {
		t.Errorf("4in6 address: %q", id)
	}
	cid := clientID(id, 3)
	if cid != "7f0000010b5400000003" {
		t.Fatalf("clientID = %q", cid)
	}
	if n, ok := connectionOf(id, cid); !ok || n != 3 {
		t.Fatalf("connectionOf = %d, %v", n, ok)
	}
	for _, other := range []string{"7f0000010b55" + "00000003", "gw.x", id + "0000003"} {
		if _, ok := connectionOf(id, other); ok {
			t.Errorf("connectionOf(%q) accepted", other)
		}
	}
}

func TestUnframe(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	masked := []byte{0x81, 0x83, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'y' ^ 3}
	tests := []struct {
		name string
		in   []byte
		want []string
		ok   bool
	}{
		{"text", []byte("\x81\x03raw"), []string{"raw"}, true},
		{"two frames", []byte("\x81\x01a\x82\x01b"), []string{"a", "b"}, true},
		{"16-bit length", append([]byte{0x81, 126, 1, 44}, long...), []string{string(long)}, true},
		{"64-bit length", append([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 1, 44}, long...), []string{string(long)}, true},
		{"fragments and a ping between", []byte("\x01\x02he\x89\x00\x80\x03llo"), []string{"hello"}, true},
		{"masked", masked, []string{"hey"}, true},
		{"short", []byte("\x81\x05ab"), nil, false},
		{"unfinished message", []byte("\x01\x02he"), nil, false},
		{"stray continuation", []byte("\x80\x01x"), nil, false},
		{"one byte", []byte("\x81"), nil, false},
	}
	for _, tt := range tests {
		got, err := unframe(tt.in)
		var gs []string
		for _, g := range got {
			gs = append(gs, string(g))
		}
		if (err == nil) != tt.ok || !slices.Equal(gs, tt.want) {
			t.Errorf("%s: unframe = %q, %v; want %q ok=%v", tt.name, gs, err, tt.want, tt.ok)
		}
	}
}

func TestJSONHelpers(t *testing.T) {
	if got := jsonValues(json.RawMessage(`["a", 12, true, false, null, 1.5, [1], {"x":1}]`)); !slices.Equal(got, []string{"a", "12", "1", "", "", "1.5"}) {
		t.Errorf("jsonValues(list) = %q", got)
	}
	if got := jsonValues(json.RawMessage(`{"b":"2","a":1}`)); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("jsonValues(object) = %q", got)
	}
	if got := jsonKeys(json.RawMessage(`{"7":7,"5":5}`)); !slices.Equal(got, []string{"5", "7"}) {
		t.Errorf("jsonKeys = %q", got)
	}
	if got := jsonKeys(json.RawMessage(`[9]`)); !slices.Equal(got, []string{"9"}) {
		t.Errorf("jsonKeys(list) = %q", got)
	}
	if got := jsonValues(json.RawMessage(`"x"`)); len(got) != 0 {
		t.Errorf("jsonValues(string) = %q", got)
	}
	if got := validIDs([]string{"", "0", "ok", "a{b}", "00"}); !slices.Equal(got, []string{"ok", "00"}) {
		t.Errorf("validIDs = %q", got)
	}
}

// The PHP view of a stored session: exact round trip when Go changed
// nothing; Go's changes applied to top-level scalars otherwise.
func TestPHPView(t *testing.T) {
	phpSess := `a:5:{s:3:"uid";i:42;s:4:"name";s:3:"ann";s:4:"tags";a:2:{i:0;s:1:"x";i:1;s:1:"y";}s:1:"_";s:6:"hidden";i:7;d:0.5;}`
	arr, err := decodeSession([]byte(phpSess))
	if err != nil {
		t.Fatal(err)
	}
	fields := mirror(arr)
	if want := (session.Session{"uid": "42", "name": "ann", "7": "0.5"}); len(fields) != len(want) || fields["uid"] != "42" || fields["name"] != "ann" || fields["7"] != "0.5" {
		t.Fatalf("mirror = %v, want %v", fields, want)
	}
	with := func(f func(session.Session)) session.SessionState {
		c := session.Session{}
		for k, v := range fields {
			c[k] = v
		}
		f(c)
		return session.SessionState{Fields: c, Serialized: phpSess}
	}
	tests := []struct {
		name string
		st   session.SessionState
		want string
		has  bool
	}{
		{"none", session.SessionState{}, `a:0:{}`, false},
		{"unchanged: the bytes PHP sent", with(func(session.Session) {}), phpSess, true},
		{"Go changed a value: a string now", with(func(s session.Session) { s["uid"] = "43" }),
			`a:5:{s:3:"uid";s:2:"43";s:4:"name";s:3:"ann";s:4:"tags";a:2:{i:0;s:1:"x";i:1;s:1:"y";}s:1:"_";s:6:"hidden";i:7;d:0.5;}`, true},
		{"Go deleted one and added two", with(func(s session.Session) { delete(s, "name"); s["z"] = "last"; s["12"] = "n" }),
			`a:6:{s:3:"uid";i:42;s:4:"tags";a:2:{i:0;s:1:"x";i:1;s:1:"y";}s:1:"_";s:6:"hidden";i:7;d:0.5;i:12;s:1:"n";s:1:"z";s:4:"last";}`, true},
		{"Go only", session.SessionState{Fields: session.Session{"b": "2", "a": "1"}}, `a:2:{s:1:"a";s:1:"1";s:1:"b";s:1:"2";}`, true},
		{"unreadable copy: rebuilt from fields", session.SessionState{Fields: session.Session{"a": "1"}, Serialized: "garbage"}, `a:1:{s:1:"a";s:1:"1";}`, true},
	}
	for _, tt := range tests {
		_, ser, has := phpView(tt.st)
		if string(ser) != tt.want || has != tt.has {
			t.Errorf("%s: phpView = %s %v\n                   want %s %v", tt.name, ser, has, tt.want, tt.has)
		}
	}
	if s := sessionString(session.SessionState{}); s != "" {
		t.Errorf("sessionString(none) = %q", s)
	}
	// bools mirror as PHP casts them.
	b, _ := phpserial.Unmarshal([]byte(`a:2:{s:1:"t";b:1;s:1:"f";b:0;}`), nil)
	if m := mirror(b.(*phpserial.Array)); m["t"] != "1" || m["f"] != "" || len(m) != 2 {
		t.Errorf("bools mirror as %v", m)
	}
}

func TestProgressWait(t *testing.T) {
	p := newProgress()
	far := time.Now().Add(10 * time.Second)
	go func() { time.Sleep(20 * time.Millisecond); p.advance(10); p.advance(5) }()
	if !p.waitFor(15, time.Second, far) {
		t.Fatal("waitFor(15) gave up though 15 bytes were executed")
	}
	// Idle on a partial packet for the stall time: give up.
	p.setIdle(true)
	start := time.Now()
	if p.waitFor(100, 50*time.Millisecond, far) {
		t.Fatal("waitFor returned true for bytes never executed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("stall wait took %v", d)
	}
	// Busy (not idle) but past the deadline: give up.
	p.setIdle(false)
	if p.waitFor(100, time.Hour, time.Now().Add(30*time.Millisecond)) {
		t.Fatal("waitFor ignored its deadline")
	}
	go func() { time.Sleep(20 * time.Millisecond); p.close() }()
	if !p.waitFor(100, time.Hour, far) {
		t.Fatal("a closed connection must release its waiters")
	}
}

// FuzzUnframe: any raw body parses or fails cleanly, and never yields more
// payload bytes than it holds.
func FuzzUnframe(f *testing.F) {
	for _, s := range []string{"\x81\x03raw", "\x01\x02he\x89\x00\x80\x03llo", "\x81\x7e\x00\x05hello", "\x81\xff\xff\xff\xff\xff\xff\xff\xff\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		msgs, err := unframe(b)
		if err != nil {
			return
		}
		n := 0
		for _, m := range msgs {
			n += len(m)
		}
		if n > len(b) {
			t.Fatalf("%d payload bytes from a %d-byte body", n, len(b))
		}
	})
}
