package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/chatgate/chatgate/frontend"
	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/httpapi"
	"github.com/chatgate/chatgate/session"
)

// TestMetricsHelpers wires the helpers of metrics.go as Run will: the
// gateway's mux and the HTTP app both serve /metrics with the Redis and
// gateway series.
func TestMetricsHelpers(t *testing.T) {
	mr := miniredis.RunT(t)
	ctx := context.Background()
	store, err := session.Open(ctx, "redis://"+mr.Addr()+"/0", 5*time.Second, &session.Options{Prefix: "mh:"})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newMetrics(RoleAll, store)
	if err := store.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	gw, err := gateway.New(store, &gateway.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	watchGateway(m, gw, log)
	watchGateway(m, gw, log) // a second registration is logged, not fatal
	mux := http.NewServeMux()
	mountMetrics(mux, m)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	gwBody := rec.Body.String()

	srv, err := httpapi.New(store, &httpapi.Options{Logger: log, Frontend: frontend.Files()})
	if err != nil {
		t.Fatal(err)
	}
	srv.App().Get("/metrics", fiberMetrics(m))
	resp, err := srv.App().Test(httptest.NewRequest("GET", "/metrics", nil), 10_000)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	for name, got := range map[string]struct {
		code int
		body string
	}{"gateway mux": {rec.Code, gwBody}, "http app": {resp.StatusCode, string(body)}} {
		if got.code != http.StatusOK {
			t.Errorf("%s: GET /metrics = %d", name, got.code)
		}
		for _, want := range []string{
			`chatgate_redis_command_duration_seconds_count{command="ping"}`,
			`chatgate_build_info{`, `role="all"`,
			"chatgate_gateway_connections 0", "chatgate_gateway_subscribed 0", "go_goroutines",
		} {
			if !strings.Contains(got.body, want) {
				t.Errorf("%s: /metrics lacks %s", name, want)
			}
		}
	}
}
