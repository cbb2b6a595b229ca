package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/chatgate/chatgate/internal/testwait"
	"github.com/chatgate/chatgate/internal/token"
	"github.com/chatgate/chatgate/internal/version"
)

// usageErrRe is the one shape of every usage and settings error (exit 2).
var usageErrRe = regexp.MustCompile(`^chatgate: [^\n]+\nRun "chatgate( \w+)? --help" for the usage and every setting\.\n$`)

// TestMainArgs: the command line — roles, commands, --help, --version — and
// the errors newcomers hit, each saying what to write instead, all in one
// style with exit code 2 (issue 15).
func TestMainArgs(t *testing.T) {
	mr, locked := miniredis.RunT(t), miniredis.RunT(t)
	locked.RequireAuth("hunter2")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "redis://" + ln.Addr().String()
	ln.Close()
	const secret = "cli-test-secret"
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		out    string // stdout contains
		errOut string // stderr contains
	}{
		{name: "help", args: []string{"--help"}, out: "Usage:\n  chatgate [all] [flags]"},
		{name: "help command", args: []string{"help", "http"}, out: "Flags of chatgate http:"},
		{name: "role help", args: []string{"gateway", "--help"}, out: "HTTP app (not used by gateway; accepted and ignored):"},
		{name: "all help shows loopback", args: []string{"-h"}, out: `--http-addr  (env HTTP_ADDR, default "127.0.0.1:8080")`},
		{name: "version", args: []string{"version"}, out: version.Get().String() + "\n"},
		{name: "--version", args: []string{"--version"}, out: version.Get().String() + "\n"},
		{name: "role --version", args: []string{"http", "--version"}, out: version.Get().String() + "\n"},
		{name: "flag before role", args: []string{"--log-level", "debug", "gateway"}, code: 2,
			errOut: `"gateway" after flags: put the role first: chatgate gateway --log-level debug` + "\n" + `Run "chatgate --help"`},
		{name: "flag before command", args: []string{"--allow-unsigned", "check"}, code: 2,
			errOut: "put the command first: chatgate check --allow-unsigned"},
		{name: "check: flag before role", args: []string{"check", "--redis-url", "redis://x:1", "gateway"}, code: 2,
			errOut: "put the role first: chatgate check gateway --redis-url redis://x:1"},
		{name: "quoted in the hint", args: []string{"--ping-data", "hi there", "http"}, code: 2,
			errOut: "put the role first: chatgate http --ping-data 'hi there'"},
		{name: "stray argument", args: []string{"gateway", "extra"}, code: 2, errOut: `unexpected argument "extra"`},
		{name: "duration without unit (env)", args: []string{"gateway"}, env: map[string]string{"PING_INTERVAL": "25"}, code: 2,
			errOut: "chatgate: environment variable PING_INTERVAL: 25 needs a unit, e.g. 25s\n"},
		{name: "duration without unit (flag)", args: []string{"gateway", "--ping-interval", "25"}, code: 2,
			errOut: "chatgate: --ping-interval: 25 needs a unit, e.g. 25s\n"},
		{name: "unknown flag", args: []string{"gateway", "--nope"}, code: 2, errOut: `unknown flag --nope` + "\n" + `Run "chatgate gateway --help"`},
		{name: "unknown role", args: []string{"frob"}, code: 2, errOut: `unknown role or command "frob"`},
		{name: "missing redis url", args: []string{"gateway"}, code: 2, errOut: "--redis-url (REDIS_URL) is required for role gateway"},
		{name: "bad setting", args: []string{"http", "--cookie-secure", "often"}, code: 2, errOut: `--cookie-secure "often": want auto, always or never`},
		{name: "token without uid", args: []string{"token"}, env: map[string]string{"TOKEN_SECRET": secret}, code: 2, errOut: "--uid is required"},
		{name: "token without secret", args: []string{"token", "--uid", "u1"}, code: 2, errOut: "TOKEN_SECRET (or --token-secret) is required"},
		{name: "token ttl without unit", args: []string{"token", "--uid", "u1", "--ttl", "5"}, env: map[string]string{"TOKEN_SECRET": secret}, code: 2,
			errOut: "--ttl: 5 needs a unit, e.g. 5s"},
		{name: "token help", args: []string{"token", "--help"}, out: "Usage: chatgate token --uid UID"},
		{name: "check all (embedded)", args: []string{"check"}, out: "chatgate check: all: settings OK; Redis: embedded"},
		{name: "check unknown role", args: []string{"check", "frob"}, code: 2, errOut: `check: unknown role "frob"`},
		{name: "check bad address", args: []string{"check", "http", "--redis-url", "redis://" + mr.Addr(), "--token-secret", "s", "--http-addr", "nohost"}, code: 2,
			errOut: `listen address "nohost"`},
		{name: "check gateway", args: []string{"check", "gateway", "--allow-unsigned", "--redis-url", "redis://" + mr.Addr()}, out: "chatgate check: gateway: settings OK; Redis at redis://" + mr.Addr() + " answered in"},
		{name: "check hides the password", args: []string{"check", "http", "--token-secret", "s"}, env: map[string]string{"REDIS_URL": "redis://:hunter2@" + locked.Addr()},
			out: "Redis at redis://:xxxxx@" + locked.Addr()},
		{name: "check unreachable redis", args: []string{"check", "gateway", "--allow-unsigned", "--redis-url", deadURL, "--redis-timeout", "1s"}, code: 1,
			errOut: "chatgate check: gateway: session: redis at " + deadURL + " does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			code := Main(ctx, tt.args, func(k string) string { return tt.env[k] }, &stdout, &stderr)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.errOut) {
				t.Fatalf("want stdout with %q and stderr with %q\nstdout: %s\nstderr: %s", tt.out, tt.errOut, stdout.String(), stderr.String())
			}
			if tt.code == 2 && !usageErrRe.MatchString(stderr.String()) {
				t.Fatalf("usage error not in the common style:\n%s", stderr.String())
			}
			if strings.Contains(stderr.String(), "parse error") || strings.Contains(stderr.String(), "flag provided") {
				t.Fatalf("unexplained flag package error:\n%s", stderr.String())
			}
		})
	}
}

// TestMainToken: chatgate token prints a connect token the gateways accept
// (same secret, the given uid and lifetime).
func TestMainToken(t *testing.T) {
	var stdout, stderr bytes.Buffer
	env := map[string]string{"TOKEN_SECRET": "s3cret", "TOKEN_TTL": "2m"}
	if code := Main(context.Background(), []string{"token", "--uid", "u42"}, func(k string) string { return env[k] }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	tok := strings.TrimSuffix(stdout.String(), "\n")
	claims, err := token.NewSigner([]byte("s3cret"), 0).Verify(tok)
	if err != nil || claims.Uid != "u42" {
		t.Fatalf("token %q: %+v %v", tok, claims, err)
	}
	if ttl := claims.Expires.Sub(claims.IssuedAt); ttl != 2*time.Minute {
		t.Fatalf("lifetime %v, want TOKEN_TTL 2m", ttl)
	}
	if _, err := token.NewSigner([]byte("other"), 0).Verify(tok); err == nil {
		t.Fatal("the token verifies with another secret")
	}
}

// TestMainStartupLogs: a started process logs its version and the URLs it
// listens on, in the configured format; all-in-one says it is on loopback
// and how to expose it. go-redis's own lines (its pool's dial failures) go
// through the same logger.
func TestMainStartupLogs(t *testing.T) {
	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- Main(ctx, []string{"--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--log-format", "json"},
			func(string) string { return "" }, &syncBuffer{}, &stderr)
	}()
	t.Cleanup(cancel)
	testwait.For(t, 20*time.Second, "the ready line", func() error {
		if !strings.Contains(stderr.String(), "chat ready") {
			return errors.New(stderr.String())
		}
		return nil
	})
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr.String())
	}
	lines := jsonLines(t, stderr.String())
	start, listen := find(lines, "chatgate starting"), find(lines, "chatgate listening")
	if start == nil || start["version"] != version.Get().Version || start["role"] != "all" {
		t.Fatalf("start-up line %v: want role and version", start)
	}
	urlRe := regexp.MustCompile(`^(ws|http)://127\.0\.0\.1:[1-9][0-9]*/$`)
	if listen == nil || !urlRe.MatchString(str(listen["ws_url"])) || !urlRe.MatchString(str(listen["http_url"])) {
		t.Fatalf("listening line %v: want ws_url and http_url", listen)
	}
	if hint := find(lines, "listening on loopback only; to let other machines in, run: chatgate --ws-addr :7272 --http-addr :8080 (or set WS_ADDR and HTTP_ADDR)"); hint == nil {
		t.Fatalf("no loopback hint:\n%s", stderr.String())
	}

	// go-redis's lines: a running gateway whose Redis goes away (its pool's
	// dial failures). They come from go-redis's own goroutines, so wait for
	// them while the gateway runs.
	mr := miniredis.RunT(t)
	var stderr2 syncBuffer
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done2 := make(chan int, 1)
	go func() {
		done2 <- Main(ctx2, []string{"gateway", "--allow-unsigned", "--redis-url", "redis://" + mr.Addr(), "--ws-addr", "127.0.0.1:0",
			"--internal-addr", "127.0.0.1:0", "--log-format", "json"}, func(string) string { return "" }, &syncBuffer{}, &stderr2)
	}()
	testwait.For(t, 20*time.Second, "the gateway's listening line", func() error {
		if !strings.Contains(stderr2.String(), "chatgate listening") {
			return errors.New("not yet")
		}
		return nil
	})
	mr.Close()
	testwait.For(t, 20*time.Second, "a go-redis dial failure logged through slog", func() error {
		for _, l := range jsonLines(t, stderr2.String()) {
			if l["component"] == "go-redis" && strings.HasPrefix(str(l["msg"]), "connection pool: failed to dial") && l["level"] == "WARN" {
				return nil
			}
		}
		return errors.New(stderr2.String())
	})
	cancel2()
	<-done2
}

// jsonLines decodes every line of a JSON log; a line that is not JSON
// (a logger writing on its own) fails the test.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func find(lines []map[string]any, msg string) map[string]any {
	for _, l := range lines {
		if l["msg"] == msg {
			return l
		}
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }

// syncBuffer is a bytes.Buffer safe for the writers of a running process.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
