package phpserial

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal: any input decodes or fails cleanly (no panic, bounded
// work); what decodes re-encodes to a canonical form that decodes to the
// same value and re-encodes to itself.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		"N;", "b:1;", "i:-42;", "i:+7;", "d:0.1;", "d:-INF;", "d:1.0E+25;", `s:3:"a;b";`,
		`a:2:{i:0;s:1:"x";s:1:"k";a:1:{s:2:"07";d:.5;}}`,
		`a:3:{i:1;s:1:"a";i:2;s:1:"b";s:1:"1";s:1:"c";}`,
		`a:1:{s:4:"sess";a:2:{s:3:"uid";s:2:"42";s:5:"rooms";a:2:{i:0;i:1;i:1;i:2;}}}`,
		`O:8:"stdClass":0:{}`, "a:99999999:{}", "a:1:{i:0;a:1:{i:0;a:1:{i:0;N;}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data, nil)
		if err != nil {
			return
		}
		enc, err := Marshal(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data, err)
		}
		back, err := Unmarshal(enc, nil)
		if err != nil {
			t.Fatalf("own encoding %q does not decode: %v", enc, err)
		}
		if !Equal(v, back) {
			t.Fatalf("round trip changed the value: %q -> %q", data, enc)
		}
		if again := MustMarshal(back); !bytes.Equal(again, enc) {
			t.Fatalf("encoding not canonical: %q then %q", enc, again)
		}
	})
}
