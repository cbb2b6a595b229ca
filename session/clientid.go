package session

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
)

// NewClientID returns a fresh client id for a connection held by gateway gw:
// the gateway id, a dot, and 128 random bits in base64url. The gateway part
// tells a sender which inbox to publish to; the random part makes the id
// unguessable, so knowing one user's id says nothing about another's.
func NewClientID(gw string) string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux (Go 1.24+ panics instead)
	return gw + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// GatewayOf returns the gateway id a client id names, and false when cid is
// not of the form produced by NewClientID.
func GatewayOf(cid string) (string, bool) {
	gw, rest, ok := strings.Cut(cid, ".")
	if !ok || rest == "" || validGatewayID(gw) != nil || validID(cid) != nil {
		return "", false
	}
	return gw, true
}

// NewGatewayID returns a random gateway id (12 lower-case base32 characters).
func NewGatewayID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [12]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

// ValidGatewayID reports whether id may name a gateway: 1..64 of a-z 0-9 - _.
func ValidGatewayID(id string) error { return validGatewayID(id) }
