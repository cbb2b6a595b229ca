package gateway

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Options configures a Gateway. The zero value is ready to use; each field
// documents its default.
type Options struct {
	// ID names this gateway in client ids and Redis keys: 1..64 of a-z 0-9 - _.
	// Default: a random id (a restarted process is a new gateway). A gateway
	// that starts with an id under which Redis still lists clients (a fixed
	// id reused after a crash) forgets them first, with close events.
	ID string
	// CompactClientIDs gives clients GatewayWorker-style ids: ID, which must
	// then be a compact gateway id (12 hex digits, session.IsCompactGatewayID),
	// followed by 8 hex digits of a random 32-bit number unique among this
	// gateway's live clients (docs/gatewayworker.md). Default false: ID, a
	// dot and 128 random bits.
	CompactClientIDs bool

	// PingInterval is how often the gateway pings each client (GatewayWorker's
	// pingInterval). Default 25s; negative disables heartbeats.
	PingInterval time.Duration
	// PingData is the text frame sent every PingInterval (pingData).
	// Default {"type":"ping"}. NoPingData sends protocol-level pings only.
	PingData   string
	NoPingData bool
	// PingNotResponseLimit closes a client that sent nothing (no frame, no
	// pong to a protocol ping) for more than this many intervals
	// (pingNotResponseLimit). Default 0: never close for silence.
	PingNotResponseLimit int

	// SendQueue bounds the frames queued for one connection; a client that
	// falls this far behind is closed with 1008. Default 256.
	SendQueue int
	// WriteTimeout bounds one write to a client; a client whose socket does not
	// take a write within it is closed. Default 10s.
	WriteTimeout time.Duration
	// WriteCoalesce, when positive, lets a busy connection's frames wait so
	// that they go out together: a frame for a connection last written less
	// than WriteCoalesce ago waits until WriteCoalesce after that write, and
	// everything queued by then goes out in one system call (writev). The
	// first frame after a quiet spell goes out at once, so a connection that
	// gets a frame now and then sees no added latency; a busy one gets at
	// most one write per WriteCoalesce and at most that much added latency.
	// Order is kept, and a close after a send still waits for the send.
	// Held frames never make a reading client look slow: once half of
	// SendQueue is held they are written at once. Keep it short (the
	// command line allows up to 1s): a stopping gateway waits for held
	// frames. Default 0: off (every frame is written as soon as it can be).
	WriteCoalesce time.Duration
	// Engine reads and writes the connections: EngineStd (coder/websocket,
	// one reader goroutine per connection) or EngineNbio (nbio's epoll
	// pollers; no goroutine or buffer per idle connection, see nbio.go).
	// Both behave the same for clients. Default EngineNbio (about 4 KiB
	// per idle connection instead of 12; docs/BENCHMARKS.md).
	Engine string
	// ReadLimit is the largest frame accepted from a client; larger closes
	// with 1009. Default 64 KiB.
	ReadLimit int64

	// FrameRate and FrameBurst budget the frames one client may send: on
	// average FrameRate per second, FrameBurst at once. A client over its
	// budget is closed with 1008 and the frame that exceeded it is dropped.
	// Every frame counts: data frames (each one a message event), heartbeat
	// replies and protocol pings and pongs. Default 10 per second, burst 40:
	// a person chatting sends a frame every few seconds and a page answers a
	// heartbeat every 25s, while one client cannot flood the events stream.
	// Negative FrameRate disables the frame budget.
	FrameRate  int
	FrameBurst int
	// ByteRate and ByteBurst budget the payload bytes one client may send
	// the same way. Default 16 KiB per second, burst 256 KiB (or ReadLimit
	// when that is larger): four frames of the default ReadLimit at once. A
	// single frame larger than ByteBurst always exceeds the budget, so keep
	// ByteBurst at least ReadLimit. Negative ByteRate disables the byte budget.
	ByteRate  int
	ByteBurst int

	// OriginPatterns allows cross-origin pages (host patterns as in
	// coder/websocket AcceptOptions.OriginPatterns). Default: pages served
	// from the gateway's own host name, on any port. "*" allows any origin.
	OriginPatterns []string
	// MaxConnsPerIP bounds concurrent connections from one client IP (see
	// TrustedProxies: behind a proxy that is not trusted, every client has
	// the proxy's IP). Default 500: an office or a school behind one NAT
	// address, each person with a tab or two, stays under it, while one host
	// cannot hold the gateway's file descriptors and memory (about 14 KiB per
	// idle connection). Negative means unlimited.
	MaxConnsPerIP int
	// TrustedProxies are the networks of reverse proxies (an ingress) whose
	// X-Forwarded-For header names the real client. Default none: the peer
	// address is the client.
	TrustedProxies []netip.Prefix

	// Authenticate, when set, is called for each upgrade request; it returns
	// the uid to bind the connection to at connect ("" for none). An error
	// closes the connection with code 4001 and the error text as reason. It
	// must return in bounded time: Run waits for requests in flight.
	Authenticate func(r *http.Request) (uid string, err error)

	// AliveTTL is the lifetime of the gateway's liveness key, refreshed every
	// AliveTTL/3. Survivors treat a gateway whose key expired as crashed.
	// Default 10s.
	AliveTTL time.Duration
	// ResubscribeBackoff caps the wait between attempts to resubscribe to the
	// inbox while Redis is unreachable (session.ListenOptions.MaxBackoff).
	// Default 500ms.
	ResubscribeBackoff time.Duration
	// DrainTimeout bounds graceful shutdown: closing clients with 1012 and
	// removing this gateway's state. Default 10s.
	DrainTimeout time.Duration
	// RedisTimeout bounds each Redis operation the gateway makes. Default 5s.
	RedisTimeout time.Duration

	// Events appends connect, message and close events to the events stream
	// for business workers. Default false.
	Events bool
	// EventsMaxLen caps the events stream, approximately. Default
	// session.DefaultEventsMaxLen.
	EventsMaxLen int64
	// EventsBatch is the most events written to the stream in one pipelined
	// round trip. One writer per gateway takes what has queued while the
	// previous batch was in flight, so under load events cost one round trip
	// per batch, and when idle an event waits for no timer. Default 256.
	EventsBatch int
	// EventsQueue is how many events may wait for the writer. When it is
	// full, a connection's reader waits for room (at most RedisTimeout, then
	// the event is dropped and logged, as a failed XADD was). Default 8192.
	EventsQueue int

	// Recovery, when set, serves recover frames and catches clients up after
	// the inbox resubscribes, from recoverable groups' logs (pass
	// session.Store.Recovery). Default nil: no recovery; a recover frame is
	// an ordinary message.
	Recovery Recovery

	// Hook, when set, is told about every client's connect, messages and
	// close (ClientHook), beside the events stream. Default nil.
	Hook ClientHook
	// NoInitFrame leaves out the {"type":"init","client_id":…} frame the
	// gateway sends each client first, for apps whose own code sends it
	// (a BusinessWorker's Events::onConnect). Default false: it is sent.
	NoInitFrame bool

	// OnInboxLag, when set, is called with the time each envelope spent
	// between its sender and this gateway (for envelopes that carry a
	// timestamp). It must be fast: it runs on the inbox reader.
	OnInboxLag func(time.Duration)

	// Logger is the gateway's logger. Default slog.Default().
	Logger *slog.Logger
}

// DefaultPingData is the heartbeat text frame sent when Options.PingData is empty.
const DefaultPingData = `{"type":"ping"}`

// Defaults of the client limits (see Options).
const (
	DefaultFrameRate     = 10
	DefaultFrameBurst    = 40
	DefaultByteRate      = 16 << 10
	DefaultByteBurst     = 256 << 10
	DefaultMaxConnsPerIP = 500
)

func (o *Options) withDefaults() Options {
	c := Options{}
	if o != nil {
		c = *o
	}
	if c.Engine == "" {
		c.Engine = EngineNbio
	}
	if c.PingInterval == 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.PingData == "" {
		c.PingData = DefaultPingData
	}
	if c.NoPingData {
		c.PingData = ""
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 256
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = 64 << 10
	}
	if c.FrameRate == 0 {
		c.FrameRate = DefaultFrameRate
	}
	if c.FrameBurst <= 0 {
		c.FrameBurst = DefaultFrameBurst
	}
	if c.ByteRate == 0 {
		c.ByteRate = DefaultByteRate
	}
	if c.ByteBurst <= 0 {
		c.ByteBurst = max(DefaultByteBurst, int(c.ReadLimit))
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.AliveTTL <= 0 {
		c.AliveTTL = 10 * time.Second
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = 10 * time.Second
	}
	if c.RedisTimeout <= 0 {
		c.RedisTimeout = 5 * time.Second
	}
	if c.EventsBatch <= 0 {
		c.EventsBatch = DefaultEventsBatch
	}
	if c.EventsQueue <= 0 {
		c.EventsQueue = DefaultEventsQueue
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Defaults of Options.EventsBatch and Options.EventsQueue.
const (
	DefaultEventsBatch = 256
	DefaultEventsQueue = 8192
)
