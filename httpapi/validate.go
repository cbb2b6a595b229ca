package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on user text (docs/http-api.md).
const (
	maxNameRunes     = 32
	maxRoomNameRunes = 64
	maxContentRunes  = 2000
	defaultHistory   = 50
	maxHistory       = 100
)

// Avatars and bubble colours a user may pick (GET /api/config); the page
// renders avatar NAME from /avatars/NAME.svg.
var (
	avatars = []string{"cat", "dog", "fox", "owl", "panda", "robot"}
	bubbles = []string{"#e0e7ff", "#dcfce7", "#fef3c7", "#fce7f3", "#e0f2fe", "#f3e8ff", "#ffedd5"}
)

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// cleanName trims s and checks it is 1..max runes of text: valid UTF-8, no
// control characters, and at least one visible character.
func cleanName(s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", false
	}
	n, visible := 0, false
	for _, r := range s {
		n++
		if unicode.IsControl(r) {
			return "", false
		}
		if !unicode.IsSpace(r) && !unicode.Is(unicode.Cf, r) {
			visible = true
		}
	}
	return s, visible && n <= max
}

// validContent reports whether s is 1..maxContentRunes runes of valid UTF-8
// with something other than white space.
func validContent(s string) bool {
	return utf8.ValidString(s) && strings.TrimSpace(s) != "" && utf8.RuneCountInString(s) <= maxContentRunes
}

// randomID returns n random bytes as unpadded base64url.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+ panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newRoomID returns a short random room id (lower case, safe in URLs and as a group id).
func newRoomID() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return "r" + string(b)
}
