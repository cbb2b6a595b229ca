package app

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// Main fails fast, with a clear message and the right exit code, on bad
// input and on a Redis it cannot reach.
func TestMainExitCodes(t *testing.T) {
	// A port with nothing listening: connections are refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		say  string
	}{
		{"help", []string{"--help"}, nil, 0, "--redis-url"},
		{"unknown role", []string{"frobnicate"}, nil, 2, "unknown role"},
		{"unknown flag", []string{"gateway", "--nope"}, nil, 2, "unknown flag --nope"},
		{"bad env value", []string{"gateway"}, map[string]string{"SEND_QUEUE": "many"}, 2, "SEND_QUEUE"},
		{"gateway without redis url", []string{"gateway", "--allow-unsigned"}, nil, 2, "--redis-url"},
		{"http without token secret", []string{"http", "--redis-url", "redis://" + deadAddr}, nil, 2, "--token-secret"},
		{"bad redis url", []string{"gateway", "--allow-unsigned", "--redis-url", "mysql://x"}, nil, 2, "scheme must be"},
		{"rate limit of 0", []string{"--flush-per-minute", "0"}, nil, 2, "--flush-per-minute must not be 0"},
		{"no rooms", []string{"--max-rooms", "-1"}, nil, 2, "--max-rooms must be positive"},
		// A timeout shorter than go-redis's dial retries: they go on after
		// Main returns and must not write to its stderr any more (-race).
		{"unreachable redis", []string{"gateway", "--allow-unsigned", "--redis-url", "redis://" + deadAddr, "--redis-timeout", "300ms"}, nil, 1, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			getenv := func(k string) string { return tt.env[k] }
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			code := Main(ctx, append(tt.args, "--log-format", "text"), getenv, &out, &out)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, tt.code, out.String())
			}
			if !strings.Contains(out.String(), tt.say) {
				t.Fatalf("output does not mention %q:\n%s", tt.say, out.String())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("took %v: must fail fast", d)
			}
		})
	}
}
