package app

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/chatgate/chatgate/chatdata"
	"github.com/chatgate/chatgate/frontend"
	"github.com/chatgate/chatgate/httpapi"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/session"
)

// httpShutdownTimeout bounds the graceful shutdown of the HTTP app.
const httpShutdownTimeout = 5 * time.Second

// startHTTP listens on --http-addr and returns a function that serves the
// HTTP app (and runs its close-notice consumer) until ctx ends, then shuts
// it down gracefully. wsAddr is the gateway listener of this process, if any:
// its port is the default port of the gateway URL given to the page. The
// push API, the admin API and /metrics are not here: they are on the
// internal listener (startInternal).
func startHTTP(cfg *config.Config, store *session.Store, chatData *chatdata.Store, log *slog.Logger, wsAddr string, ls *listeners) (*httpapi.Server, string, func(context.Context) error, error) {
	signer, err := tokenSigner(cfg)
	if err != nil {
		return nil, "", nil, err
	}
	if cfg.TokenSecret == "" && wsAddr == "" {
		log.Warn("no --token-secret: connect tokens are signed with a random per-process secret that gateways in other processes cannot verify; give every process the same --token-secret (or run the gateways with --allow-unsigned)")
	}
	proxies, err := cfg.Proxies()
	if err != nil {
		return nil, "", nil, err
	}
	srv, err := httpapi.New(store, chatData, &httpapi.Options{
		GatewayURL:     cfg.GatewayURL,
		GatewayPort:    gatewayPort(wsAddr, cfg.WSAddr),
		Tokens:         signer,
		TokenPerMinute: cfg.TokenPerMinute,
		CookieSecure:   httpapi.CookieSecure(cfg.CookieSecure),
		SessionTTL:     cfg.SessionTTL,
		HistoryLen:     cfg.HistoryLen,
		LoginPerMinute: cfg.LoginPerMinute,
		SayPerMinute:   cfg.SayPerMinute,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		RequestTimeout: cfg.RedisTimeout,
		TrustedProxies: proxies,
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
		return nil, "", nil, err
	}
	ln, err := ls.listen("http", cfg.HTTPAddr)
	if err != nil {
		return nil, "", nil, err
	}
	log.Info("http app listening", "addr", ln.Addr().String())
	run := func(ctx context.Context) error {
		bgCtx, stopBg := context.WithCancel(context.Background())
		defer stopBg()
		bgDone := make(chan error, 1)
		go func() { bgDone <- srv.Run(bgCtx) }()
		err := serveFiber(ctx, srv.App(), ln, "http", log)
		stopBg()
		if bgErr := <-bgDone; bgErr != nil && err == nil {
			err = bgErr
		}
		return err
	}
	return srv, ln.Addr().String(), run, nil
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
