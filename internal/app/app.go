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
	"strings"
	"time"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/gateway"
	"github.com/chatgate/chatgate/httpapi"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/session"
)

// Roles a process can run (config.Roles).
const (
	RoleAll     = config.RoleAll     // embedded Redis (when no URL) + gateway (+ HTTP app)
	RoleGateway = config.RoleGateway // a gateway only
	RoleHTTP    = config.RoleHTTP    // the HTTP app only
	RolePush    = config.RolePush    // the push API only (internal listener)
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
	// InternalAddr is the internal listener: /metrics, /readyz, /healthz,
	// and the push API when the role runs the HTTP app.
	InternalAddr string
	// GatewayWorker compatibility (docs/gatewayworker.md); "" when off.
	GWInnerAddr    string // the gateway's inner address, as the Register hands it out
	GWRegisterAddr string // the Register listener
}

// Validate checks the settings a role needs beyond what config checks alone.
func Validate(role string, cfg *config.Config) error {
	switch role {
	case RoleAll, RoleGateway, RoleHTTP, RolePush:
	default:
		return fmt.Errorf("unknown role %q (want %s)", role, config.RoleList)
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
	if role == RolePush && strings.Trim(cfg.APIKeys, ", ") == "" {
		return errors.New("--api-keys (API_KEYS) is required for role push: the push API is all it serves")
	}
	return validateGatewayWorker(cfg)
}

// Run runs role until ctx ends, then shuts down gracefully. When started is
// not nil it is called once everything listens.
func Run(ctx context.Context, role string, cfg *config.Config, log *slog.Logger, started func(Started)) error {
	if err := Validate(role, cfg); err != nil {
		return err
	}
	redisURL := cfg.RedisURL
	if redisURL == "" {
		er, err := startEmbeddedRedis(cfg.EmbeddedAddr)
		if err != nil {
			return err
		}
		defer er.Close()
		redisURL = er.url
		log.Warn("single-machine mode: embedded in-memory Redis with a random password; state is lost on exit. Local apps can push through it with redis_url (it carries the password)",
			"redis_url", redisURL)
	}
	sopts := &session.Options{Prefix: cfg.RedisPrefix, Logger: log,
		GroupLogSize: cfg.GroupLogSize, GroupLogAge: cfg.GroupLogAge}
	rdb, err := session.Dial(ctx, redisURL, cfg.RedisTimeout, sopts)
	if err != nil {
		return err
	}
	defer rdb.Close()
	// One client, one pool: the gateway protocol's store and the chat app's.
	store, chat := session.New(rdb, sopts), chatdata.New(rdb, &chatdata.Options{Prefix: cfg.RedisPrefix})
	m := newMetrics(role, store)
	// Every listener is opened before anything serves, and all are closed
	// when Run returns: a listener that fails to bind leaves none behind.
	ls := &listeners{}
	defer ls.closeAll()
	compat, err := listenGatewayWorker(role, cfg, store, log, ls)
	if err != nil {
		return err
	}
	st := Started{RedisURL: redisURL, GWInnerAddr: compat.advertise}
	if compat.regLn != nil {
		st.GWRegisterAddr = compat.regLn.Addr().String()
	}
	parts, runInternal, err := startRole(role, cfg, store, chat, log, m, ls, compat, &st)
	if err != nil {
		return err
	}
	parts = append(compat.parts(), parts...)
	if started != nil {
		started(st)
	}
	return runAll(ctx, parts, runInternal)
}

// startRole opens role's listeners (recording their addresses in st) and
// returns the parts to run and the internal listener's run function.
func startRole(role string, cfg *config.Config, store *session.Store, chatData *chatdata.Store, log *slog.Logger, m *metrics.Metrics, ls *listeners, compat *gwCompat, st *Started) ([]func(context.Context) error, func(context.Context) error, error) {
	var (
		parts  []func(context.Context) error
		checks []readyCheck
		chat   *httpapi.Server // the chat app, when this role serves it
	)
	if role == RoleAll || role == RoleGateway {
		gw, addr, run, err := startGateway(cfg, store, chatData, log, m, ls, compat)
		if err != nil {
			return nil, nil, err
		}
		st.WSAddr, parts = addr, append(parts, run)
		checks = append(checks, func(context.Context) error { return gw.Ready() })
	}
	if role == RoleAll || role == RoleHTTP {
		srv, addr, run, err := startHTTP(cfg, store, chatData, log, st.WSAddr, ls)
		if err != nil {
			return nil, nil, err
		}
		st.HTTPAddr, parts, chat = addr, append(parts, run), srv
	}
	checks = append(checks, store.Ping)
	addr, runInternal, err := startInternal(role, cfg, store, log, m, checks, chat, role == RolePush, ls)
	if err != nil {
		return nil, nil, err
	}
	st.InternalAddr = addr
	// Every process cleans up after crashed gateways (docs/operations.md).
	parts = append(parts, func(ctx context.Context) error {
		return store.Reaper.RunReaper(ctx, cfg.ReaperInterval, &session.ReaperOptions{
			Events: cfg.Events, EventsMaxLen: cfg.EventsMaxLen, Logger: log,
			OnPass: m.ObserveReaperPass,
		})
	})
	return parts, runInternal, nil
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
// last (the internal listener) is stopped only once every part has
// returned, so that /readyz (503 "draining") and /metrics stay visible
// while a gateway drains; if last fails, the parts are stopped too.
func runAll(ctx context.Context, parts []func(context.Context) error, last func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lastCtx, stopLast := context.WithCancel(context.Background())
	defer stopLast()
	lastErr := make(chan error, 1)
	go func() {
		err := last(lastCtx)
		if err != nil {
			cancel()
		}
		lastErr <- err
	}()
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
	stopLast()
	if err := <-lastErr; err != nil && first == nil {
		first = err
	}
	return first
}

// startGateway listens on --ws-addr and returns the gateway and a function
// that serves clients until ctx ends, then drains them. The gateway's
// counters and gauges are exported on m.
func startGateway(cfg *config.Config, store *session.Store, chatData *chatdata.Store, log *slog.Logger, m *metrics.Metrics, ls *listeners, compat *gwCompat) (*gateway.Gateway, string, func(context.Context) error, error) {
	pingInterval := cfg.PingInterval
	if pingInterval <= 0 {
		pingInterval = -1 // config: 0 disables; gateway.Options: 0 means default
	}
	proxies, err := cfg.Proxies()
	if err != nil {
		return nil, "", nil, err
	}
	off := func(v int) int { // config: 0 disables a limit; gateway.Options: 0 means default
		if v == 0 {
			return -1
		}
		return v
	}
	opts := &gateway.Options{
		ID:                   cfg.GatewayID,
		PingInterval:         pingInterval,
		PingData:             cfg.PingData,
		NoPingData:           cfg.PingData == "",
		PingNotResponseLimit: cfg.PingNotResponseLimit,
		SendQueue:            cfg.SendQueue,
		WriteTimeout:         cfg.WriteTimeout,
		WriteCoalesce:        cfg.WriteCoalesce,
		Engine:               cfg.WSEngine,
		ReadLimit:            cfg.ReadLimit,
		FrameRate:            off(cfg.ClientFrameRate),
		FrameBurst:           cfg.ClientFrameBurst,
		ByteRate:             off(cfg.ClientByteRate),
		ByteBurst:            cfg.ClientByteBurst,
		OriginPatterns:       cfg.Origins(),
		MaxConnsPerIP:        off(cfg.MaxConnsPerIP),
		AliveTTL:             cfg.AliveTTL,
		DrainTimeout:         cfg.DrainTimeout,
		RedisTimeout:         cfg.RedisTimeout,
		TrustedProxies:       proxies,
		Events:               cfg.Events,
		EventsMaxLen:         cfg.EventsMaxLen,
		EventsBatch:          cfg.EventsBatch,
		EventsQueue:          cfg.EventsQueue,
		ResubscribeBackoff:   cfg.ResubscribeBackoff,
		Authenticate:         authenticator(cfg, chatData),
		OnInboxLag:           m.ObserveInboxLag,
		NoInitFrame:          !cfg.InitFrame,
		Recovery:             store.Recovery,
		Logger:               log,
	}
	compat.gatewayOptions(opts)
	compat.watch(m, log)
	gw, err := gateway.New(store, opts)
	if err != nil {
		return nil, "", nil, err
	}
	watchGateway(m, gw, log)
	ln, err := ls.listen("gateway", cfg.WSAddr)
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: gatewayMux(gw), ReadHeaderTimeout: 10 * time.Second}
	log.Info("gateway listening", "addr", ln.Addr().String(), "gateway_id", gw.ID(), "ws_engine", gw.Engine())
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
	return gw, ln.Addr().String(), run, nil
}

// gatewayMux serves the WebSocket on every path but a few: /healthz (the
// liveness probe), and /readyz and /metrics, which answer 404 here because
// they live on the internal listener (a probe or scraper left pointing at
// the public port fails loudly instead of being offered a WebSocket).
func gatewayMux(gw *gateway.Gateway) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	for _, p := range []string{"/readyz", "/metrics"} {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, p+" is served on the internal listener (--internal-addr), not here", http.StatusNotFound)
		})
	}
	mux.Handle("/", gw)
	return mux
}
