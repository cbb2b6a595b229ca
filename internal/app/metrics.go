package app

import (
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

// mountMetrics serves GET /metrics on a gateway's mux (same port as the
// WebSocket and the health checks).
func mountMetrics(mux *http.ServeMux, m *metrics.Metrics) {
	mux.Handle("GET /metrics", m.Handler())
}

// fiberMetrics is the HTTP app's GET /metrics handler.
func fiberMetrics(m *metrics.Metrics) fiber.Handler {
	return adaptor.HTTPHandler(m.Handler())
}
