package httpapi

import (
	"io/fs"
	"log/slog"
	"net/netip"
	"time"

	"github.com/chatgate/chatgate/internal/token"
)

// Options configures a Server. The zero value is ready to use; each field
// documents its default.
type Options struct {
	// GatewayURL is the public WebSocket URL the page connects to
	// (GET /api/config). Default "": ws://<host of the request>:<GatewayPort>/
	// (wss:// when the page was served over https).
	GatewayURL string
	// GatewayPort is the port of the derived gateway URL. Default 7272.
	GatewayPort int

	// Tokens signs the connect tokens of POST /api/token. Default nil: no
	// tokens ("token" is ""), so gateways must accept unsigned connections
	// and the page binds through POST /api/bind.
	Tokens *token.Signer
	// TokenPerMinute is the connect tokens a user may get per minute (each
	// is remembered with the login until it expires, for logout to revoke).
	// Default 30; negative disables the limit.
	TokenPerMinute int

	// SessionTTL is the lifetime of a login session. Default 24h.
	SessionTTL time.Duration
	// HistoryLen is how many public messages a room keeps. Default 500.
	HistoryLen int
	// MaxRooms caps the number of rooms; creating more answers 409. Default 1000.
	MaxRooms int
	// MaxListedRooms is how many rooms GET /api/rooms lists, the most
	// recently active first. Default 200.
	MaxListedRooms int

	// Rate limits: requests allowed per minute, in fixed one-minute windows
	// counted in Redis (shared by replicas); beyond, 429 with Retry-After.
	// Each is counted per user and, separately, per client IP, except login
	// (per IP only: there is no user yet). Negative disables a limit.

	// LoginPerMinute limits POST /api/login. Default 10.
	LoginPerMinute int
	// SayPerMinute limits POST /api/say. Default 60.
	SayPerMinute int
	// CreateRoomPerMinute limits POST /api/rooms. Default 10.
	CreateRoomPerMinute int
	// FlushPerMinute limits POST /api/flush, which pushes the user list to
	// every member of the room. Default 20.
	FlushPerMinute int
	// BindPerMinute limits POST /api/bind, which pushes a flush (and maybe a
	// join notice) to every member of the room. Default 60.
	BindPerMinute int
	// EnterPerMinute limits POST /api/rooms/{id}/enter, which may push a
	// close notice and a flush to the room left. Default 30.
	EnterPerMinute int
	// MaxBodyBytes is the largest request body; larger answers 413. Default 64 KiB.
	MaxBodyBytes int
	// RequestTimeout bounds the Redis work of one request; when Redis does not
	// answer in time the request answers 503. Default 5s.
	RequestTimeout time.Duration

	// NoticeGroup is the consumer group that turns close events into room
	// notices; replicas sharing it handle each event once. Default "chat-notices".
	NoticeGroup string
	// NoticeClaimIdle is how long a read but unacknowledged close event waits
	// before another replica takes it over. Default 30s.
	NoticeClaimIdle time.Duration
	// DefaultRoom is created by Run when missing, so a fresh install has a
	// room. Default "lobby" named "Lobby"; "-" creates none.
	DefaultRoom string

	// TrustedProxies are the networks of reverse proxies (an ingress) whose
	// X-Forwarded-For, -Proto and -Host headers are believed: the client IP
	// of the per-IP rate limits is then the last X-Forwarded-For address that
	// is not a trusted proxy, and -Proto/-Host shape the gateway URL and the
	// cookie's Secure attribute. Default none: those headers are ignored from
	// every peer, and the peer address is the client.
	TrustedProxies []netip.Prefix
	// CookieSecure says when the login cookie is marked Secure. Default
	// CookieSecureAuto.
	CookieSecure CookieSecure

	// Frontend holds the browser page served at / (index.html at its root).
	// Default nil: API only.
	Frontend fs.FS
	// Logger is the server's logger. Default slog.Default().
	Logger *slog.Logger
}

// CookieSecure is a policy for the login cookie's Secure attribute.
type CookieSecure string

// Cookie policies (--cookie-secure).
const (
	// CookieSecureAuto marks the cookie Secure when the request came over
	// https: TLS to this server, or a trusted proxy's X-Forwarded-Proto: https.
	CookieSecureAuto CookieSecure = "auto"
	// CookieSecureAlways always marks it Secure (the page must be served over https).
	CookieSecureAlways CookieSecure = "always"
	// CookieSecureNever never does (plain-http development behind a TLS proxy that is not trusted).
	CookieSecureNever CookieSecure = "never"
)

func (o *Options) withDefaults() Options {
	c := Options{}
	if o != nil {
		c = *o
	}
	if c.GatewayPort <= 0 {
		c.GatewayPort = 7272
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 24 * time.Hour
	}
	if c.HistoryLen <= 0 {
		c.HistoryLen = 500
	}
	if c.MaxRooms <= 0 {
		c.MaxRooms = 1000
	}
	if c.MaxListedRooms <= 0 {
		c.MaxListedRooms = 200
	}
	for _, r := range []struct {
		v   *int
		def int
	}{{&c.LoginPerMinute, 10}, {&c.SayPerMinute, 60}, {&c.CreateRoomPerMinute, 10},
		{&c.FlushPerMinute, 20}, {&c.BindPerMinute, 60}, {&c.EnterPerMinute, 30}} {
		if *r.v == 0 {
			*r.v = r.def
		}
	}
	if c.TokenPerMinute == 0 {
		c.TokenPerMinute = 30
	}
	if c.CookieSecure == "" {
		c.CookieSecure = CookieSecureAuto
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 5 * time.Second
	}
	if c.NoticeGroup == "" {
		c.NoticeGroup = "chat-notices"
	}
	if c.NoticeClaimIdle <= 0 {
		c.NoticeClaimIdle = 30 * time.Second
	}
	if c.DefaultRoom == "" {
		c.DefaultRoom = "lobby"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
