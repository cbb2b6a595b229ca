package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/testwait"
)

// lockedBuffer is a log sink shared by Run's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// runAllInOne runs the all-in-one role with its embedded Redis until the
// test ends, and returns its HTTP address and the Redis URL its start-up
// log shows.
func runAllInOne(t *testing.T, args ...string) (httpAddr, loggedURL string) {
	t.Helper()
	cfg, err := config.Load("chatgate", append([]string{"--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0"}, args...),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan Started, 1), make(chan struct{})
	var runErr error // written before done closes
	go func() {
		defer close(done)
		runErr = Run(ctx, RoleAll, cfg, log, func(s Started) { started <- s })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("Run: %v", runErr)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return within 20s")
		}
	})
	var st Started
	select {
	case st = <-started:
	case <-done:
		t.Fatalf("Run ended before serving: %v\n%s", runErr, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not start within 20s")
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct {
			RedisURL string `json:"redis_url"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.RedisURL != "" {
			return st.HTTPAddr, rec.RedisURL
		}
	}
	t.Fatalf("no start-up log line gives redis_url:\n%s", logs.String())
	return "", ""
}

// TestEmbeddedRedisPassword (issue 10 item 12): the embedded Redis refuses
// clients without its random password; the URL of the start-up log works.
func TestEmbeddedRedisPassword(t *testing.T) {
	t.Parallel()
	_, logged := runAllInOne(t)
	opts, err := redis.ParseURL(logged)
	if err != nil {
		t.Fatalf("logged URL %q: %v", logged, err)
	}
	if len(opts.Password) < 32 {
		t.Fatalf("logged URL %q carries no strong password", logged)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name, password string
		refused        bool
	}{{"logged URL", opts.Password, false}, {"no password", "", true}, {"wrong password", "guess", true}} {
		c := redis.NewClient(&redis.Options{Addr: opts.Addr, Password: tc.password, MaxRetries: -1})
		_, getErr := c.Keys(ctx, "*").Result()
		c.Close()
		if refused := getErr != nil; refused != tc.refused {
			t.Errorf("%s: KEYS * error %v, want refused=%v", tc.name, getErr, tc.refused)
		} else if refused {
			t.Logf("%s: refused: %v", tc.name, getErr)
		}
	}
}

// TestEmbeddedRedisKeysExpire (issue 10 item 1): in all-in-one mode TTLs
// count down, so a login ends after --session-ttl and a rate-limit window
// ends (a user who got 429 gets through again).
func TestEmbeddedRedisKeysExpire(t *testing.T) {
	t.Parallel()
	httpAddr, logged := runAllInOne(t, "--session-ttl", "2s", "--login-per-minute", "1")
	opts, err := redis.ParseURL(logged)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	t.Cleanup(func() { _ = rdb.Close() })
	ctx := context.Background()
	base := "http://" + httpAddr

	login := func() (int, []*http.Cookie) {
		res, err := http.Post(base+"/api/login", "application/json", strings.NewReader(`{"name":"Ada","avatar":"cat","bubble":"#e0e7ff"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Cookies()
	}
	// me sends the login cookies by hand: a cookie jar would drop them at
	// their own expiry, which says nothing about the server.
	me := func(cookies []*http.Cookie) int {
		req, _ := http.NewRequest("GET", base+"/api/me", nil)
		for _, c := range cookies {
			req.Header.Add("Cookie", c.Name+"="+c.Value)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	status, cookies := login()
	if status != 200 || len(cookies) == 0 {
		t.Fatalf("login: %d, cookies %v", status, cookies)
	}
	if st := me(cookies); st != 200 {
		t.Fatalf("me right after login: %d", st)
	}
	if st, _ := login(); st != 429 {
		t.Fatalf("second login within the minute: %d, want 429", st)
	}

	// The login ends after --session-ttl (2s).
	start := time.Now()
	testwait.For(t, 10*time.Second, "the login to expire", func() error {
		if st := me(cookies); st != 401 {
			return fmt.Errorf("GET /api/me answers %d", st)
		}
		return nil
	})
	t.Logf("login expired %v after it began (--session-ttl 2s)", time.Since(start).Round(10*time.Millisecond))

	// The rate-limit window counts down: its counter's TTL drops...
	keys, err := rdb.Keys(ctx, "*limit:*login*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("login rate-limit counter: %v %v", keys, err)
	}
	first, err := rdb.PTTL(ctx, keys[0]).Result()
	if err != nil || first <= 0 {
		t.Fatalf("counter TTL %v %v", first, err)
	}
	testwait.For(t, 5*time.Second, "the window to count down", func() error {
		if ttl := rdb.PTTL(ctx, keys[0]).Val(); ttl > first-time.Second {
			return fmt.Errorf("TTL %v, was %v", ttl, first)
		}
		return nil
	})
	// ...and when it ends, logins go through again. (Shortened to spare the
	// test most of a minute; what expires it is the embedded clock.)
	if err := rdb.PExpire(ctx, keys[0], time.Second).Err(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, "the 429 window to end", func() error {
		if st, _ := login(); st != 200 {
			return fmt.Errorf("login answers %d", st)
		}
		return nil
	})
}
