package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/compress"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	fsession "github.com/gofiber/fiber/v2/middleware/session"

	"github.com/chatgate/chatgate/chatdata"
)

// Server is the chat app. Serve App() and call Run for its lifetime.
type Server struct {
	store Gateways        // push API and events stream (session)
	chat  *chatdata.Store // rooms, history, users, logins, rate limits
	o     Options
	log   *slog.Logger
	app   *fiber.App
	// sessions and secureSessions are one login store (same Redis keys)
	// whose cookies differ only by the Secure attribute; sessionStore picks.
	// tabSessions is the same store again, found by the X-Chatgate-Session
	// header instead of the cookie (tabs.go).
	sessions, secureSessions, tabSessions *fsession.Store
}

// sessionCookie names the login cookie (HttpOnly, SameSite=Lax).
const sessionCookie = "chatgate_session"

// New builds the chat app over store (the push API: bind, join, send) and
// chat (the app's own data). It does no I/O.
func New(store Gateways, chat *chatdata.Store, opts *Options) (*Server, error) {
	if store == nil || chat == nil {
		return nil, errors.New("httpapi: nil store")
	}
	o := opts.withDefaults()
	switch o.CookieSecure {
	case CookieSecureAuto, CookieSecureAlways, CookieSecureNever:
	default:
		return nil, fmt.Errorf("httpapi: cookie policy %q: want auto, always or never", o.CookieSecure)
	}
	s := &Server{store: store, chat: chat, o: o, log: o.Logger.With("component", "httpapi")}
	logins := chat.LoginStorage(o.RequestTimeout)
	sessionConfig := func(secure bool) fsession.Config {
		return fsession.Config{
			Expiration:     o.SessionTTL,
			Storage:        logins,
			KeyLookup:      "cookie:" + sessionCookie,
			CookieHTTPOnly: true,
			CookieSecure:   secure,
			CookieSameSite: fiber.CookieSameSiteLaxMode,
			CookiePath:     "/",
		}
	}
	s.sessions, s.secureSessions = fsession.New(sessionConfig(false)), fsession.New(sessionConfig(true))
	tabConfig := sessionConfig(false)
	tabConfig.KeyLookup = "header:" + tabHeader
	s.tabSessions = fsession.New(tabConfig)
	proxies := make([]string, len(o.TrustedProxies))
	for i, p := range o.TrustedProxies {
		proxies[i] = p.String()
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "chatgate",
		BodyLimit:             o.MaxBodyBytes,
		ErrorHandler:          errorHandler(s.log),
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		// X-Forwarded-Proto and -Host (c.Protocol, c.Hostname) are believed
		// from trusted proxies only; with none configured, from no one. The
		// client IP is clientIP's, not c.IP's (which takes the left-most,
		// client-forged X-Forwarded-For address), so no ProxyHeader.
		EnableTrustedProxyCheck: true,
		TrustedProxies:          proxies,
		JSONEncoder:             marshalJSON,
	})
	s.routes()
	return s, nil
}

// sessionStore is the login store whose cookie suits the request: Secure
// per Options.CookieSecure.
func (s *Server) sessionStore(c *fiber.Ctx) *fsession.Store {
	if s.secureCookie(c) {
		return s.secureSessions
	}
	return s.sessions
}

// secureCookie reports whether the request's cookies are marked Secure
// (Options.CookieSecure).
func (s *Server) secureCookie(c *fiber.Ctx) bool {
	switch s.o.CookieSecure {
	case CookieSecureAlways:
		return true
	case CookieSecureNever:
		return false
	}
	return c.Protocol() == "https" // TLS, or a trusted proxy's X-Forwarded-Proto
}

// App returns the Fiber app: serve it, or add routes to it.
func (s *Server) App() *fiber.App { return s.app }

func (s *Server) routes() {
	a := s.app
	a.Use(recover.New())
	a.Use(securityHeaders)
	a.Use(s.requestContext)
	a.Use(s.clientAddr)
	a.Use(compress.New())
	// Liveness only: /readyz and /metrics are on the process's internal
	// listener (internal/app), which no Ingress routes to.
	a.Get("/healthz", func(c *fiber.Ctx) error { return c.SendString("ok\n") })

	a.Get("/api/config", s.getConfig)
	a.Post("/api/login", s.limit("login", s.o.LoginPerMinute, ipKey), s.login)

	// Every route that pushes to a whole room is rate-limited (issue 10
	// item 4: 300 flushes pushed 14.8 MB to a 40-member room).
	auth := s.requireLogin
	a.Get("/api/me", auth, s.me)
	a.Post("/api/token", auth, s.limit("token", s.o.TokenPerMinute, uidKey), s.connectToken)
	a.Get("/api/rooms", auth, s.listRooms)
	a.Post("/api/rooms", auth, s.limitUserAndIP("create", s.o.CreateRoomPerMinute), s.createRoom)
	a.Post("/api/rooms/:id/enter", auth, s.limitUserAndIP("enter", s.o.EnterPerMinute), s.enterRoom)
	a.Get("/api/rooms/:id/history", auth, s.history)
	a.Post("/api/bind", auth, s.limitUserAndIP("bind", s.o.BindPerMinute), s.bind)
	a.Post("/api/say", auth, s.limitUserAndIP("say", s.o.SayPerMinute), s.say)
	a.Post("/api/flush", auth, s.limitUserAndIP("flush", s.o.FlushPerMinute), s.flush)
	a.Post("/api/logout", auth, s.logout)

	if s.o.Frontend != nil {
		a.Use("/", filesystem.New(filesystem.Config{
			Root:   http.FS(s.o.Frontend),
			Index:  "index.html",
			MaxAge: 300,
			// API paths fall through to any routes added after New and
			// then to the JSON 404.
			Next: func(c *fiber.Ctx) bool { return strings.HasPrefix(c.Path(), "/api/") },
		}))
	}
}

// securityHeaders sets the page's security headers on every response.
func securityHeaders(c *fiber.Ctx) error {
	c.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "same-origin")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	if strings.HasPrefix(c.Path(), "/api/") {
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
	return c.Next()
}

// requestContext gives each request a context bounded by RequestTimeout;
// handlers pass c.UserContext() to every Redis call. It also logs the request.
func (s *Server) requestContext(c *fiber.Ctx) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.o.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	err := c.Next()
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("request", "method", c.Method(), "path", c.Path(), "status", c.Response().StatusCode(),
			"duration", time.Since(start), "err", err)
	}
	return err
}

// ipKey keys a per-IP limit by the client address (clientAddr).
func ipKey(c *fiber.Ctx) string { return "ip:" + clientAddrOf(c) }

func uidKey(c *fiber.Ctx) string {
	if u := currentUser(c); u != nil {
		return "uid:" + u.uid
	}
	return ipKey(c)
}

// limit allows perMinute requests per key in a fixed one-minute window,
// counted in Redis so that replicas share the budget. A negative perMinute
// disables it. Beyond the limit: 429 with Retry-After (seconds).
//
// Fiber's limiter middleware is not used: it needs github.com/tinylib/msgp,
// which is not in go.sum, and it does its storage round trips under a
// process-wide lock; one atomic MULTI per request does the same job.
func (s *Server) limit(name string, perMinute int, key func(*fiber.Ctx) string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.allow(c, name, perMinute, key); err != nil {
			return err
		}
		return c.Next()
	}
}

// limitUserAndIP is limit per user and, separately, per client IP (counters
// <name>-uid and <name>-ip).
func (s *Server) limitUserAndIP(name string, perMinute int) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if err := s.allow(c, name+"-ip", perMinute, ipKey); err != nil {
			return err
		}
		if err := s.allow(c, name+"-uid", perMinute, uidKey); err != nil {
			return err
		}
		return c.Next()
	}
}

// allow counts the request against counter name:key(c) and returns
// errRateLimited (setting Retry-After) when it is over perMinute.
func (s *Server) allow(c *fiber.Ctx, name string, perMinute int, key func(*fiber.Ctx) string) error {
	if perMinute < 0 {
		return nil
	}
	r, err := s.chat.RateLimit(c.UserContext(), name+":"+key(c), perMinute, time.Minute)
	if err != nil {
		return unavailable(err)
	}
	if !r.Allowed {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int((r.RetryAfter+time.Second-1)/time.Second)))
		return errRateLimited
	}
	return nil
}
