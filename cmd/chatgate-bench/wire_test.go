package main

import (
	"bytes"
	"strings"
	"testing"
)

// serverFrame builds an unmasked frame as a server sends it.
func serverFrame(op byte, p []byte) []byte {
	b := []byte{0x80 | op}
	switch l := len(p); {
	case l < 126:
		b = append(b, byte(l))
	case l < 1<<16:
		b = append(b, 126, byte(l>>8), byte(l))
	default:
		b = append(b, 127, 0, 0, 0, 0, byte(l>>24), byte(l>>16), byte(l>>8), byte(l))
	}
	return append(b, p...)
}

func TestParseFrame(t *testing.T) {
	small := []byte(`{"type":"say","ts":12}`)
	mid := bytes.Repeat([]byte("m"), 300)
	big := bytes.Repeat([]byte("b"), 70000)
	tests := []struct {
		name    string
		in      []byte
		wantOK  bool
		wantLen int
		wantErr bool
	}{
		{"empty", nil, false, 0, false},
		{"one byte", []byte{0x81}, false, 0, false},
		{"small", serverFrame(1, small), true, len(small), false},
		{"small truncated", serverFrame(1, small)[:5], false, 0, false},
		{"16-bit length", serverFrame(1, mid), true, len(mid), false},
		{"16-bit header cut", serverFrame(1, mid)[:3], false, 0, false},
		{"64-bit length", serverFrame(2, big), true, len(big), false},
		{"masked is an error", []byte{0x81, 0x80 | 1, 1, 2, 3, 4, 'x'}, false, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, p, n, ok, err := parseFrame(tc.in)
			if (err != nil) != tc.wantErr || ok != tc.wantOK {
				t.Fatalf("ok=%v err=%v, want ok=%v err=%v", ok, err, tc.wantOK, tc.wantErr)
			}
			if ok && (len(p) != tc.wantLen || n != len(tc.in)) {
				t.Fatalf("payload %d bytes, consumed %d of %d", len(p), n, len(tc.in))
			}
		})
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	for _, size := range []int{0, 5, 125, 126, 65535, 65536} {
		p := bytes.Repeat([]byte("z"), size)
		f := appendClientFrame(nil, 1, p)
		if f[0] != 0x81 || f[1]&0x80 == 0 {
			t.Fatalf("size %d: header % x", size, f[:2])
		}
		key := f[len(f)-size-4 : len(f)-size]
		got := append([]byte(nil), f[len(f)-size:]...)
		for i := range got {
			got[i] ^= key[i&3]
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("size %d: unmasked payload differs", size)
		}
	}
}

func TestFrameTS(t *testing.T) {
	body := content(64)
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"chatgate server", string(serverPayload(sysChatgate, "r1", body, 1732612345123456)), 1732612345123456, true},
		{"chatgate client", string(clientPayload(sysChatgate, "r1", body, 42)), 42, true},
		{"socketio client", string(clientPayload(sysSocketIO, "r1", body, 7)), 7, true},
		{"socketio delivery", `42["msg",{"from":"u1","content":"` + body + `","ts":99}]`, 99, true},
		{"relay output", `{"type":"say","from":"u3","content":"x","ts":5}`, 5, true},
		{"init frame", `{"type":"init","client_id":"gw.abc"}`, 0, false},
		{"empty ts", `{"ts":}`, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := frameTS([]byte(tc.in))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("frameTS(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
	if !strings.Contains(string(serverPayload(sysSocketIO, "r3", body, 1)), `"room":"r3"`) {
		t.Fatal("Socket.IO publish body must name the room")
	}
}
