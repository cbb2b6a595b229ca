package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/chatgate/chatgate/frontend"
	"github.com/chatgate/chatgate/httpapi"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

// httpShutdownTimeout bounds the graceful shutdown of the HTTP app.
const httpShutdownTimeout = 5 * time.Second

// startHTTP listens on --http-addr and returns a function that serves the
// HTTP app (and runs its close-notice consumer) until ctx ends, then shuts
// it down gracefully. wsAddr is the gateway listener of this process, if any:
// its port is the default port of the gateway URL given to the page. m, when
// not nil, is served at GET /metrics.
func startHTTP(cfg *config.Config, store *session.Store, log *slog.Logger, wsAddr string, m *metrics.Metrics) (string, func(context.Context) error, error) {
	signer, err := tokenSigner(cfg)
	if err != nil {
		return "", nil, err
	}
	if cfg.TokenSecret == "" && wsAddr == "" {
		log.Warn("no --token-secret: connect tokens are signed with a random per-process secret that gateways in other processes cannot verify; give every process the same --token-secret (or run the gateways with --allow-unsigned)")
	}
	proxies, err := cfg.Proxies()
	if err != nil {
		return "", nil, err
	}
	trusted := make([]string, len(proxies))
	for i, p := range proxies {
		trusted[i] = p.String()
	}
	srv, err := httpapi.New(store, &httpapi.Options{
		GatewayURL:     cfg.GatewayURL,
		GatewayPort:    gatewayPort(wsAddr, cfg.WSAddr),
		Tokens:         signer,
		SessionTTL:     cfg.SessionTTL,
		HistoryLen:     cfg.HistoryLen,
		LoginPerMinute: cfg.LoginPerMinute,
		SayPerMinute:   cfg.SayPerMinute,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RedisTimeout,
		TrustedProxies: trusted,
		Frontend:       frontend.Files(),
		Logger:         log,

		MaxRooms:            cfg.MaxRooms,
		MaxListedRooms:      cfg.MaxListedRooms,
		CreateRoomPerMinute: cfg.CreateRoomPerMinute,
		FlushPerMinute:      cfg.FlushPerMinute,
		BindPerMinute:       cfg.BindPerMinute,
		EnterPerMinute:      cfg.EnterPerMinute,
	})
	if err != nil {
		return "", nil, err
	}
	// The push API for other apps (bearer keys; no session, no CSRF): it
	// answers 503 push_disabled when --api-keys is empty.
	pushapi.Register(srv.App().Group("/api/push"), store, &pushapi.Options{
		APIKeys:      strings.Split(cfg.APIKeys, ","),
		MaxBodyBytes: cfg.MaxBodyBytes,
		Timeout:      cfg.RedisTimeout,
		Logger:       log,
	})
	// Operator endpoints (DELETE /admin/rooms/{id}), with the push API's keys.
	srv.RegisterAdmin(srv.App().Group("/admin"), strings.Split(cfg.APIKeys, ","))
	if m != nil {
		srv.App().Get("/metrics", fiberMetrics(m))
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return "", nil, fmt.Errorf("http listen on %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("http app listening", "addr", ln.Addr().String())
	run := func(ctx context.Context) error {
		bgCtx, stopBg := context.WithCancel(context.Background())
		defer stopBg()
		bgDone := make(chan error, 1)
		go func() { bgDone <- srv.Run(bgCtx) }()
		serveErr := make(chan error, 1)
		go func() { serveErr <- srv.App().Listener(ln) }()
		var err error
		select {
		case <-ctx.Done():
			log.Info("shutting down http app")
		case err = <-serveErr:
			err = fmt.Errorf("http server: %w", err)
		}
		shCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
		defer cancel()
		if shErr := srv.App().ShutdownWithContext(shCtx); shErr != nil && err == nil {
			err = fmt.Errorf("http shutdown: %w", shErr)
		}
		stopBg()
		if bgErr := <-bgDone; bgErr != nil && err == nil {
			err = bgErr
		}
		if err != nil && errors.Is(err, net.ErrClosed) {
			err = nil
		}
		return err
	}
	return ln.Addr().String(), run, nil
}

// gatewayPort is the port of this process's gateway listener, else the port
// of --ws-addr, else 7272.
func gatewayPort(wsAddr, cfgAddr string) int {
	for _, a := range []string{wsAddr, cfgAddr} {
		if _, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.Atoi(p); err == nil && n > 0 {
				return n
			}
		}
	}
	return 7272
}
