// Package config holds chatgate's settings: one table of flags, each with an
// environment variable of the same name (--ws-addr / WS_ADDR). Flags win over
// environment variables, which win over defaults. The table is exported so
// that docs and deployment manifests are checked against it.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/chatgate/chatgate/session"
)

// Config is every setting of every role.
type Config struct {
	RedisURL     string
	RedisPrefix  string
	RedisTimeout time.Duration
	EmbeddedAddr string

	WSAddr               string
	GatewayID            string
	PingInterval         time.Duration
	PingData             string
	PingNotResponseLimit int
	SendQueue            int
	WriteTimeout         time.Duration
	WriteCoalesce        time.Duration
	WSEngine             string
	ReadLimit            int64
	ClientFrameRate      int
	ClientFrameBurst     int
	ClientByteRate       int
	ClientByteBurst      int
	AllowedOrigins       string
	MaxConnsPerIP        int
	TrustedProxies       string
	AliveTTL             time.Duration
	DrainTimeout         time.Duration
	Events               bool
	EventsMaxLen         int64
	EventsBatch          int
	EventsQueue          int
	GroupLogSize         int
	GroupLogAge          time.Duration
	ResubscribeBackoff   time.Duration

	GWInnerAddr       string
	GWAdvertiseAddr   string
	GWSecretKey       string
	GWRegisterAddr    string
	GWMaxPacket       int
	GWOrderWait       time.Duration
	GWRegisterTimeout time.Duration
	GWRegisterRefresh time.Duration
	GWRegisterMaxLine int
	GWWorkerBuffer    int
	GWWorkerPing      time.Duration
	InitFrame         bool

	HTTPAddr       string
	GatewayURL     string
	TokenSecret    string
	TokenTTL       time.Duration
	TokenPerMinute int
	CookieSecure   string
	AllowUnsigned  bool
	APIKeys        string
	SessionTTL     time.Duration
	HistoryLen     int
	LoginPerMinute int
	SayPerMinute   int
	MaxBodyBytes   int
	ReaperInterval time.Duration

	MaxRooms            int
	MaxListedRooms      int
	CreateRoomPerMinute int
	FlushPerMinute      int
	BindPerMinute       int
	EnterPerMinute      int

	LogFormat string
	LogLevel  string

	// InternalAddr is the internal listener (/metrics, /readyz, push API);
	// empty means the role's default (app.InternalAddr).
	InternalAddr string
}

// Flag describes one setting as --help and docs/config.md show it.
type Flag struct {
	Name    string // flag name, without dashes
	Env     string // environment variable
	Default string
	Usage   string
	// Group is the title of the --help section that lists the flag
	// (help.go: which roles use it).
	Group string
	// RoleDefaults are the roles whose default differs from Default
	// (all-in-one listens on loopback), role → default; nil when none.
	RoleDefaults map[string]string
}

// EnvName returns the environment variable for a flag name: ws-addr → WS_ADDR.
func EnvName(flagName string) string {
	return strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (c *Config) bind(fs *flag.FlagSet) {
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis URL: redis://host:6379/0, redis://sentinel:26379?master_name=NAME, redis-cluster://host:7000?addr=host2:7000. Empty in all-in-one mode: start an embedded in-memory Redis")
	fs.StringVar(&c.RedisPrefix, "redis-prefix", session.DefaultPrefix, "prefix of every Redis key and channel")
	fs.DurationVar(&c.RedisTimeout, "redis-timeout", 5*time.Second, "timeout of each Redis operation and of the start-up check")
	fs.StringVar(&c.EmbeddedAddr, "embedded-redis-addr", "127.0.0.1:0", "all-in-one mode: where the embedded Redis listens (loopback; it requires a random password: the start-up log prints its URL with it)")

	fs.StringVar(&c.WSAddr, "ws-addr", ":7272", "gateway listen address (the WebSocket, plus /healthz); all-in-one listens on loopback only unless given, e.g. :7272 for every interface")
	fs.StringVar(&c.GatewayID, "gateway-id", "", "gateway id (a-z 0-9 - _); empty: random per process")
	fs.DurationVar(&c.PingInterval, "ping-interval", 25*time.Second, "heartbeat interval; 0 or negative disables heartbeats")
	fs.StringVar(&c.PingData, "ping-data", `{"type":"ping"}`, `text frame sent every ping interval; "" sends protocol pings only`)
	fs.IntVar(&c.PingNotResponseLimit, "ping-not-response-limit", 2, "close a client silent (no frame, no pong) for more than this many intervals; 0 never closes")
	fs.IntVar(&c.SendQueue, "send-queue", 256, "frames queued per connection before a slow client is closed (1008)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 10*time.Second, "close a client whose socket does not take a write within this time")
	fs.DurationVar(&c.WriteCoalesce, "write-coalesce", 2*time.Millisecond, "hold frames for a client written to less than this long ago, and write them together (fewer system calls for busy clients, at most this much added latency); 0: off")
	fs.StringVar(&c.WSEngine, "ws-engine", "nbio", "WebSocket engine: std (coder/websocket, a reader goroutine per connection, about 8 KiB per idle connection) or nbio (epoll through github.com/lesismal/nbio: no goroutine or buffer per idle connection, about 2 KiB)")
	fs.Int64Var(&c.ReadLimit, "read-limit", 64<<10, "largest client frame in bytes; larger closes with 1009")
	fs.IntVar(&c.ClientFrameRate, "client-frame-rate", 10, "frames per second one client may send on average (messages, heartbeat replies, pings); more closes it with 1008; 0 disables")
	fs.IntVar(&c.ClientFrameBurst, "client-frame-burst", 40, "frames one client may send at once before --client-frame-rate applies")
	fs.IntVar(&c.ClientByteRate, "client-byte-rate", 16<<10, "payload bytes per second one client may send on average; more closes it with 1008; 0 disables")
	fs.IntVar(&c.ClientByteBurst, "client-byte-burst", 256<<10, "payload bytes one client may send at once before --client-byte-rate applies; at least --read-limit")
	fs.StringVar(&c.AllowedOrigins, "allowed-origins", "", `comma-separated Origin host patterns allowed to connect (e.g. "chat.example.com,*.example.com"); empty: same host only; "*": any`)
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", 500, "concurrent connections per client IP (behind a proxy, set --trusted-proxies or every client counts as the proxy); 0 is unlimited")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", `comma-separated IPs or CIDRs of reverse proxies (an ingress) whose X-Forwarded-For (client IP, for per-IP limits), X-Forwarded-Proto and X-Forwarded-Host are believed; empty: those headers are ignored and the peer address is the client`)
	fs.DurationVar(&c.AliveTTL, "alive-ttl", 10*time.Second, "gateway liveness key TTL (refreshed every third of it); a crashed gateway is detected after it")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 10*time.Second, "graceful shutdown budget: close clients with 1012 and clean Redis")
	fs.BoolVar(&c.Events, "events", true, "append connect/message/close events to the Redis events stream")
	fs.Int64Var(&c.EventsMaxLen, "events-max-len", 100000, "approximate cap of the events stream")
	fs.IntVar(&c.EventsBatch, "events-batch", 256, "most events one gateway appends to the events stream in one pipelined Redis round trip")
	fs.IntVar(&c.EventsQueue, "events-queue", 8192, "events a gateway holds for its stream writer; when full, a client's reader waits (at most --redis-timeout, then the event is dropped and logged)")
	fs.IntVar(&c.GroupLogSize, "group-log-size", session.DefaultGroupLogSize, "messages a recoverable group's log keeps for recovery (a group's own limit, set with EnableRecovery, wins)")
	fs.DurationVar(&c.GroupLogAge, "group-log-age", session.DefaultGroupLogAge, "how long a recoverable group's log keeps a message for recovery (a group's own limit wins)")
	fs.DurationVar(&c.ResubscribeBackoff, "resubscribe-max-backoff", 500*time.Millisecond, "longest wait between attempts to resubscribe to the inbox while Redis is unreachable: the gateway is back within about this long of Redis answering")

	fs.StringVar(&c.GWInnerAddr, "gw-inner-addr", "", "GatewayWorker compatibility: where the gateway's GatewayProtocol listener listens (e.g. 10.0.0.5:2900); empty: off. The gateway then takes its id from --gw-advertise-addr and gives clients 20-hex ids")
	fs.StringVar(&c.GWAdvertiseAddr, "gw-advertise-addr", "", "GatewayWorker compatibility: the IPv4 a.b.c.d[:port] the Register hands out for this gateway (must reach --gw-inner-addr and be unique); empty: the --gw-inner-addr address when it is a concrete IPv4")
	fs.StringVar(&c.GWSecretKey, "gw-secret-key", "", "GatewayWorker compatibility: the secretKey GatewayClient sends to the Register and the gateways; empty: none")
	fs.StringVar(&c.GWRegisterAddr, "gw-register-addr", "", "GatewayWorker compatibility: where a Register-compatible listener listens (Gateway::$registerAddress; any process, any role); empty: off")
	fs.IntVar(&c.GWMaxPacket, "gw-max-packet", 10<<20, "GatewayWorker compatibility: largest GatewayProtocol packet in bytes; larger closes the connection")
	fs.DurationVar(&c.GWOrderWait, "gw-order-wait", 200*time.Millisecond, "GatewayWorker compatibility: how long a new inner connection waits for an earlier one stalled in the middle of a packet (ordering)")
	fs.DurationVar(&c.GWRegisterTimeout, "gw-register-timeout", 10*time.Second, "GatewayWorker compatibility: the Register closes a connection that sends nothing for this long")
	fs.DurationVar(&c.GWRegisterRefresh, "gw-register-refresh", time.Second, "GatewayWorker compatibility: how often the Register re-reads the gateway list to re-broadcast it to open worker_connect connections")
	fs.IntVar(&c.GWRegisterMaxLine, "gw-register-max-line", 64<<10, "GatewayWorker compatibility: longest Register message line in bytes")
	fs.IntVar(&c.GWWorkerBuffer, "gw-worker-buffer", 10_240_000, "GatewayWorker compatibility: bytes of client events queued for one BusinessWorker link; an event that does not fit is dropped and counted")
	fs.DurationVar(&c.GWWorkerPing, "gw-worker-ping", 25*time.Second, "GatewayWorker compatibility: how often each BusinessWorker link gets a ping packet (finds dead links); 0 disables")
	fs.BoolVar(&c.InitFrame, "init-frame", true, `send each client {"type":"init","client_id":…} first; turn off when the app sends it (a BusinessWorker's Events::onConnect)`)

	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP app listen address (chat page, /api, /healthz); all-in-one listens on loopback only unless given, e.g. :8080 for every interface")
	fs.StringVar(&c.GatewayURL, "gateway-url", "", "public WebSocket URL the page connects to; empty: ws(s)://<host of the page>:<port of --ws-addr>/")
	fs.StringVar(&c.TokenSecret, "token-secret", "", "HMAC secret shared by HTTP app and gateways for connect tokens; empty in all-in-one mode: a random one per process")
	fs.DurationVar(&c.TokenTTL, "token-ttl", 5*time.Minute, "lifetime of a connect token")
	fs.IntVar(&c.TokenPerMinute, "token-per-minute", 30, "connect tokens (POST /api/token) allowed per user per minute (429 beyond); negative disables")
	fs.StringVar(&c.CookieSecure, "cookie-secure", "auto", "Secure attribute of the login cookie: auto (when the page is served over https: TLS, or a trusted proxy's X-Forwarded-Proto), always or never")
	fs.BoolVar(&c.AllowUnsigned, "allow-unsigned", false, "gateways accept connections without a connect token (they bind through POST /api/bind)")
	fs.StringVar(&c.APIKeys, "api-keys", "", "comma-separated API keys for the HTTP push API and the operator API, /admin (Authorization: Bearer KEY); empty disables both")
	fs.DurationVar(&c.SessionTTL, "session-ttl", 24*time.Hour, "login session lifetime (sessions live in Redis)")
	fs.IntVar(&c.HistoryLen, "history-len", 500, "public messages kept per room for history")
	fs.IntVar(&c.LoginPerMinute, "login-per-minute", 10, "logins allowed per client IP per minute (429 beyond); negative disables")
	fs.IntVar(&c.SayPerMinute, "say-per-minute", 60, "messages allowed per user and per IP per minute (429 beyond); negative disables")
	fs.IntVar(&c.CreateRoomPerMinute, "create-room-per-minute", 10, "room creations allowed per user and per IP per minute (429 beyond); negative disables")
	fs.IntVar(&c.FlushPerMinute, "flush-per-minute", 20, "POST /api/flush (the user list pushed to the whole room) allowed per user and per IP per minute (429 beyond); negative disables")
	fs.IntVar(&c.BindPerMinute, "bind-per-minute", 60, "POST /api/bind (a flush pushed to the whole room) allowed per user and per IP per minute (429 beyond); negative disables")
	fs.IntVar(&c.EnterPerMinute, "enter-per-minute", 30, "room changes (POST /api/rooms/{id}/enter) allowed per user and per IP per minute (429 beyond); negative disables")
	fs.IntVar(&c.MaxRooms, "max-rooms", 1000, "most rooms that may exist; creating more answers 409 too_many_rooms")
	fs.IntVar(&c.MaxListedRooms, "max-listed-rooms", 200, "rooms GET /api/rooms lists, the most recently active first")
	fs.IntVar(&c.MaxBodyBytes, "max-body-bytes", 64<<10, "largest HTTP request body; larger answers 413")
	fs.DurationVar(&c.ReaperInterval, "reaper-interval", 3*time.Second, "how often a process looks for crashed gateways to clean up")

	fs.StringVar(&c.InternalAddr, "internal-addr", "", "internal listener, never exposed by the Ingress: /metrics, /readyz, /healthz, the push API (/api/push) in the all, http and push roles, and the admin API in the all and http roles; empty: :9272 in the gateway, http and push roles, 127.0.0.1:9272 in all-in-one mode")

	fs.StringVar(&c.LogFormat, "log-format", "auto", "log format: auto (text on a terminal, JSON otherwise), text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// ErrHelp is returned by Load and LoadRole when --help was asked for.
var ErrHelp = flag.ErrHelp

// Load parses args and the environment (getenv) into a Config with the
// defaults of the split roles (gateway, http); name titles the usage that
// --help writes to out. Commands use LoadRole.
func Load(name string, args []string, getenv func(string) string, out io.Writer) (*Config, error) {
	c, err := LoadRole("", args, getenv)
	if errors.Is(err, ErrHelp) {
		fmt.Fprintf(out, "Usage: %s [flags]\n\n", name)
		WriteFlags(out, "")
	}
	return c, err
}

// LoadRole parses args (flags only) and the environment (getenv) into the
// Config of role: RoleAll, RoleGateway, RoleHTTP, or "" for the defaults of
// the split roles. Flags win over environment variables, which win over
// the role's defaults. It prints nothing; errors are ParseFlags's, then the
// settings' own checks.
func LoadRole(role string, args []string, getenv func(string) string) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("chatgate "+role, flag.ContinueOnError)
	c.bind(fs)
	if err := setRoleDefaults(fs, role); err != nil {
		return nil, err
	}
	env := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { env[f.Name] = EnvName(f.Name) })
	if err := ParseFlags(fs, args, getenv, env); err != nil {
		return nil, err
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []error
	if c.GroupLogSize <= 0 || c.GroupLogAge <= 0 || c.ResubscribeBackoff <= 0 {
		errs = append(errs, errors.New("--group-log-size, --group-log-age and --resubscribe-max-backoff must be positive"))
	}
	if c.SendQueue <= 0 {
		errs = append(errs, errors.New("--send-queue must be positive"))
	}
	if c.ReadLimit <= 0 {
		errs = append(errs, errors.New("--read-limit must be positive"))
	}
	if c.WriteCoalesce < 0 || c.WriteCoalesce > time.Second {
		errs = append(errs, errors.New("--write-coalesce must be between 0 (off) and 1s"))
	}
	if c.WSEngine != "std" && c.WSEngine != "nbio" { // gateway.EngineStd, EngineNbio
		errs = append(errs, fmt.Errorf("--ws-engine %q: want std or nbio", c.WSEngine))
	}
	if c.EventsBatch <= 0 || c.EventsQueue <= 0 {
		errs = append(errs, errors.New("--events-batch and --events-queue must be positive"))
	}
	if c.ClientFrameRate < 0 || c.ClientByteRate < 0 || c.MaxConnsPerIP < 0 {
		errs = append(errs, errors.New("--client-frame-rate, --client-byte-rate and --max-conns-per-ip must be 0 (off) or more"))
	}
	if c.ClientFrameRate > 0 && c.ClientFrameBurst <= 0 {
		errs = append(errs, errors.New("--client-frame-burst must be positive"))
	}
	if c.ClientByteRate > 0 && int64(c.ClientByteBurst) < c.ReadLimit {
		errs = append(errs, errors.New("--client-byte-burst must be at least --read-limit (a frame of --read-limit bytes would always exceed it)"))
	}
	if c.PingNotResponseLimit < 0 {
		errs = append(errs, errors.New("--ping-not-response-limit must be 0 or more"))
	}
	type setting struct {
		name string
		v    int
	}
	for _, r := range []setting{{"login-per-minute", c.LoginPerMinute}, {"say-per-minute", c.SayPerMinute},
		{"create-room-per-minute", c.CreateRoomPerMinute}, {"flush-per-minute", c.FlushPerMinute},
		{"bind-per-minute", c.BindPerMinute}, {"enter-per-minute", c.EnterPerMinute}} {
		if r.v == 0 {
			errs = append(errs, fmt.Errorf("--%s must not be 0 (a negative value disables the limit)", r.name))
		}
	}
	for _, n := range []setting{{"history-len", c.HistoryLen}, {"max-rooms", c.MaxRooms}, {"max-listed-rooms", c.MaxListedRooms}} {
		if n.v <= 0 {
			errs = append(errs, fmt.Errorf("--%s must be positive", n.name))
		}
	}
	if c.AliveTTL < 3*time.Second {
		errs = append(errs, errors.New("--alive-ttl must be at least 3s"))
	}
	if _, err := c.Proxies(); err != nil {
		errs = append(errs, err)
	}
	switch c.CookieSecure {
	case "auto", "always", "never":
	default:
		errs = append(errs, fmt.Errorf("--cookie-secure %q: want auto, always or never", c.CookieSecure))
	}
	if c.GWMaxPacket < 28 || c.GWOrderWait <= 0 || c.GWRegisterTimeout <= 0 || c.GWRegisterRefresh <= 0 || c.GWRegisterMaxLine <= 0 || c.GWWorkerBuffer <= 0 || c.GWWorkerPing < 0 {
		errs = append(errs, errors.New("--gw-max-packet must be at least 28, --gw-order-wait, --gw-register-timeout, --gw-register-refresh, --gw-register-max-line, --gw-worker-buffer positive, and --gw-worker-ping not negative"))
	}
	switch c.LogFormat {
	case "auto", "text", "json":
	default:
		errs = append(errs, fmt.Errorf("--log-format %q: want auto, text or json", c.LogFormat))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("--log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// Proxies parses TrustedProxies.
func (c *Config) Proxies() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !strings.Contains(p, "/") {
			a, err := netip.ParseAddr(p)
			if err != nil {
				return nil, fmt.Errorf("--trusted-proxies %q: %w", p, err)
			}
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		pr, err := netip.ParsePrefix(p)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies %q: %w", p, err)
		}
		out = append(out, pr.Masked())
	}
	return out, nil
}

// Origins splits AllowedOrigins.
func (c *Config) Origins() []string {
	var out []string
	for _, p := range strings.Split(c.AllowedOrigins, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Flags lists every setting with its environment variable, the default of
// the split roles and the roles whose default differs.
func Flags() []Flag { return FlagsFor("") }

// FlagsFor lists every setting with role's defaults (see LoadRole).
func FlagsFor(role string) []Flag {
	fs := flag.NewFlagSet("chatgate", flag.ContinueOnError)
	(&Config{}).bind(fs)
	_ = setRoleDefaults(fs, role)
	var out []Flag
	fs.VisitAll(func(f *flag.Flag) {
		fl := Flag{Name: f.Name, Env: EnvName(f.Name), Default: f.DefValue, Usage: f.Usage, Group: groupOf(f.Name)}
		for r, defs := range roleDefaults {
			if d, ok := defs[f.Name]; ok {
				if fl.RoleDefaults == nil {
					fl.RoleDefaults = map[string]string{}
				}
				fl.RoleDefaults[r] = d
			}
		}
		out = append(out, fl)
	})
	return out
}
