package pushapi

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/chatgate/chatgate/internal/apikey"
)

// Options configures the push API. The zero value is valid and leaves the
// API disabled.
type Options struct {
	// APIKeys are the accepted keys (Authorization: Bearer <key>). Empty
	// disables the API: every route answers 503 {"error":"push_disabled"}.
	// Blank entries are ignored.
	APIKeys []string
	// MaxBodyBytes bounds a request body; larger answers 413
	// {"error":"body_too_large"}. Default 64 KiB. (The Fiber app's own BodyLimit
	// must be at least this large; fasthttp refuses bigger bodies before any
	// handler runs.)
	MaxBodyBytes int
	// Timeout bounds the Redis work of one request; on expiry the request
	// answers 503 {"error":"unavailable"}, as the chat app does. Default 5s.
	Timeout time.Duration
	// Logger receives internal errors (logged once, here). Default slog.Default().
	Logger *slog.Logger
}

// DefaultMaxBodyBytes is the body limit when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 64 << 10

// DefaultTimeout is the per-request Redis budget when Options.Timeout is 0.
const DefaultTimeout = 5 * time.Second

func (o *Options) withDefaults() Options {
	c := Options{}
	if o != nil {
		c = *o
	}
	keys := make([]string, 0, len(c.APIKeys))
	for _, k := range c.APIKeys {
		if k = strings.TrimSpace(k); k != "" {
			keys = append(keys, k)
		}
	}
	c.APIKeys = keys
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// api holds what the handlers share.
type api struct {
	store Backend
	opts  Options
	keys  *apikey.Set
	log   *slog.Logger
}

// Register adds the push API routes to r (relative paths: the chat app
// mounts r at /api/push). opts may be nil (the API is then disabled).
func Register(r fiber.Router, store Backend, opts *Options) {
	a := &api{store: store, opts: opts.withDefaults()}
	a.log = a.opts.Logger.With("component", "pushapi")
	a.keys = apikey.New(a.opts.APIKeys)
	r.Use(a.guard)
	for _, rt := range a.routes() {
		r.Add(rt.method, rt.path, rt.handler)
	}
	// Anything else under the mount point is a JSON 404, not the app's page.
	r.Use(func(c *fiber.Ctx) error {
		return writeError(c, fiber.StatusNotFound, codeNotFound, "no push API route "+c.Method()+" "+c.Path())
	})
}

// route is one entry of the route table, which docs/push-api.md mirrors.
type route struct {
	method, path string
	handler      fiber.Handler
}

func (a *api) routes() []route {
	return []route{
		{fiber.MethodPost, "/send/all", a.send("", toAll)},
		{fiber.MethodPost, "/send/client", a.send("client_id", toClient)},
		{fiber.MethodPost, "/send/clients", a.send("client_ids", toClients)},
		{fiber.MethodPost, "/send/uid", a.send("uid", toUid)},
		{fiber.MethodPost, "/send/uids", a.send("uids", toUids)},
		{fiber.MethodPost, "/send/group", a.send("group", toGroup)},
		{fiber.MethodPost, "/send/groups", a.send("groups", toGroups)},
		{fiber.MethodPost, "/send/batch", a.sendBatch},
		{fiber.MethodPost, "/bind", a.bind()},
		{fiber.MethodPost, "/unbind", a.unbind()},
		{fiber.MethodPost, "/join", a.join()},
		{fiber.MethodPost, "/leave", a.leave()},
		{fiber.MethodPost, "/ungroup", a.ungroup()},
		{fiber.MethodPost, "/close", a.closeClient},
		{fiber.MethodGet, "/session", a.getSession()},
		{fiber.MethodPost, "/session/set", a.writeSession(false)},
		{fiber.MethodPost, "/session/update", a.writeSession(true)},
		{fiber.MethodGet, "/online", a.isOnline()},
		{fiber.MethodGet, "/uid/online", a.isUidOnline()},
		{fiber.MethodPost, "/uids/online", a.uidsOnline()},
		{fiber.MethodGet, "/uid/clients", a.clientsByUid()},
		{fiber.MethodPost, "/uids/clients", a.clientsByUids()},
		{fiber.MethodGet, "/client/uid", a.uidByClient()},
		{fiber.MethodGet, "/clients", a.clientIDs()},
		{fiber.MethodGet, "/clients/count", a.clientCount()},
		{fiber.MethodGet, "/group/clients", a.groupClients()},
		{fiber.MethodGet, "/group/count", a.groupCount()},
		{fiber.MethodGet, "/group/sessions", a.groupSessions()},
		{fiber.MethodGet, "/group/uids", a.groupUids()},
		{fiber.MethodGet, "/group/uid-count", a.groupUidCount()},
		{fiber.MethodGet, "/groups", a.groupIDs()},
		{fiber.MethodGet, "/uids", a.uids()},
		{fiber.MethodGet, "/uids/count", a.uidCount()},
	}
}

// Routes lists "METHOD /path" for every route Register adds, for docs checks.
func Routes() []string {
	rs := (&api{}).routes()
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.method + " " + r.path
	}
	return out
}

// guard runs before every route: disabled API, body size, then the API key.
// The size check comes before auth so that an oversized body is refused
// without being looked at further.
func (a *api) guard(c *fiber.Ctx) error {
	if a.keys.Empty() {
		return writeError(c, fiber.StatusServiceUnavailable, codeDisabled,
			"the push API is disabled: no API key is configured (--api-keys / API_KEYS)")
	}
	if len(c.Body()) > a.opts.MaxBodyBytes {
		return writeError(c, fiber.StatusRequestEntityTooLarge, codeTooLarge, "request body is larger than the push API limit")
	}
	if !a.keys.Authorized(c.Get(fiber.HeaderAuthorization)) {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="chatgate push API"`)
		return writeError(c, fiber.StatusUnauthorized, codeUnauthorized, "missing or wrong API key (header Authorization: Bearer KEY)")
	}
	return c.Next()
}

// ctx returns the Redis context of one request.
func (a *api) ctx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), a.opts.Timeout)
}
