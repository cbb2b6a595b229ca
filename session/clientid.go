package session

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
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

// Compact ids, for GatewayWorker compatibility (docs/gatewayworker.md): a
// compact gateway id is 12 lower-case hex digits (GatewayWorker's client ids
// encode the IPv4 address and port of the gateway), and a compact client id
// is that gateway id followed by 8 hex digits, a random non-zero 32-bit
// number: 20 hex digits in all, the form GatewayClient accepts. A compact
// client id has no dot, so it never collides with the GW.RANDOM form.
const (
	compactGatewayLen = 12
	compactClientLen  = 20
)

// IsCompactGatewayID reports whether gw is a compact gateway id (12
// lower-case hex digits), whose clients get compact client ids.
func IsCompactGatewayID(gw string) bool { return len(gw) == compactGatewayLen && isLowerHex(gw) }

// NewCompactClientID returns gw followed by 8 hex digits of a random
// non-zero 32-bit number. gw must be a compact gateway id. Only 32 bits are
// random: the gateway must refuse a number one of its live clients holds
// (the caller retries), and the id is guessable with 2³² tries.
func NewCompactClientID(gw string) string {
	if !IsCompactGatewayID(gw) {
		panic("session: NewCompactClientID: not a compact gateway id: " + gw)
	}
	var b [4]byte
	for binary.BigEndian.Uint32(b[:]) == 0 {
		_, _ = rand.Read(b[:])
	}
	return gw + hex.EncodeToString(b[:])
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// GatewayOf returns the gateway id a client id names, and false when cid is
// not of a form produced by NewClientID or NewCompactClientID.
func GatewayOf(cid string) (string, bool) {
	if len(cid) == compactClientLen && isLowerHex(cid) {
		return cid[:compactGatewayLen], true
	}
	gw, rest, ok := strings.Cut(cid, ".")
	if !ok || rest == "" || validGatewayID(gw) != nil || validID(cid) != nil {
		return "", false
	}
	return gw, true
}

// NewGatewayID returns a random gateway id (12 lower-case base32
// characters). It is never a compact gateway id, so a random gateway is
// never mistaken for a GatewayWorker-compatible one.
func NewGatewayID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for {
		var b [12]byte
		_, _ = rand.Read(b[:])
		for i := range b {
			b[i] = alphabet[b[i]&31]
		}
		if id := string(b[:]); !IsCompactGatewayID(id) {
			return id
		}
	}
}

// ValidGatewayID reports whether id may name a gateway: 1..64 of a-z 0-9 - _.
func ValidGatewayID(id string) error { return validGatewayID(id) }
