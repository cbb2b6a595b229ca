// Package apikey checks bearer API keys (Authorization: Bearer KEY) for the
// HTTP push API and the chat app's operator endpoints, which share
// --api-keys.
package apikey

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"
)

// Set is the accepted keys. The zero value accepts none. It is safe for
// concurrent use.
type Set struct {
	sums [][sha256.Size]byte // sha256 of each key: equal lengths for the constant-time compare
}

// New returns the set of keys; entries blank after trimming spaces are ignored.
func New(keys []string) *Set {
	s := &Set{}
	for _, k := range keys {
		if k = strings.TrimSpace(k); k != "" {
			s.sums = append(s.sums, sha256.Sum256([]byte(k)))
		}
	}
	return s
}

// Empty reports whether no key is accepted (the API they guard is disabled).
func (s *Set) Empty() bool { return len(s.sums) == 0 }

// Authorized reports whether header (an Authorization header value) is
// "Bearer <key>" for a key of the set. It compares with every key in
// constant time (no early exit), so timing says nothing about which key or
// prefix matched.
func (s *Set) Authorized(header string) bool {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range s.sums {
		match |= subtle.ConstantTimeCompare(sum[:], s.sums[i][:])
	}
	return match == 1
}
