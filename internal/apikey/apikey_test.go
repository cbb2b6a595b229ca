package apikey

import "testing"

func TestAuthorized(t *testing.T) {
	t.Parallel()
	keys := New([]string{" k1 ", "", "second-key", "  "})
	tests := []struct {
		name   string
		set    *Set
		header string
		want   bool
	}{
		{"first key, trimmed", keys, "Bearer k1", true},
		{"second key", keys, "Bearer second-key", true},
		{"spaces around the token", keys, "Bearer  k1 ", true},
		{"wrong key", keys, "Bearer k2", false},
		{"prefix of a key", keys, "Bearer second", false},
		{"no scheme", keys, "k1", false},
		{"other scheme", keys, "Basic k1", false},
		{"empty header", keys, "", false},
		{"blank token is no key", keys, "Bearer ", false},
		{"empty set", New(nil), "Bearer k1", false},
		{"zero set", &Set{}, "Bearer ", false},
	}
	for _, tc := range tests {
		if got := tc.set.Authorized(tc.header); got != tc.want {
			t.Errorf("%s: Authorized(%q) = %v, want %v", tc.name, tc.header, got, tc.want)
		}
	}
	if keys.Empty() || !New([]string{"", " "}).Empty() || !(&Set{}).Empty() {
		t.Error("Empty: a set with keys is empty, or one without is not")
	}
}
