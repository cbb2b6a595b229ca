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

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/httpapi"
	"github.com/chatgate/chatgate/internal/config"
	"github.com/chatgate/chatgate/internal/metrics"
	"github.com/chatgate/chatgate/pushapi"
	"github.com/chatgate/chatgate/session"
)

// Default internal listener addresses (--internal-addr empty): every
// interface in the split roles (probes and Prometheus reach the pod IP),
// loopback only in all-in-one mode (one machine; nothing to expose).
const (
	DefaultInternalAddr         = ":9272"
	DefaultInternalAddrAllInOne = "127.0.0.1:9272"
)

// InternalAddr returns where role's internal listener listens: --internal-addr,
// else the role's default.
func InternalAddr(role string, cfg *config.Config) string {
	switch {
	case cfg.InternalAddr != "":
		return cfg.InternalAddr
	case role == RoleAll:
		return DefaultInternalAddrAllInOne
	}
	return DefaultInternalAddr
}

// listeners owns the sockets Run opens. Run closes them all when it returns:
// after a failed start-up (a later listener could not bind) nothing stays
// open, and after serving the servers have closed them already (closing
// twice is harmless).
type listeners struct{ open []net.Listener }

func (l *listeners) listen(what, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen on %s: %w", what, addr, err)
	}
	l.open = append(l.open, ln)
	return ln, nil
}

func (l *listeners) closeAll() {
	for _, ln := range l.open {
		_ = ln.Close()
	}
}

// readyCheck is one component's readiness; /readyz runs them all in order.
type readyCheck func(context.Context) error

// startInternal listens on the internal address and returns a function that
// serves it until ctx ends. The internal listener is what probes, Prometheus
// and trusted apps use and what no Ingress routes to:
//
//	GET /healthz   200 while the process serves (the public ports have it too)
//	GET /readyz    200 when every check passes (within --redis-timeout), else
//	               503 with the first failure
//	GET /metrics   Prometheus metrics of the whole process
//	/api/push/…    the push API (mountAPIs), when the role serves the chat app
//	               or push is set (the push role)
//	/admin/…       the operator API of the chat app (mountAPIs), with chat
func startInternal(role string, cfg *config.Config, store *session.Store, log *slog.Logger, m *metrics.Metrics, checks []readyCheck, chat *httpapi.Server, push bool, ls *listeners) (string, func(context.Context) error, error) {
	a := fiber.New(fiber.Config{
		AppName:               "chatgate-internal",
		BodyLimit:             cfg.MaxBodyBytes,
		ErrorHandler:          internalErrors(log),
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok\n") })
	a.Get("/readyz", func(c *fiber.Ctx) error {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.RedisTimeout)
		defer cancel()
		for _, check := range checks {
			if err := check(ctx); err != nil {
				return c.Status(fiber.StatusServiceUnavailable).SendString("not ready: " + err.Error() + "\n")
			}
		}
		return c.SendString("ready\n")
	})
	a.Get("/metrics", fiberMetrics(m))
	if chat != nil || push {
		mountAPIs(a, cfg, store, chat, log)
	}
	addr := InternalAddr(role, cfg)
	ln, err := ls.listen("internal", addr)
	if err != nil {
		return "", nil, err
	}
	log.Info("internal listening", "addr", ln.Addr().String())
	run := func(ctx context.Context) error { return serveFiber(ctx, a, ln, "internal", log) }
	return ln.Addr().String(), run, nil
}

// mountAPIs is the one place where the APIs for other apps and operators are
// mounted: on the internal listener, never on a public port. The push API
// lives at /api/push; the chat app's operator API (DELETE /admin/rooms/{id})
// at /admin, with the same bearer keys, when chat is not nil.
func mountAPIs(r fiber.Router, cfg *config.Config, store *session.Store, chat *httpapi.Server, log *slog.Logger) {
	// Bearer keys; no session, no CSRF. It answers 503 push_disabled when
	// --api-keys is empty.
	pushapi.Register(r.Group("/api/push"), store.Push, &pushapi.Options{
		APIKeys:      strings.Split(cfg.APIKeys, ","),
		MaxBodyBytes: cfg.MaxBodyBytes,
		Timeout:      cfg.RedisTimeout,
		Logger:       log,
	})
	if chat != nil {
		chat.RegisterAdmin(r.Group("/admin"), strings.Split(cfg.APIKeys, ","))
	}
}

// internalErrors answers the errors Fiber raises itself (no route, a body
// over BodyLimit refused by fasthttp) in the push API's JSON error shape.
func internalErrors(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, code, msg := fiber.StatusInternalServerError, "internal", "internal error"
		var fe *fiber.Error
		if errors.As(err, &fe) && fe.Code < 500 {
			status, msg = fe.Code, fe.Message
			switch status {
			case fiber.StatusNotFound:
				code = "not_found"
			case fiber.StatusRequestEntityTooLarge:
				code = "body_too_large"
			default:
				code = "http_" + strconv.Itoa(status)
			}
		} else {
			log.Error("internal listener: request failed", "method", c.Method(), "path", c.Path(), "err", err)
		}
		return c.Status(status).JSON(fiber.Map{"error": code, "message": msg})
	}
}

// serveFiber serves a on ln until ctx ends or serving fails, then shuts it
// down within httpShutdownTimeout and waits for the server to return.
func serveFiber(ctx context.Context, a *fiber.App, ln net.Listener, what string, log *slog.Logger) error {
	serveErr := make(chan error, 1)
	go func() { serveErr <- a.Listener(ln) }()
	var err error
	served := false
	select {
	case <-ctx.Done():
		log.Info("shutting down " + what + " listener")
	case err = <-serveErr:
		served = true
		if err == nil {
			err = errors.New("stopped serving")
		}
		err = fmt.Errorf("%s server: %w", what, err)
	}
	shCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	if shErr := a.ShutdownWithContext(shCtx); shErr != nil && err == nil {
		err = fmt.Errorf("%s shutdown: %w", what, shErr)
	}
	if !served {
		// fasthttp's Shutdown closes only the listeners its Serve has taken:
		// one that has not started yet would accept forever. Closing ln
		// makes Listener return in either case.
		_ = ln.Close()
		<-serveErr
	}
	if err != nil && errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
