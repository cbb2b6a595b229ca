package token

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func fixedSigner(secret string, ttl time.Duration, now time.Time) *Signer {
	s := NewSigner([]byte(secret), ttl)
	s.now = func() time.Time { return now }
	return s
}

// handMade builds a token the way docs/client-protocol.md tells another
// backend to (no JWT library): base64url(header).base64url(claims) signed
// with HMAC-SHA256, unpadded.
func handMade(secret string, header, claims any) string {
	b64 := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signing := b64(header) + "." + b64(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var hs256 = map[string]string{"alg": "HS256", "typ": "JWT"}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	const secret = "secret-one"
	signer := fixedSigner(secret, time.Minute, t0)
	good, issued, err := signer.Sign("u1")
	if err != nil {
		t.Fatal(err)
	}
	if !validID(issued.ID) || issued.Uid != "u1" || !issued.Expires.Equal(t0.Add(time.Minute)) || !issued.IssuedAt.Equal(t0) {
		t.Fatalf("Sign claims %+v", issued)
	}
	parts := strings.Split(good, ".")
	exp := t0.Add(time.Minute).Unix()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"sub": "u1", "jti": "id-1", "iat": t0.Unix(), "exp": exp}
		for k, v := range extra {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
		}
		return c
	}
	otherUid := handMade("not-used", hs256, claims(map[string]any{"sub": "admin"}))
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims(claims(nil))).SignedString([]byte(secret))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	es256, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(claims(nil))).SignedString(ecKey)
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		verify  *Signer
		tok     string
		wantErr error
		wantUid string
	}{
		{name: "valid", verify: signer, tok: good, wantUid: "u1"},
		{name: "valid just before expiry", verify: fixedSigner(secret, time.Minute, t0.Add(59*time.Second)), tok: good, wantUid: "u1"},
		{name: "expired", verify: fixedSigner(secret, time.Minute, t0.Add(time.Minute)), tok: good, wantErr: ErrExpired},
		{name: "other secret", verify: fixedSigner("secret-two", time.Minute, t0), tok: good, wantErr: ErrBadSignature},
		{name: "claims swapped (other uid)", verify: signer, tok: strings.Join([]string{parts[0], strings.Split(otherUid, ".")[1], parts[2]}, "."), wantErr: ErrBadSignature},
		{name: "signature truncated", verify: signer, tok: parts[0] + "." + parts[1] + "." + parts[2][:10], wantErr: ErrBadSignature},
		{name: "hand-made, as the docs show", verify: signer, tok: handMade(secret, hs256, claims(nil)), wantUid: "u1"},
		{name: "unknown claims and header fields ignored", verify: signer, tok: handMade(secret, map[string]any{"alg": "HS256", "kid": "k1"}, claims(map[string]any{"room": "lobby"})), wantUid: "u1"},
		{name: "alg none, no signature", verify: signer, tok: b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", wantErr: ErrAlgorithm},
		{name: "alg none, HMAC signature", verify: signer, tok: handMade(secret, map[string]string{"alg": "none"}, claims(nil)), wantErr: ErrAlgorithm},
		{name: "alg missing", verify: signer, tok: handMade(secret, map[string]string{"typ": "JWT"}, claims(nil)), wantErr: ErrAlgorithm},
		{name: "alg HS512 with the right secret", verify: signer, tok: hs512, wantErr: ErrAlgorithm},
		{name: "alg ES256", verify: signer, tok: es256, wantErr: ErrAlgorithm},
		{name: "alg unknown", verify: signer, tok: handMade(secret, map[string]string{"alg": "XYZ"}, claims(nil)), wantErr: ErrAlgorithm},
		{name: "no sub", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"sub": nil})), wantErr: ErrMalformed},
		{name: "empty sub", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"sub": ""})), wantErr: ErrMalformed},
		{name: "no jti", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"jti": nil})), wantErr: ErrMalformed},
		{name: "jti with braces", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"jti": "a{b}"})), wantErr: ErrMalformed},
		{name: "jti too long", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"jti": strings.Repeat("a", 65)})), wantErr: ErrMalformed},
		{name: "no exp", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"exp": nil})), wantErr: ErrMalformed},
		{name: "exp not a number", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"exp": "soon"})), wantErr: ErrMalformed},
		{name: "nbf in the future", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"nbf": t0.Unix() + 10})), wantErr: ErrNotYetValid},
		{name: "nbf now", verify: signer, tok: handMade(secret, hs256, claims(map[string]any{"nbf": t0.Unix()})), wantUid: "u1"},
		{name: "empty", verify: signer, tok: "", wantErr: ErrMalformed},
		{name: "two parts", verify: signer, tok: parts[0] + "." + parts[1], wantErr: ErrMalformed},
		{name: "four parts", verify: signer, tok: good + ".x", wantErr: ErrMalformed},
		{name: "bad base64 signature", verify: signer, tok: parts[0] + "." + parts[1] + ".***", wantErr: ErrMalformed},
		{name: "too long", verify: signer, tok: strings.Repeat("a", maxTokenLen+1), wantErr: ErrMalformed},
		{name: "empty secret", verify: fixedSigner("", time.Minute, t0), tok: good, wantErr: ErrNoSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.verify.Verify(tc.tok)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr != nil) != (err != nil) {
				t.Fatalf("Verify: err %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				t.Logf("refused: %v", err)
				return
			}
			if c.Uid != tc.wantUid || c.ID == "" || !c.Expires.Equal(t0.Add(time.Minute)) {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

// TestNoSessionID: a token says who (sub), which token (jti) and until when,
// nothing else; in particular no login session id.
func TestNoSessionID(t *testing.T) {
	t.Parallel()
	tok, c, err := NewSigner([]byte("k"), time.Minute).Sign("u1")
	if err != nil {
		t.Fatal(err)
	}
	body, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"sub": "u1", "jti": c.ID, "iat": float64(c.IssuedAt.Unix()), "exp": float64(c.Expires.Unix())}
	if len(got) != len(want) {
		t.Fatalf("claims %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("claim %s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	_, c2, _ := NewSigner([]byte("k"), time.Minute).Sign("u1")
	if c2.ID == c.ID {
		t.Fatal("two tokens share a jti")
	}
}

func TestSignErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		secret  string
		uid     string
		wantErr error
	}{
		{"no secret", "", "u", ErrNoSecret},
		{"no uid", "k", "", ErrEmptyUid},
		{"ok", "k", "u", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := NewSigner([]byte(tc.secret), 0).Sign(tc.uid)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultTTL(t *testing.T) {
	t.Parallel()
	if got := NewSigner([]byte("k"), 0).TTL(); got != DefaultTTL {
		t.Fatalf("TTL %v, want %v", got, DefaultTTL)
	}
}

// FuzzVerify: Verify never panics, and what it accepts has a uid and a
// usable token id.
func FuzzVerify(f *testing.F) {
	s := NewSigner([]byte("fuzz-secret"), time.Hour)
	good, _, _ := s.Sign("u1")
	for _, seed := range []string{good, "", ".", "a.b.c", good + "x", strings.Replace(good, ".", "", 1), "e30.e30.AAAA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok)
		if err != nil {
			return
		}
		if c.Uid == "" || !validID(c.ID) || c.Expires.IsZero() {
			t.Fatalf("accepted a token without uid, id or expiry: %q %+v", tok, c)
		}
	})
}
