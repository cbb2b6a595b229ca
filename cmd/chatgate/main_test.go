package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chatgate/chatgate/internal/redistest"
	"github.com/chatgate/chatgate/internal/token"
)

// releaseLDFlags is the README's release build ("Releases").
const releaseLDFlags = "-X github.com/chatgate/chatgate/internal/version.version=v9.9.9-test " +
	"-X github.com/chatgate/chatgate/internal/version.revision=0123456789abcdef " +
	"-X github.com/chatgate/chatgate/internal/version.date=2026-01-02T03:04:05Z"

// build builds this command into a temporary directory.
func build(t *testing.T, ldflags string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "chatgate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-ldflags", ldflags, "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -ldflags %q: %v\n%s", ldflags, err, out)
	}
	return bin
}

// run runs the binary with only env in its environment and returns its
// exit code, stdout and stderr.
func run(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatalf("chatgate %v: %v", args, err)
	return 0, "", ""
}

// TestBinary runs the built binary's commands end to end: version (release
// build with -ldflags -X, and a plain build), token, check against a real
// redis-server and against a closed port, and a usage error.
func TestBinary(t *testing.T) {
	t.Parallel()
	rel := build(t, releaseLDFlags)
	platform := runtime.GOOS + "/" + runtime.GOARCH
	wantRel := "chatgate v9.9.9-test (revision 0123456789ab, built 2026-01-02T03:04:05Z, " + runtime.Version() + " " + platform + ")\n"
	for _, args := range [][]string{{"version"}, {"--version"}} {
		if code, out, errOut := run(t, rel, nil, args...); code != 0 || out != wantRel {
			t.Errorf("release build %v: exit %d, stdout %q (stderr %q), want %q", args, code, out, errOut, wantRel)
		}
	}
	plain := build(t, "")
	if code, out, _ := run(t, plain, nil, "version"); code != 0 || !strings.HasPrefix(out, "chatgate devel (revision ") || !strings.HasSuffix(out, runtime.Version()+" "+platform+")\n") {
		t.Errorf("plain build: exit %d, %q: want what is known, devel without a release version", code, out)
	}

	const secret = "binary-test-secret"
	code, out, errOut := run(t, rel, []string{"TOKEN_SECRET=" + secret}, "token", "--uid", "u-bin", "--ttl", "90s")
	if code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut)
	}
	claims, err := token.NewSigner([]byte(secret), 0).Verify(strings.TrimSpace(out))
	if err != nil || claims.Uid != "u-bin" || claims.Expires.Sub(claims.IssuedAt) != 90*time.Second {
		t.Fatalf("token %q: %+v %v", out, claims, err)
	}

	rs := redistest.Start(t)
	code, out, errOut = run(t, rel, []string{"REDIS_URL=" + rs.URL()}, "check", "gateway", "--allow-unsigned")
	if code != 0 || !strings.Contains(out, "chatgate check: gateway: settings OK; Redis at "+rs.URL()+" answered in") {
		t.Fatalf("check against redis-server: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "redis://" + ln.Addr().String()
	ln.Close()
	start := time.Now()
	code, out, errOut = run(t, rel, nil, "check", "http", "--redis-url", closed, "--token-secret", "s", "--redis-timeout", "1s")
	if code != 1 || !strings.Contains(errOut, "chatgate check: http: session: redis at "+closed+" does not answer") || out != "" {
		t.Fatalf("check against a closed port: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if strings.Contains(errOut, "pool.go") {
		t.Fatalf("go-redis logged on its own:\n%s", errOut)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("check took %v with --redis-timeout 1s", d)
	}

	code, _, errOut = run(t, rel, nil, "--log-level", "debug", "gateway")
	if code != 2 || !strings.Contains(errOut, "put the role first: chatgate gateway --log-level debug") {
		t.Fatalf("flag before the role: exit %d: %s", code, errOut)
	}
	code, _, errOut = run(t, rel, []string{"PING_INTERVAL=25"}, "check", "gateway")
	if code != 2 || !strings.Contains(errOut, "PING_INTERVAL: 25 needs a unit, e.g. 25s") {
		t.Fatalf("duration without a unit: exit %d: %s", code, errOut)
	}
}
