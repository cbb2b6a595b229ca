package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/app"
	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/session"
)

// chatDocPHPToken returns the PHP token minter of docs/http-api.md
// (the ```php block after <!-- example: php-token -->).
func chatDocPHPToken(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(pushRepoRoot(t), "docs", "http-api.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example: php-token -->\\s*```php\\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/http-api.md has no php-token example")
	}
	return string(m[1])
}

// chatPHPMint runs the documented script as the docs say
// (TOKEN_SECRET=… php mint-token.php UID) and returns the token it printed.
func chatPHPMint(t *testing.T, script, secret, uid string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), pushDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, phpBinary(t), script, uid)
	cmd.Env = append(os.Environ(), "TOKEN_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("php %s: %v", script, err)
	}
	return strings.TrimSpace(string(out))
}

// TestChatTokenMintedByPHP: a token minted by the PHP snippet of the docs,
// with no chatgate code, is accepted by a real gateway, which binds the
// connection to its uid; the same snippet with another secret is refused,
// and so is the token once its id is revoked the documented way.
func TestChatTokenMintedByPHP(t *testing.T) {
	rs := redistest.Start(t)
	gw := chatRun(t, app.RoleGateway, "--redis-url", rs.URL(), "--redis-prefix", chatPrefix, "--token-secret", chatSecret,
		"--ws-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--gateway-id", "chatphpgw", "--log-format", "text")
	st, err := session.Open(context.Background(), rs.URL(), 5*time.Second, &session.Options{Prefix: chatPrefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	script := filepath.Join(t.TempDir(), "mint-token.php")
	if err := os.WriteFile(script, []byte(chatDocPHPToken(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tok := chatPHPMint(t, script, chatSecret, "php-user-42")
	cid, code, reason := chatDial(t, gw.WSAddr, tok)
	if code != -1 {
		t.Fatalf("PHP-minted token refused: %d %q (token %s)", code, reason, tok)
	}
	if uid, err := st.UidByClient(ctx, cid); err != nil || uid != "php-user-42" {
		t.Fatalf("connection bound to %q (%v), want php-user-42", uid, err)
	}

	if _, code, reason := chatDial(t, gw.WSAddr, chatPHPMint(t, script, "not-the-secret", "php-user-42")); code != 4001 {
		t.Fatalf("token of another secret: %d %q, want 4001", code, reason)
	}

	// Revoke it as the docs say: SET <prefix>revoked:{JTI} 1 EX <seconds>.
	body, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Jti string `json:"jti"`
		Exp int64  `json:"exp"`
	}
	if err := json.Unmarshal(body, &claims); err != nil || claims.Jti == "" {
		t.Fatalf("claims %s: %v", body, err)
	}
	opt, _ := redis.ParseURL(rs.URL())
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Set(ctx, chatPrefix+"revoked:{"+claims.Jti+"}", "1", time.Until(time.Unix(claims.Exp, 0))).Err(); err != nil {
		t.Fatal(err)
	}
	if _, code, reason := chatDial(t, gw.WSAddr, tok); code != 4001 || !strings.Contains(reason, "revoked") {
		t.Fatalf("revoked token: %d %q, want 4001 revoked", code, reason)
	}
}
