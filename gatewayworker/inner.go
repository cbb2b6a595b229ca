package gatewayworker

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/chatgate/chatgate/session"
)

// InnerOptions configures an Inner listener. GatewayID is required; every
// other field's zero value is its documented default.
type InnerOptions struct {
	// GatewayID is the compact id of the gateway this listener answers for
	// (GatewayID of its advertised address). Required.
	GatewayID string
	// SecretKey is GatewayWorker's secretKey: when set, a connection must
	// send it in a GatewayClient (202) or BusinessWorker (200) auth packet
	// before anything else. Default "": no key, and, as on GatewayWorker, a
	// connection that sends a key anyway is closed.
	SecretKey string
	// MaxPacket bounds one packet in bytes; a larger one closes the
	// connection. Default DefaultMaxPacket (10 MiB, Workerman's limit).
	MaxPacket int
	// CommandTimeout bounds the Redis work of one command, the write of its
	// reply, and how long a new connection waits for earlier ones. Default 5s.
	CommandTimeout time.Duration
	// OrderWait is how long a new connection waits for an earlier one that
	// has stopped sending in the middle of a packet. Default 200ms.
	OrderWait time.Duration
	// WorkerBuffer bounds the bytes of client events queued for one
	// BusinessWorker link; an event that does not fit is dropped and
	// counted. Default DefaultWorkerBuffer (GatewayWorker's
	// sendToWorkerBufferSize).
	WorkerBuffer int
	// WorkerPing is how often each BusinessWorker link gets a ping packet
	// (cmd 201), which also finds dead links. Default 25s; negative: never.
	WorkerPing time.Duration
	// Logger receives what the listener logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultWorkerBuffer is InnerOptions.WorkerBuffer's default, 10,240,000
// bytes (GatewayWorker's sendToWorkerBufferSize).
const DefaultWorkerBuffer = 10_240_000

func (o *InnerOptions) withDefaults() (InnerOptions, error) {
	c := InnerOptions{}
	if o != nil {
		c = *o
	}
	if !session.IsCompactGatewayID(c.GatewayID) {
		return c, fmt.Errorf("gatewayworker: gateway id %q is not a compact gateway id (12 hex digits)", c.GatewayID)
	}
	if c.MaxPacket <= 0 {
		c.MaxPacket = DefaultMaxPacket
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 5 * time.Second
	}
	if c.OrderWait <= 0 {
		c.OrderWait = 200 * time.Millisecond
	}
	if c.WorkerBuffer <= 0 {
		c.WorkerBuffer = DefaultWorkerBuffer
	}
	if c.WorkerPing == 0 {
		c.WorkerPing = 25 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Inner is a gateway's GatewayProtocol listener: it executes GatewayClient
// (and BusinessWorker) commands for the clients of its own gateway.
type Inner struct {
	store Store
	opts  InnerOptions
	gw    string
	log   *slog.Logger

	mu     sync.Mutex
	conns  map[*innerConn]struct{} // open connections
	closed bool
	wg     sync.WaitGroup

	// BusinessWorker links and the clients pinned to them (workers.go).
	localIP   uint32 // the advertised address, for event headers
	localPort uint16
	wmu       sync.Mutex
	links     map[string]*workerLink // by worker key
	pins      map[string]*clientPin  // by client id
	wc        workerCounters
}

// NewInner returns a listener over store. It does no I/O; Serve starts it.
func NewInner(store Store, opts *InnerOptions) (*Inner, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	l := &Inner{store: store, opts: o, gw: o.GatewayID, log: o.Logger.With("component", "gatewayworker-inner"),
		conns: make(map[*innerConn]struct{}), links: map[string]*workerLink{}, pins: map[string]*clientPin{}}
	b, _ := hex.DecodeString(o.GatewayID)
	l.localIP, l.localPort = binary.BigEndian.Uint32(b), binary.BigEndian.Uint16(b[4:])
	return l, nil
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection (a command being executed finishes first) and returns nil once
// their goroutines are done. It returns an error when ln fails otherwise.
func (l *Inner) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close(); l.closeAll() })
	defer stop()
	var err error
	for {
		var nc net.Conn
		nc, err = ln.Accept()
		if err != nil {
			var ne net.Error
			if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond) // out of file descriptors and the like
				continue
			}
			break
		}
		if c := l.accept(nc); c != nil {
			l.wg.Add(1)
			go func() { defer l.wg.Done(); c.serve() }()
		}
	}
	l.closeAll()
	l.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("gatewayworker: inner listener: %w", err)
}

func (l *Inner) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for c := range l.conns {
		_ = c.nc.Close()
	}
}

// accept registers a new connection and notes what it must wait for
// (order.go).
func (l *Inner) accept(nc net.Conn) *innerConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		_ = nc.Close()
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		_ = nc.Close()
		return nil
	}
	c := &innerConn{l: l, nc: nc, rc: rc, prog: newProgress(), authorized: l.opts.SecretKey == "",
		log: l.log.With("peer", nc.RemoteAddr().String())}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = nc.Close()
		return nil
	}
	for e := range l.conns {
		c.earlier = append(c.earlier, orderTarget{e, e.target()})
	}
	l.conns[c] = struct{}{}
	return c
}

func (l *Inner) remove(c *innerConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// innerConn is one connection to the inner listener; its goroutine reads
// and executes packets in order.
type innerConn struct {
	l    *Inner
	nc   net.Conn
	rc   syscall.RawConn
	log  *slog.Logger
	prog *progress

	mu     sync.Mutex // guards pulled and the read system call (sock_*.go)
	pulled int64      // bytes read from the socket so far

	earlier    []orderTarget // connections to wait for before the first packet
	authorized bool

	wmu  sync.Mutex  // one writer at a time: replies and a worker link's events
	link *workerLink // set when the connection authenticated as a BusinessWorker
}

// readChunk is how much one read asks the kernel for.
const readChunk = 16 << 10

func (c *innerConn) serve() {
	defer func() {
		c.prog.close()
		c.l.remove(c)
		_ = c.nc.Close()
		c.dropWorker() // after the close: a blocked event write returns
	}()
	var buf []byte
	chunk := make([]byte, readChunk)
	for {
		for {
			p, n, err := NextPacket(buf, c.l.opts.MaxPacket)
			if err != nil {
				c.log.Warn("closing inner connection", "err", err)
				return
			}
			if n == 0 {
				break
			}
			c.waitEarlier()
			keep := c.handle(p)
			buf = buf[n:]
			c.prog.advance(n)
			if !keep {
				return
			}
		}
		fresh := len(buf) == 0
		if fresh {
			buf = nil // an idle persistent connection keeps no buffer
		}
		c.prog.setIdle(true)
		n, err := c.read(chunk)
		c.prog.setIdle(false)
		buf = append(buf, chunk[:n]...)
		if fresh && n > 0 && c.earlier == nil && c.link == nil {
			c.waitForWorkers()
		}
		if err != nil {
			return // EOF after the last whole packet, or closed by Serve
		}
	}
}

// waitEarlier waits, before the first packet only, for the connections
// accepted before this one to execute what they had received (order.go).
func (c *innerConn) waitEarlier() {
	if c.earlier == nil {
		return
	}
	deadline := time.Now().Add(c.l.opts.CommandTimeout)
	for _, t := range c.earlier {
		if !t.c.prog.waitFor(t.target, c.l.opts.OrderWait, deadline) {
			c.log.Debug("stopped waiting for an earlier connection", "earlier", t.c.nc.RemoteAddr().String())
		}
	}
	c.earlier = nil
}

// waitForWorkers notes, when a request arrives on an idle connection that
// is not a worker link, what every BusinessWorker link will have read once
// it has read its receive buffer; the request waits for them like a new
// connection waits for earlier ones (order.go). A worker's library sends
// its commands on the link and its queries on persistent connections of
// their own, and a query must see the commands sent before it (a
// joinGroup, then getClientIdCountByGroup), as on GatewayWorker's
// single-threaded gateway. Worker links never wait, so waits cannot form
// a cycle.
func (c *innerConn) waitForWorkers() {
	c.l.wmu.Lock()
	defer c.l.wmu.Unlock()
	for _, w := range c.l.links {
		c.earlier = append(c.earlier, orderTarget{w.c, w.c.target()})
	}
}

// handle executes one packet and reports whether to keep the connection.
func (c *innerConn) handle(p *Packet) bool {
	if !c.authorized && p.Cmd != CmdGatewayClientConnect && p.Cmd != CmdWorkerConnect {
		c.log.Warn("unauthorized request: closing", "cmd", p.Cmd)
		return false
	}
	switch p.Cmd {
	case CmdGatewayClientConnect:
		return c.auth(p, "GatewayClient")
	case CmdWorkerConnect:
		if !c.auth(p, "BusinessWorker") {
			return false
		}
		c.becomeWorker(p)
		return true
	}
	h, ok := commands[p.Cmd]
	if !ok {
		// GatewayWorker prints "gateway inner pack err cmd=…" and goes on.
		c.log.Warn("unknown command ignored", "cmd", p.Cmd)
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.l.opts.CommandTimeout)
	defer cancel()
	reply, err := h.run(c.l, ctx, p)
	if err != nil {
		if h.query {
			// No reply: GatewayClient reports the failure (an exception for
			// one gateway, a missing share for all).
			c.log.Error("command failed: closing without reply", "cmd", h.name, "err", err)
			return false
		}
		c.log.Warn("command failed", "cmd", h.name, "connection_id", p.ConnectionID, "err", err)
		return true
	}
	if !h.query {
		return true
	}
	if err := c.write(AppendReply(make([]byte, 0, 4+len(reply)), reply), c.l.opts.CommandTimeout); err != nil {
		c.log.Debug("write reply", "cmd", h.name, "err", err)
		return false
	}
	return true
}

// auth checks an auth packet's key: body {"secret_key":"…"} (GatewayClient)
// or {"worker_key":"…","secret_key":"…"} (BusinessWorker), compared exactly
// with the gateway's key. A mismatch, or a body without a string key, closes
// the connection, even on a gateway without a key (as on GatewayWorker).
func (c *innerConn) auth(p *Packet, who string) bool {
	var body struct {
		SecretKey *string `json:"secret_key"`
	}
	v, _ := p.BodyValue()
	s, _ := v.(string)
	if json.Unmarshal([]byte(s), &body) != nil || body.SecretKey == nil || *body.SecretKey != c.l.opts.SecretKey {
		c.log.Warn(who + " key does not match: closing")
		return false
	}
	c.authorized = true
	return true
}
