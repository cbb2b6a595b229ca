package app

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/session"
)

// newMetrics builds the process's Prometheus registry for role and makes
// store report every Redis command to it. Call it once per Run, right after
// session.Open and before any component uses the store.
func newMetrics(role string, store *session.Store) *metrics.Metrics {
	m := metrics.New(&metrics.Options{Role: role})
	store.Instrument(m.ObserveRedis)
	return m
}

// watchGateway exports gw's counters and gauges (connections, queue depth,
// messages, closes, pub/sub reconnects) on m. A failure (a second gateway in
// one registry) is logged: metrics never stop a gateway.
func watchGateway(m *metrics.Metrics, gw *gateway.Gateway, log *slog.Logger) {
	if err := m.WatchGateway(gw); err != nil {
		log.Warn("gateway metrics not exported", "err", err)
	}
}

// fiberMetrics is the internal listener's GET /metrics handler. The request
// it hands to promhttp gets a fresh context: the adaptor's would be the
// fasthttp RequestCtx, whose Done races with the server's Shutdown (fasthttp
// v1.51), and promhttp derives a timeout context from it.
func fiberMetrics(m *metrics.Metrics) fiber.Handler {
	h := m.Handler()
	return adaptor.HTTPHandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.Background()))
	})
}
