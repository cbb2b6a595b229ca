package app

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/token"
	"github.com/chatgate/chatgate/session"
)

func authTestConfig(t *testing.T, args ...string) *config.Config {
	t.Helper()
	cfg, err := config.Load("test", args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestTokenSignerMemoized(t *testing.T) {
	t.Parallel()
	a, b := authTestConfig(t), authTestConfig(t)
	sa, err := tokenSigner(a)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := tokenSigner(a); again != sa {
		t.Fatal("tokenSigner is not memoized per config")
	}
	sb, _ := tokenSigner(b)
	tok, _, _ := sa.Sign("u1")
	if _, err := sb.Verify(tok); !errors.Is(err, token.ErrBadSignature) {
		t.Fatalf("two configs without a secret share one: %v", err)
	}
	c := authTestConfig(t, "--token-secret", "shared")
	d := authTestConfig(t, "--token-secret", "shared")
	sc, _ := tokenSigner(c)
	sd, _ := tokenSigner(d)
	tok, _, _ = sc.Sign("u1")
	if _, err := sd.Verify(tok); err != nil {
		t.Fatalf("same --token-secret, different configs: %v", err)
	}
}

func TestAuthenticator(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	rdb, err := session.Dial(context.Background(), "redis://"+mr.Addr(), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	store := chatdata.New(rdb, nil)
	strict := authTestConfig(t, "--token-secret", "k")
	lax := authTestConfig(t, "--token-secret", "k", "--allow-unsigned")
	signer, _ := tokenSigner(strict)
	ctx := context.Background()
	good, _, _ := signer.Sign("u1")
	revoked, rc, _ := signer.Sign("u2")
	sameLogin, _, _ := signer.Sign("u2")
	if err := store.RecordToken(ctx, "sid2", rc.ID, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := store.EndLogin(ctx, "sid2", time.Hour, time.Minute); err != nil {
		t.Fatal(err)
	}
	forged, _, _ := token.NewSigner([]byte("other"), 0).Sign("u1")
	tests := []struct {
		name    string
		cfg     *config.Config
		tok     string
		wantUid string
		wantErr error
	}{
		{"valid", strict, good, "u1", nil},
		{"missing", strict, "", "", errNoToken},
		{"missing, unsigned allowed", lax, "", "", nil},
		{"valid, unsigned allowed", lax, good, "u1", nil},
		{"forged", strict, forged, "", token.ErrBadSignature},
		{"forged, unsigned allowed", lax, forged, "", token.ErrBadSignature},
		{"logged out", strict, revoked, "", errRevoked},
		{"same uid, token not issued to the ended login", strict, sameLogin, "u2", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/?token="+tc.tok, nil)
			uid, err := authenticator(tc.cfg, store)(r)
			if uid != tc.wantUid || !errors.Is(err, tc.wantErr) {
				t.Fatalf("got %q %v, want %q %v", uid, err, tc.wantUid, tc.wantErr)
			}
		})
	}
	mr.Close()
	if _, err := authenticator(strict, store)(httptest.NewRequest("GET", "/?token="+good, nil)); err == nil {
		t.Fatal("Redis down: a token was accepted without the revocation check")
	}
}
