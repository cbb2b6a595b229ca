package keyid

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	errBad := errors.New("bad id")
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"plain", "room-1", true},
		{"longest", strings.Repeat("a", MaxLen), true},
		{"unicode", "salon·été", true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxLen+1), false},
		{"open brace", "a{b", false},
		{"close brace", "a}b", false},
		{"control", "a\nb", false},
		{"delete", "a\x7fb", false},
	}
	for _, tc := range tests {
		err := Check(tc.id, errBad)
		if (err == nil) != tc.ok {
			t.Errorf("%s: Check(%q) = %v, want ok=%v", tc.name, tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, errBad) {
			t.Errorf("%s: %v does not wrap the caller's sentinel", tc.name, err)
		}
	}
}
