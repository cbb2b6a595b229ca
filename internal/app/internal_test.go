package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/testwait"
)

const testDeadline = 20 * time.Second // generous: a loaded 2-core machine

// loopbackArgs put every listener of a role on a random loopback port.
var loopbackArgs = []string{"--ws-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0"}

// runInProcess runs role in-process through Run (the real wiring) and returns
// its addresses once it listens; t.Cleanup stops it and waits.
func runInProcess(t *testing.T, role string, args ...string) Started {
	t.Helper()
	cfg, err := config.Load("chatgate "+role, append(append([]string{}, loopbackArgs...), args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan Started, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, role, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s Started) { started <- s })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run(%s): %v", role, err)
			}
		case <-time.After(testDeadline):
			t.Errorf("Run(%s) did not stop within %v", role, testDeadline)
		}
	})
	select {
	case s := <-started:
		return s
	case err := <-done:
		done <- err
		t.Fatalf("Run(%s) ended before serving: %v", role, err)
	case <-time.After(testDeadline):
		t.Fatalf("Run(%s) did not start within %v", role, testDeadline)
	}
	return Started{}
}

type reply struct {
	status int
	body   string
}

func call(t *testing.T, method, url, key, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Timeout: testDeadline}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b)}
}

// waitReady polls the internal /readyz until it answers 200.
func waitReady(t *testing.T, internal string) {
	t.Helper()
	testwait.For(t, testDeadline, "internal /readyz", func() error {
		if r := call(t, "GET", "http://"+internal+"/readyz", "", ""); r.status != http.StatusOK || r.body != "ready\n" {
			return fmt.Errorf("%d %q", r.status, r.body)
		}
		return nil
	})
}

type routeCheck struct {
	name, method, path, key, body string
	status                        int
	want                          string // substring of the body
}

func runChecks(t *testing.T, addr string, checks []routeCheck) {
	t.Helper()
	for _, c := range checks {
		r := call(t, c.method, "http://"+addr+c.path, c.key, c.body)
		if c.status > 0 && r.status != c.status || c.status < 0 && r.status == -c.status || !strings.Contains(r.body, c.want) {
			t.Errorf("%s: %s %s = %d %.300q; want status %d and %q", c.name, c.method, c.path, r.status, r.body, c.status, c.want)
		}
	}
}

const (
	pushSend  = "/api/push/send/all"
	pushBody  = `{"payload":"hi"}`
	pushKey   = "k1"
	bodyLimit = 4096
)

// TestInternalListenerAllInOne: the public ports (HTTP app and gateway)
// serve no /metrics, /readyz or push API; the internal listener serves
// them, with the push API's JSON errors, and its /metrics carries the
// gateway's, Redis' and the process' series.
func TestInternalListenerAllInOne(t *testing.T) {
	t.Parallel()
	st := runInProcess(t, RoleAll, "--api-keys", pushKey, "--max-body-bytes", "4096")
	waitReady(t, st.InternalAddr)
	big := `{"payload":"` + strings.Repeat("x", 2*bodyLimit) + `"}`
	t.Run("public http", func(t *testing.T) {
		runChecks(t, st.HTTPAddr, []routeCheck{
			{"liveness", "GET", "/healthz", "", "", 200, "ok"},
			{"no readiness", "GET", "/readyz", "", "", 404, ""},
			{"no metrics", "GET", "/metrics", "", "", 404, ""},
			{"no push API", "POST", pushSend, pushKey, pushBody, 404, ""},
			{"no push API read", "GET", "/api/push/uids/count", pushKey, "", 404, ""},
		})
	})
	t.Run("public gateway", func(t *testing.T) {
		runChecks(t, st.WSAddr, []routeCheck{
			{"liveness", "GET", "/healthz", "", "", 200, "ok"},
			{"no readiness", "GET", "/readyz", "", "", 404, "internal listener"},
			{"no metrics", "GET", "/metrics", "", "", 404, "internal listener"},
			{"no push API", "POST", pushSend, pushKey, pushBody, -200, ""},
		})
	})
	t.Run("internal", func(t *testing.T) {
		runChecks(t, st.InternalAddr, []routeCheck{
			{"liveness", "GET", "/healthz", "", "", 200, "ok"},
			{"readiness", "GET", "/readyz", "", "", 200, "ready"},
			{"metrics: build", "GET", "/metrics", "", "", 200, `chatgate_build_info{goversion=`},
			{"metrics: role", "GET", "/metrics", "", "", 200, `role="all"`},
			{"metrics: gateway", "GET", "/metrics", "", "", 200, "chatgate_gateway_connections 0"},
			{"metrics: subscribed", "GET", "/metrics", "", "", 200, "chatgate_gateway_subscribed 1"},
			{"metrics: redis", "GET", "/metrics", "", "", 200, `chatgate_redis_command_duration_seconds_count{command="ping"}`},
			{"metrics: runtime", "GET", "/metrics", "", "", 200, "go_goroutines"},
			{"push", "POST", pushSend, pushKey, pushBody, 200, `{"ok":true}`},
			{"push read", "GET", "/api/push/uids/count", pushKey, "", 200, `{"count":0}`},
			{"push without key", "POST", pushSend, "", pushBody, 401, `"error":"unauthorized"`},
			{"push unknown route", "GET", "/api/push/nope", pushKey, "", 404, `"error":"not_found"`},
			{"push body over the limit", "POST", pushSend, pushKey, big, 413, `"error":"body_too_large"`},
			{"unknown path", "GET", "/nope", "", "", 404, `"error":"not_found"`},
		})
	})
}

// TestInternalListenerSplitRoles: each role has its own internal listener;
// the push API is served only where the HTTP app runs, gateway metrics only
// where a gateway runs.
func TestInternalListenerSplitRoles(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	url := "redis://" + mr.Addr() + "/0"
	gw := runInProcess(t, RoleGateway, "--redis-url", url, "--allow-unsigned", "--api-keys", pushKey)
	web := runInProcess(t, RoleHTTP, "--redis-url", url, "--token-secret", "s3cret", "--api-keys", pushKey)
	if gw.HTTPAddr != "" || web.WSAddr != "" || gw.InternalAddr == "" || web.InternalAddr == "" {
		t.Fatalf("started: gateway %+v, http %+v", gw, web)
	}
	waitReady(t, gw.InternalAddr)
	waitReady(t, web.InternalAddr)
	runChecks(t, gw.InternalAddr, []routeCheck{
		{"gateway metrics", "GET", "/metrics", "", "", 200, "chatgate_gateway_connections 0"},
		{"gateway role", "GET", "/metrics", "", "", 200, `role="gateway"`},
		{"no push API on a gateway", "POST", pushSend, pushKey, pushBody, 404, `"error":"not_found"`},
	})
	runChecks(t, web.InternalAddr, []routeCheck{
		{"http role", "GET", "/metrics", "", "", 200, `role="http"`},
		{"push", "POST", pushSend, pushKey, pushBody, 200, `{"ok":true}`},
	})
	runChecks(t, web.HTTPAddr, []routeCheck{
		{"no push API on the public port", "POST", pushSend, pushKey, pushBody, 404, ""},
		{"no metrics on the public port", "GET", "/metrics", "", "", 404, ""},
	})
	if r := call(t, "GET", "http://"+web.InternalAddr+"/metrics", "", ""); strings.Contains(r.body, "chatgate_gateway_connections") {
		t.Error("the http role exports gateway metrics, but runs no gateway")
	}
}

func TestInternalAddrDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, role, flag, want string
	}{
		{"all-in-one: loopback", RoleAll, "", "127.0.0.1:9272"},
		{"gateway: every interface", RoleGateway, "", ":9272"},
		{"http: every interface", RoleHTTP, "", ":9272"},
		{"flag wins", RoleAll, "0.0.0.0:9999", "0.0.0.0:9999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := InternalAddr(tt.role, &config.Config{InternalAddr: tt.flag}); got != tt.want {
				t.Errorf("InternalAddr(%s, %q) = %q, want %q", tt.role, tt.flag, got, tt.want)
			}
		})
	}
}

// addrLog records the address of every "… listening" log line.
type addrLog struct {
	mu    sync.Mutex
	addrs map[string]string // message → addr
}

func (h *addrLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *addrLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *addrLog) WithGroup(string) slog.Handler            { return h }
func (h *addrLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasSuffix(r.Message, " listening") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			h.mu.Lock()
			h.addrs[r.Message] = a.Value.String()
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

// TestStartupFailureClosesListeners: when a listener cannot bind, Run fails
// fast and every listener it had opened before is closed (nothing accepts
// connections for a process that is not running).
func TestStartupFailureClosesListeners(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().String()
	mr := miniredis.RunT(t)
	tests := []struct {
		name, role string
		args       []string
		opened     []string // listeners opened before the failing one
		failure    string
	}{
		{"http cannot bind", RoleAll, []string{"--http-addr", taken},
			[]string{"gateway listening"}, "http listen on " + taken},
		{"internal cannot bind (all)", RoleAll, []string{"--internal-addr", taken},
			[]string{"gateway listening", "http app listening"}, "internal listen on " + taken},
		{"internal cannot bind (gateway)", RoleGateway, []string{"--internal-addr", taken, "--redis-url", "redis://" + mr.Addr(), "--allow-unsigned"},
			[]string{"gateway listening"}, "internal listen on " + taken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load("chatgate", append(append([]string{}, loopbackArgs...), tt.args...), func(string) string { return "" }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			h := &addrLog{addrs: map[string]string{}}
			ctx, cancel := context.WithTimeout(context.Background(), testDeadline)
			defer cancel()
			err = Run(ctx, tt.role, cfg, slog.New(h), func(Started) { t.Error("started despite a listener that cannot bind") })
			if err == nil || !strings.Contains(err.Error(), tt.failure) {
				t.Fatalf("Run = %v, want an error about %q", err, tt.failure)
			}
			for _, msg := range tt.opened {
				addr := h.addrs[msg]
				if addr == "" {
					t.Fatalf("no %q log line: the listener under test was never opened (%v)", msg, h.addrs)
				}
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err == nil {
					c.Close()
					t.Errorf("%s (%s) still accepts connections after Run failed: the listener leaked", msg, addr)
				} else if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("dial %s: %v, want connection refused", addr, err)
				}
			}
		})
	}
}

// TestInternalListenerOutlivesTheDrain: on shutdown the internal listener
// keeps answering while the gateway drains (readiness 503 "draining",
// metrics still scraped) and closes only when everything else stopped.
func TestInternalListenerOutlivesTheDrain(t *testing.T) {
	t.Parallel()
	mr := miniredis.RunT(t)
	cfg, err := config.Load("chatgate gateway", append(append([]string{}, loopbackArgs...),
		"--redis-url", "redis://"+mr.Addr(), "--allow-unsigned", "--drain-timeout", "3s", "--ping-interval", "0"),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan Started, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, RoleGateway, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(s Started) { started <- s })
	}()
	var st Started
	select {
	case st = <-started:
	case err := <-done:
		t.Fatalf("Run ended before serving: %v", err)
	case <-time.After(testDeadline):
		t.Fatal("Run did not start")
	}
	waitReady(t, st.InternalAddr)
	// A client that never reads again: the gateway's 1012 close handshake
	// waits for it, so the drain lasts until --drain-timeout.
	dctx, dcancel := context.WithTimeout(context.Background(), testDeadline)
	defer dcancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+st.WSAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(dctx); err != nil {
		t.Fatalf("read init frame: %v", err)
	}
	cancel()
	sawDraining := false
	for !sawDraining {
		select {
		case err := <-done:
			t.Fatalf("Run returned (%v) before the internal listener reported the drain", err)
		default:
		}
		r := call(t, "GET", "http://"+st.InternalAddr+"/readyz", "", "")
		sawDraining = r.status == http.StatusServiceUnavailable && strings.Contains(r.body, "draining")
		time.Sleep(10 * time.Millisecond)
	}
	if r := call(t, "GET", "http://"+st.InternalAddr+"/metrics", "", ""); !strings.Contains(r.body, "chatgate_gateway_connections 1") {
		t.Errorf("metrics during the drain: %.300q, want the draining connection", r.body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(testDeadline):
		t.Fatal("Run did not return after the drain")
	}
	if c, err := net.DialTimeout("tcp", st.InternalAddr, 2*time.Second); err == nil {
		c.Close()
		t.Error("the internal listener still accepts after Run returned")
	}
}
