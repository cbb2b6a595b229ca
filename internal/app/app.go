// Package app wires chatgate's roles from a config: it is the only place
// that knows every component (session, gateway, embedded Redis), so cmd
// stays a thin main and tests can run the real wiring in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/session"
)

// Roles a process can run (config.Roles).
const (
	RoleAll     = config.RoleAll     // embedded Redis (when no URL) + gateway (+ HTTP app)
	RoleGateway = config.RoleGateway // a gateway only
	RoleHTTP    = config.RoleHTTP    // the HTTP app only
)

// NewLogger builds the process logger: JSON in containers, text on a terminal.
func NewLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// Started reports the addresses a running process listens on, once it serves.
type Started struct {
	RedisURL string // the Redis in use (the embedded one in all-in-one mode)
	WSAddr   string // gateway listener ("" when the role runs no gateway)
	HTTPAddr string // HTTP app listener ("" when the role runs no HTTP app)
}

// Validate checks the settings a role needs beyond what config checks alone.
func Validate(role string, cfg *config.Config) error {
	switch role {
	case RoleAll, RoleGateway, RoleHTTP:
	default:
		return fmt.Errorf("unknown role %q (want all, gateway or http)", role)
	}
	if role != RoleAll && cfg.RedisURL == "" {
		return errors.New("--redis-url (REDIS_URL) is required for role " + role)
	}
	if cfg.RedisURL != "" {
		if _, err := session.ParseRedisURL(cfg.RedisURL); err != nil {
			return fmt.Errorf("--redis-url (REDIS_URL): %w", err)
		}
	}
	if (role == RoleHTTP || role == RoleGateway && !cfg.AllowUnsigned) && cfg.TokenSecret == "" {
		// A random per-process secret only works when one process both signs
		// (HTTP app) and verifies (gateway) tokens.
		return errors.New("--token-secret (TOKEN_SECRET, shared by gateways and HTTP apps) is required for role " + role + " (a gateway may run with --allow-unsigned instead)")
	}
	return nil
}

// Run runs role until ctx ends, then shuts down gracefully. When started is
// not nil it is called once everything listens.
func Run(ctx context.Context, role string, cfg *config.Config, log *slog.Logger, started func(Started)) error {
	if err := Validate(role, cfg); err != nil {
		return err
	}
	redisURL := cfg.RedisURL
	if redisURL == "" {
		mr := miniredis.NewMiniRedis()
		if err := mr.StartAddr(cfg.EmbeddedAddr); err != nil {
			return fmt.Errorf("start embedded redis on %s: %w", cfg.EmbeddedAddr, err)
		}
		defer mr.Close()
		redisURL = "redis://" + mr.Addr() + "/0"
		log.Warn("single-machine mode: embedded in-memory Redis; state is lost on exit. Local apps can push through it",
			"redis_url", redisURL)
	}
	store, err := session.Open(ctx, redisURL, cfg.RedisTimeout, &session.Options{Prefix: cfg.RedisPrefix, Logger: log})
	if err != nil {
		return err
	}
	defer store.Close()
	m := newMetrics(role, store)

	var (
		st    = Started{RedisURL: redisURL}
		parts []func(context.Context) error
	)
	if role == RoleAll || role == RoleGateway {
		addr, run, err := startGateway(cfg, store, log, m)
		if err != nil {
			return err
		}
		st.WSAddr, parts = addr, append(parts, run)
	}
	if role == RoleAll || role == RoleHTTP {
		addr, run, err := startHTTP(cfg, store, log, st.WSAddr, m)
		if err != nil {
			return err
		}
		st.HTTPAddr, parts = addr, append(parts, run)
	}
	// Every process cleans up after crashed gateways (docs/operations.md).
	parts = append(parts, func(ctx context.Context) error {
		return store.RunReaper(ctx, cfg.ReaperInterval, &session.ReaperOptions{
			NoEvents: !cfg.Events, EventsMaxLen: cfg.EventsMaxLen, Logger: log,
		})
	})
	if started != nil {
		started(st)
	}
	return runAll(ctx, parts)
}

// browseAddr turns a listen address into one a browser can open (":8080" →
// "localhost:8080").
func browseAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// runAll runs every part until ctx ends or one fails, then stops them all
// (each part shuts itself down gracefully when its ctx ends) and waits.
func runAll(ctx context.Context, parts []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, len(parts))
	for _, p := range parts {
		go func() {
			err := p(ctx)
			if err != nil {
				cancel()
			}
			errs <- err
		}()
	}
	var first error
	for range parts {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// startGateway listens on --ws-addr and returns a function that serves
// clients until ctx ends, then drains them.
func startGateway(cfg *config.Config, store *session.Store, log *slog.Logger, m *metrics.Metrics) (string, func(context.Context) error, error) {
	pingInterval := cfg.PingInterval
	if pingInterval <= 0 {
		pingInterval = -1 // config: 0 disables; gateway.Options: 0 means default
	}
	proxies, err := cfg.Proxies()
	if err != nil {
		return "", nil, err
	}
	gw, err := gateway.New(store, &gateway.Options{
		ID:                   cfg.GatewayID,
		PingInterval:         pingInterval,
		PingData:             cfg.PingData,
		NoPingData:           cfg.PingData == "",
		PingNotResponseLimit: cfg.PingNotResponseLimit,
		SendQueue:            cfg.SendQueue,
		WriteTimeout:         cfg.WriteTimeout,
		ReadLimit:            cfg.ReadLimit,
		OriginPatterns:       cfg.Origins(),
		MaxConnsPerIP:        cfg.MaxConnsPerIP,
		AliveTTL:             cfg.AliveTTL,
		DrainTimeout:         cfg.DrainTimeout,
		RedisTimeout:         cfg.RedisTimeout,
		TrustedProxies:       proxies,
		Events:               cfg.Events,
		EventsMaxLen:         cfg.EventsMaxLen,
		Authenticate:         authenticator(cfg, store),
		Logger:               log,
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", cfg.WSAddr)
	if err != nil {
		return "", nil, fmt.Errorf("gateway listen on %s: %w", cfg.WSAddr, err)
	}
	srv := &http.Server{Handler: gatewayMux(gw, store, m), ReadHeaderTimeout: 10 * time.Second}
	log.Info("gateway listening", "addr", ln.Addr().String(), "gateway_id", gw.ID())
	run := func(ctx context.Context) error {
		gwCtx, stopGw := context.WithCancel(context.Background())
		defer stopGw()
		gwDone := make(chan error, 1)
		go func() { gwDone <- gw.Run(gwCtx) }()
		serveErr := make(chan error, 1)
		go func() { serveErr <- srv.Serve(ln) }()
		var err error
		select {
		case <-ctx.Done():
			log.Info("shutting down gateway: draining clients")
		case err = <-serveErr:
			err = fmt.Errorf("gateway server: %w", err)
		}
		// Stop accepting first, then drain the hijacked connections (which
		// http.Server.Shutdown does not track).
		shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shCtx)
		stopGw()
		<-gwDone
		return err
	}
	return ln.Addr().String(), run, nil
}

// gatewayMux serves the WebSocket endpoint at / and health checks beside it.
func gatewayMux(gw *gateway.Gateway, store *session.Store, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := gw.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := store.Ping(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mountMetrics(mux, m)
	mux.Handle("/", gw)
	return mux
}
