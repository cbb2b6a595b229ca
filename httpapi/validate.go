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

// maxMarkRun is the most combining marks a name may have in a row: enough
// for decomposed Vietnamese (two on one vowel), not for stacked "Zalgo" text
// that draws over the lines around it.
const maxMarkRun = 2

// safeName refuses names that display as something they are not (issue 10,
// item 13): bidirectional controls and overrides, which reorder what
// follows them ("Bob\u202Etxt.exe" shows as "Bobexe.txt"), and stacked
// combining marks. 400 unsafe_name.
func safeName(s string) error {
	run := 0
	for _, r := range s {
		if isBidiControl(r) {
			return errBadRequest("unsafe_name", "names may not contain bidirectional controls (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069)")
		}
		if !unicode.Is(unicode.M, r) {
			run = 0
			continue
		}
		if run++; run > maxMarkRun {
			return errBadRequest("unsafe_name", "names may not stack more than 2 combining marks on a character")
		}
	}
	return nil
}

// isBidiControl reports the explicit bidirectional formatting characters
// (Unicode UAX #9): marks, embeddings, overrides and isolates.
func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' ||
		(r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
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
