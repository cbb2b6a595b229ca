package token

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func fixedSigner(secret string, ttl time.Duration, now time.Time) *Signer {
	s := NewSigner([]byte(secret), ttl)
	s.now = func() time.Time { return now }
	return s
}

func TestSignVerify(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	signer := fixedSigner("secret-one", time.Minute, t0)
	good, err := signer.Sign("u1", "sid1")
	if err != nil {
		t.Fatal(err)
	}
	payload, sig, _ := strings.Cut(good, ".")
	forgedBody := base64.RawURLEncoding.EncodeToString([]byte(`{"u":"admin","s":"sid1","e":1900000000}`))
	tests := []struct {
		name    string
		verify  *Signer
		tok     string
		wantErr error
		wantUid string
	}{
		{name: "valid", verify: signer, tok: good, wantUid: "u1"},
		{name: "valid just before expiry", verify: fixedSigner("secret-one", time.Minute, t0.Add(59*time.Second)), tok: good, wantUid: "u1"},
		{name: "expired", verify: fixedSigner("secret-one", time.Minute, t0.Add(time.Minute)), tok: good, wantErr: ErrExpired},
		{name: "other secret", verify: fixedSigner("secret-two", time.Minute, t0), tok: good, wantErr: ErrBadSignature},
		{name: "claims swapped (other uid)", verify: signer, tok: forgedBody + "." + sig, wantErr: ErrBadSignature},
		{name: "signature truncated", verify: signer, tok: payload + "." + sig[:10], wantErr: ErrBadSignature},
		{name: "empty", verify: signer, tok: "", wantErr: ErrMalformed},
		{name: "no dot", verify: signer, tok: payload, wantErr: ErrMalformed},
		{name: "bad base64 signature", verify: signer, tok: payload + ".***", wantErr: ErrMalformed},
		{name: "too long", verify: signer, tok: strings.Repeat("a", maxTokenLen+1), wantErr: ErrMalformed},
		{name: "empty secret", verify: fixedSigner("", time.Minute, t0), tok: good, wantErr: ErrNoSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.verify.Verify(tc.tok)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify: err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && (c.Uid != tc.wantUid || c.Sid != "sid1" || !c.Expires.Equal(t0.Add(time.Minute))) {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

// TestSignedGarbageIsMalformed: a correctly signed payload that is not valid
// claims is refused as malformed, not accepted.
func TestSignedGarbageIsMalformed(t *testing.T) {
	t.Parallel()
	s := NewSigner([]byte("k"), time.Minute)
	for _, body := range []string{`not json`, `{"u":"","e":5}`, `{"u":"x"}`, `[]`} {
		p := base64.RawURLEncoding.EncodeToString([]byte(body))
		tok := p + "." + base64.RawURLEncoding.EncodeToString(s.mac(p))
		if _, err := s.Verify(tok); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", body, err)
		}
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
			_, err := NewSigner([]byte(tc.secret), 0).Sign(tc.uid, "")
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

// FuzzVerify: Verify never panics, and accepts only what the signer signed.
func FuzzVerify(f *testing.F) {
	s := NewSigner([]byte("fuzz-secret"), time.Hour)
	good, _ := s.Sign("u1", "s1")
	for _, seed := range []string{good, "", ".", "a.b", good + "x", strings.Replace(good, ".", "", 1), "e30.AAAA"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok)
		if err != nil {
			return
		}
		if c.Uid == "" {
			t.Fatalf("accepted a token without uid: %q", tok)
		}
		again, err := s.Sign(c.Uid, c.Sid)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Verify(again); err != nil {
			t.Fatalf("re-signed claims refused: %v", err)
		}
	})
}
