package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/token"
)

// signers memoizes one token.Signer per config, so that the gateway and the
// HTTP app of one process share it, including a generated secret.
var signers sync.Map // *config.Config → *signerOnce

type signerOnce struct {
	once sync.Once
	s    *token.Signer
	err  error
}

// tokenSigner returns the connect-token signer of cfg: --token-secret, or,
// when it is empty, a random secret generated once per cfg (all-in-one mode:
// the gateway and the HTTP app of the process share cfg, hence the secret;
// separate processes must be given the same --token-secret).
func tokenSigner(cfg *config.Config) (*token.Signer, error) {
	v, _ := signers.LoadOrStore(cfg, &signerOnce{})
	so := v.(*signerOnce)
	so.once.Do(func() {
		secret := []byte(cfg.TokenSecret)
		if len(secret) == 0 {
			secret = make([]byte, 32)
			if _, err := rand.Read(secret); err != nil {
				so.err = fmt.Errorf("generate token secret: %w", err)
				return
			}
		}
		so.s = token.NewSigner(secret, cfg.TokenTTL)
	})
	return so.s, so.err
}

// Errors of the gateway's connect-token check (close 4001 with the text).
var (
	errNoToken = errors.New("connect token required")
	errRevoked = errors.New("connect token revoked (logged out)")
)

// revocations is what authenticator reads of the chat app's data.
type revocations interface {
	TokenRevoked(ctx context.Context, jti string) (bool, error)
}

var _ revocations = (*chatdata.Store)(nil)

// authenticator returns the gateway's Authenticate hook: the connect token
// from the query (?token=…) is verified (HS256 only, signature, expiry) and
// refused when its id (jti) was revoked (logout); the connection is then
// bound to the token's uid (sub) at connect. Without a token the connection
// is refused unless --allow-unsigned, in which case it connects unbound
// (uid "") and the page binds it through POST /api/bind.
func authenticator(cfg *config.Config, tokens revocations) func(*http.Request) (string, error) {
	return func(r *http.Request) (string, error) {
		tok := r.URL.Query().Get("token")
		if tok == "" {
			if cfg.AllowUnsigned {
				return "", nil
			}
			return "", errNoToken
		}
		signer, err := tokenSigner(cfg)
		if err != nil {
			return "", err
		}
		claims, err := signer.Verify(tok)
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.RedisTimeout)
		revoked, err := tokens.TokenRevoked(ctx, claims.ID)
		cancel()
		if err != nil {
			return "", fmt.Errorf("cannot check connect token: %w", err)
		}
		if revoked {
			return "", errRevoked
		}
		return claims.Uid, nil
	}
}
