// Package token mints and checks chatgate's connect tokens: short-lived
// JSON Web Tokens (RFC 7519) signed with HMAC-SHA256 ("HS256") that name
// the uid a WebSocket connection is bound to at connect.
//
// Claims (docs/client-protocol.md, "Connect tokens"):
//
//	sub  the uid (required, non-empty)
//	jti  an opaque random token id (required; 1–64 of A-Z a-z 0-9 - _ . ~):
//	     what logout revokes
//	exp  expiry, unix seconds (required)
//	iat  issue time, unix seconds (set by Sign; informational)
//	nbf  not before, unix seconds (optional; checked when present)
//
// Other claims and header fields are ignored. Only "alg":"HS256" is
// accepted: "none", other HMAC sizes and public-key algorithms are refused
// before any key is used. The token carries no login session id, so it
// cannot stand in for the login cookie; revocation is by jti, kept by the
// caller (the HTTP app records the ids it issued; gateways check them).
//
// Any backend can mint one with the shared secret and a few lines of code
// (the docs show PHP). The HTTP app signs, gateways verify. A Signer is
// safe for concurrent use.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTTL is the lifetime of a token when NewSigner is given ttl <= 0.
const DefaultTTL = 5 * time.Minute

// Algorithm is the only "alg" a token may have.
const Algorithm = "HS256"

// Limits on what Verify looks at.
const (
	maxTokenLen = 2048 // a query parameter; a real token is about 200 bytes
	maxIDLen    = 64   // jti
	maxUidLen   = 256  // sub
)

// Errors returned by Verify and Sign. Callers branch with errors.Is.
var (
	// ErrMalformed: not a JWT of three base64url parts with JSON header and
	// claims, or a required claim (sub, jti, exp) is missing or invalid.
	ErrMalformed = errors.New("token: malformed")
	// ErrAlgorithm: the header's "alg" is not HS256 (e.g. "none").
	ErrAlgorithm = errors.New("token: algorithm must be " + Algorithm)
	// ErrBadSignature: the signature does not match (forged, or another secret).
	ErrBadSignature = errors.New("token: bad signature")
	// ErrExpired: the token was valid but its lifetime is over.
	ErrExpired = errors.New("token: expired")
	// ErrNotYetValid: the token's nbf is in the future.
	ErrNotYetValid = errors.New("token: not valid yet")
	// ErrNoSecret: the Signer has an empty secret and can neither sign nor verify.
	ErrNoSecret = errors.New("token: empty secret")
	// ErrEmptyUid: Sign was asked for a token without a uid.
	ErrEmptyUid = errors.New("token: empty uid")
)

// Claims is what a token asserts. Times have second precision.
type Claims struct {
	Uid       string    // "sub": the uid the connection is bound to
	ID        string    // "jti": the token id, what revocation names
	IssuedAt  time.Time // "iat"; zero when absent
	NotBefore time.Time // "nbf"; zero when absent
	Expires   time.Time // "exp": from this instant on the token is refused
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

// Sign returns a new token for uid, with a fresh random jti, valid for the
// Signer's TTL, and the claims it holds (record c.ID to revoke it later).
func (s *Signer) Sign(uid string) (tok string, c Claims, err error) {
	if len(s.secret) == 0 {
		return "", Claims{}, ErrNoSecret
	}
	if uid == "" {
		return "", Claims{}, ErrEmptyUid
	}
	now := s.now().Truncate(time.Second)
	c = Claims{Uid: uid, ID: NewID(), IssuedAt: now, Expires: now.Add(s.ttl).Truncate(time.Second)}
	tok, err = jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   c.Uid,
		ID:        c.ID,
		IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
		ExpiresAt: jwt.NewNumericDate(c.Expires),
	}).SignedString(s.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("token: sign: %w", err)
	}
	return tok, c, nil
}

// NewID returns a random token id: 16 bytes as unpadded base64url.
func NewID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (Go 1.24+ panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Verify checks tok's algorithm and signature, then its claims (exp, nbf,
// sub, jti), and returns them. Nothing in the claims is trusted before the
// signature is checked; the check is constant-time.
func (s *Signer) Verify(tok string) (Claims, error) {
	if len(s.secret) == 0 {
		return Claims{}, ErrNoSecret
	}
	if len(tok) > maxTokenLen {
		return Claims{}, ErrMalformed
	}
	var rc jwt.RegisteredClaims
	p := jwt.NewParser(jwt.WithValidMethods([]string{Algorithm}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(s.now))
	parsed, err := p.ParseWithClaims(tok, &rc, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 { // WithValidMethods already refused it
			return nil, ErrAlgorithm
		}
		return s.secret, nil
	})
	if err != nil {
		return Claims{}, verifyError(parsed, err)
	}
	c := Claims{Uid: rc.Subject, ID: rc.ID, Expires: rc.ExpiresAt.Time}
	if rc.IssuedAt != nil {
		c.IssuedAt = rc.IssuedAt.Time
	}
	if rc.NotBefore != nil {
		c.NotBefore = rc.NotBefore.Time
	}
	if c.Uid == "" || len(c.Uid) > maxUidLen || !validID(c.ID) {
		return Claims{}, fmt.Errorf("%w: want sub and jti (1-64 of A-Z a-z 0-9 - _ . ~)", ErrMalformed)
	}
	return c, nil
}

// verifyError maps a jwt error onto this package's errors; the reason goes
// to the client (close 4001), so only malformed tokens keep the details.
func verifyError(parsed *jwt.Token, err error) error {
	switch {
	case parsed != nil && parsed.Header["alg"] != Algorithm && !errors.Is(err, jwt.ErrTokenMalformed):
		alg, _ := parsed.Header["alg"].(string)
		return fmt.Errorf("%w, not %q", ErrAlgorithm, alg)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return ErrBadSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return ErrNotYetValid
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

// validID reports whether id is a usable jti: 1..maxIDLen characters of
// A-Z a-z 0-9 - _ . ~ (URL-safe, and safe inside a Redis key).
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~') {
			return false
		}
	}
	return true
}
