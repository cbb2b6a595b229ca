// Package token issues and checks chatgate's connect tokens: short-lived,
// HMAC-SHA256-signed claims that name the uid a WebSocket connection may be
// bound to at connect, and the login session (sid) that asked for it, so a
// token can be refused once that session logged out.
//
// Wire form (docs/http-api.md): base64url(JSON claims) "." base64url(MAC),
// unpadded, where claims are {"u":uid,"s":sid,"e":unix seconds} and the MAC is
// HMAC-SHA256(secret, first part). The HTTP app signs; gateways verify with
// the same secret. A Signer is safe for concurrent use.
package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DefaultTTL is the lifetime of a token when NewSigner is given ttl <= 0.
const DefaultTTL = 5 * time.Minute

// maxTokenLen bounds what Verify even looks at (a query parameter).
const maxTokenLen = 2048

// Errors returned by Verify and Sign. Callers branch with errors.Is.
var (
	// ErrMalformed: the token is not two base64url parts with JSON claims.
	ErrMalformed = errors.New("token: malformed")
	// ErrBadSignature: the MAC does not match (forged, or another secret).
	ErrBadSignature = errors.New("token: bad signature")
	// ErrExpired: the token was valid but its lifetime is over.
	ErrExpired = errors.New("token: expired")
	// ErrNoSecret: the Signer has an empty secret and can neither sign nor verify.
	ErrNoSecret = errors.New("token: empty secret")
	// ErrEmptyUid: Sign was asked for a token without a uid.
	ErrEmptyUid = errors.New("token: empty uid")
)

// Claims is what a token asserts.
type Claims struct {
	Uid     string    // the uid the connection is bound to
	Sid     string    // the login session that asked for the token
	Expires time.Time // after this instant the token is refused (second precision)
}

// wireClaims is the JSON form of Claims; short names keep URLs short.
type wireClaims struct {
	Uid     string `json:"u"`
	Sid     string `json:"s,omitempty"`
	Expires int64  `json:"e"`
}

// Signer signs and verifies tokens with one secret.
type Signer struct {
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewSigner returns a Signer for secret (copied) whose tokens live for ttl
// (DefaultTTL when ttl <= 0). Use at least 32 random bytes as secret.
func NewSigner(secret []byte, ttl time.Duration) *Signer {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Signer{secret: append([]byte(nil), secret...), ttl: ttl, now: time.Now}
}

// TTL returns the lifetime of the tokens this Signer issues.
func (s *Signer) TTL() time.Duration { return s.ttl }

// Sign returns a token for uid and sid, valid for the Signer's TTL.
func (s *Signer) Sign(uid, sid string) (string, error) {
	if len(s.secret) == 0 {
		return "", ErrNoSecret
	}
	if uid == "" {
		return "", ErrEmptyUid
	}
	exp := s.now().Add(s.ttl).Unix()
	body, err := json.Marshal(wireClaims{Uid: uid, Sid: sid, Expires: exp})
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	payload := base64.RawURLEncoding.EncodeToString(body)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Verify checks tok's signature, then its expiry, and returns its claims.
// The signature is checked before anything in the claims is trusted, and is
// compared in constant time.
func (s *Signer) Verify(tok string) (Claims, error) {
	if len(s.secret) == 0 {
		return Claims{}, ErrNoSecret
	}
	if len(tok) > maxTokenLen {
		return Claims{}, ErrMalformed
	}
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok || payload == "" || sig == "" {
		return Claims{}, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	if !hmac.Equal(got, s.mac(payload)) {
		return Claims{}, ErrBadSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return Claims{}, ErrMalformed
	}
	var w wireClaims
	if err := json.Unmarshal(body, &w); err != nil || w.Uid == "" || w.Expires == 0 {
		return Claims{}, ErrMalformed
	}
	c := Claims{Uid: w.Uid, Sid: w.Sid, Expires: time.Unix(w.Expires, 0)}
	if !s.now().Before(c.Expires) {
		return c, ErrExpired
	}
	return c, nil
}

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.secret)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
