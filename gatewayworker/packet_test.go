package gatewayworker

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"
)

// The 46-byte auth packet GatewayClient sends for the key "k" (protocol
// document §2.4), byte for byte.
func TestPacketAuthExample(t *testing.T) {
	p := &Packet{Cmd: CmdGatewayClientConnect, Flag: FlagBodyIsScalar, Body: []byte(`{"secret_key":"k"}`)}
	got := p.Append(nil)
	// pack_len 46, cmd 202, zero addresses and connection id, flag 1, ext_len 0.
	want, _ := hex.DecodeString("0000002e" + "ca" + "00000000" + "0000" + "00000000" + "0000" + "00000000" + "01" + "0000" + "00000000")
	want = append(want, `{"secret_key":"k"}`...)
	if len(got) != 46 || !bytes.Equal(got, want) {
		t.Fatalf("auth packet\n got %x\nwant %x", got, want)
	}
}

func TestNextPacket(t *testing.T) {
	a := (&Packet{Cmd: CmdJoinGroup, ConnectionID: 0xdeadbeef, ExtData: []byte("room"), Body: []byte("N;")}).Append(nil)
	b := (&Packet{Cmd: CmdSendToGroup, Flag: FlagBodyIsScalar | FlagNotCallEncode, LocalIP: 0x7f000001, LocalPort: 2900,
		ClientIP: 1, ClientPort: 2, GatewayPort: 7272, ExtData: []byte(`{"group":["room"],"exclude":null}`), Body: []byte("hi")}).Append(nil)
	stream := append(append([]byte(nil), a...), b...)
	for i := range len(a) {
		if p, n, err := NextPacket(stream[:i], DefaultMaxPacket); p != nil || n != 0 || err != nil {
			t.Fatalf("prefix of %d bytes: %v %d %v, want incomplete", i, p, n, err)
		}
	}
	p, n, err := NextPacket(stream, DefaultMaxPacket)
	if err != nil || n != len(a) || p.Cmd != CmdJoinGroup || p.ConnectionID != 0xdeadbeef || string(p.ExtData) != "room" || string(p.Body) != "N;" {
		t.Fatalf("first packet %+v n=%d err=%v", p, n, err)
	}
	if v, err := p.BodyValue(); err != nil || v != nil {
		t.Fatalf("body N; = %v %v", v, err)
	}
	q, m, err := NextPacket(stream[n:], DefaultMaxPacket)
	if err != nil || m != len(b) || !bytes.Equal(q.Append(nil), b) || q.GatewayPort != 7272 || q.ClientPort != 2 {
		t.Fatalf("second packet %+v m=%d err=%v", q, m, err)
	}
	if v, _ := q.BodyValue(); v != "hi" {
		t.Fatalf("scalar body = %v", v)
	}
	bad := []struct {
		name string
		b    []byte
		max  int
	}{
		{"too long", []byte{0, 0xa0, 0, 1}, DefaultMaxPacket},
		{"shorter than header", []byte{0, 0, 0, 27}, DefaultMaxPacket},
		{"ext overruns", func() []byte { c := bytes.Clone(a); c[27] = 200; return c }(), DefaultMaxPacket},
		{"custom limit", a, len(a) - 1},
	}
	for _, tt := range bad {
		if _, _, err := NextPacket(tt.b, tt.max); !errors.Is(err, ErrBadPacket) {
			t.Errorf("%s: err %v, want ErrBadPacket", tt.name, err)
		}
	}
	if got := AppendReply(nil, []byte("i:2;")); !bytes.Equal(got, []byte("\x00\x00\x00\x04i:2;")) {
		t.Fatalf("reply %q", got)
	}
}

// FuzzNextPacket: any byte stream splits into packets or fails cleanly,
// never reads past a packet, and every packet re-encodes to its own bytes.
func FuzzNextPacket(f *testing.F) {
	f.Add((&Packet{Cmd: CmdGatewayClientConnect, Flag: 1, Body: []byte(`{"secret_key":"k"}`)}).Append(nil))
	f.Add((&Packet{Cmd: CmdSelect, ExtData: []byte(`{"fields":["uid"],"where":[]}`), Body: []byte("N;")}).Append(nil))
	f.Add([]byte{0, 0, 0, 28, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		rest := data
		for len(rest) > 0 {
			p, n, err := NextPacket(rest, 1<<16)
			if err != nil || n == 0 {
				return
			}
			if n > len(rest) || n < HeaderLen {
				t.Fatalf("consumed %d of %d bytes", n, len(rest))
			}
			if enc := p.Append(nil); !bytes.Equal(enc, rest[:n]) {
				t.Fatalf("re-encoding differs:\n%x\n%x", enc, rest[:n])
			}
			_, _ = p.BodyValue()
			rest = rest[n:]
		}
	})
}
