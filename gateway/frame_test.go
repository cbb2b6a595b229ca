package gateway

import (
	"bytes"
	"testing"
)

func TestTextFrame(t *testing.T) {
	tests := []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x81, 0}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xff, 0xff}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	}
	for _, tt := range tests {
		payload := bytes.Repeat([]byte{'x'}, tt.n)
		f := textFrame(string(payload))
		if !bytes.Equal(f[:len(tt.header)], tt.header) {
			t.Errorf("len %d: header % x, want % x", tt.n, f[:len(tt.header)], tt.header)
		}
		if !bytes.Equal(f[len(tt.header):], payload) {
			t.Errorf("len %d: payload not carried verbatim", tt.n)
		}
	}
}
