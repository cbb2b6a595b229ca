package gatewayworker

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"
)

// RegisterOptions configures a Register. The zero value is ready to use.
type RegisterOptions struct {
	// SecretKey is the Register's secretKey, compared with the secret_key of
	// each gateway_connect and worker_connect. Default "": no key.
	SecretKey string
	// AuthTimeout closes a connection that sends nothing for this long after
	// connecting ("Register auth timeout"). Default 10s.
	AuthTimeout time.Duration
	// Refresh is how often the address list is read again while
	// worker_connect connections are open, to re-broadcast it on a change.
	// Default 1s.
	Refresh time.Duration
	// MaxLine bounds one message line in bytes; a longer one is answered
	// like invalid JSON. Default 64 KiB.
	MaxLine int
	// RedisTimeout bounds each read of the address list. Default 5s.
	RedisTimeout time.Duration
	// Logger receives what the Register logs. Default slog.Default().
	Logger *slog.Logger
}

func (o *RegisterOptions) withDefaults() RegisterOptions {
	c := RegisterOptions{}
	if o != nil {
		c = *o
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = 10 * time.Second
	}
	if c.Refresh <= 0 {
		c.Refresh = time.Second
	}
	if c.MaxLine <= 0 {
		c.MaxLine = 64 << 10
	}
	if c.RedisTimeout <= 0 {
		c.RedisTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Register is GatewayWorker's Register over Redis: it hands out the inner
// addresses of the live compatible gateways (compact gateway ids in the
// gateways registry whose liveness key exists). It keeps no state of its
// own, so any number of processes can serve it.
type Register struct {
	gws  Gateways
	opts RegisterOptions
	log  *slog.Logger

	mu      sync.Mutex
	conns   map[*registerConn]struct{} // open connections
	workers map[*registerConn]struct{} // worker_connect connections kept open
	closed  bool
	wg      sync.WaitGroup
}

// NewRegister returns a Register over gws. It does no I/O; Serve starts it.
func NewRegister(gws Gateways, opts *RegisterOptions) *Register {
	o := opts.withDefaults()
	return &Register{gws: gws, opts: o, log: o.Logger.With("component", "gatewayworker-register"),
		conns: map[*registerConn]struct{}{}, workers: map[*registerConn]struct{}{}}
}

// Serve accepts connections on ln until ctx ends, then closes ln and every
// connection and returns nil once their goroutines are done.
func (r *Register) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { _ = ln.Close(); r.closeAll() })
	defer stop()
	r.wg.Add(1)
	go func() { defer r.wg.Done(); r.broadcastLoop(ctx) }()
	var err error
	for {
		var nc net.Conn
		if nc, err = ln.Accept(); err != nil {
			var ne net.Error
			if ctx.Err() == nil && errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			break
		}
		c := &registerConn{r: r, nc: nc, log: r.log.With("peer", nc.RemoteAddr().String())}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			_ = nc.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.mu.Unlock()
		r.wg.Add(1)
		go func() { defer r.wg.Done(); c.serve() }()
	}
	r.closeAll()
	r.wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("gatewayworker: register listener: %w", err)
}

func (r *Register) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for c := range r.conns {
		_ = c.nc.Close()
	}
}

// Addresses returns the inner addresses of the live compatible gateways,
// sorted, as broadcast_addresses lists them.
func (r *Register) Addresses(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.RedisTimeout)
	defer cancel()
	gws, err := r.gws.LiveGateways(ctx)
	if err != nil {
		return nil, err
	}
	out := []string{}
	for _, gw := range gws {
		if addr, ok := AddressOf(gw); ok {
			out = append(out, addr)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// broadcastLine is the broadcast_addresses message for addrs, with its newline.
func broadcastLine(addrs []string) []byte {
	b, _ := json.Marshal(struct {
		Event     string   `json:"event"`
		Addresses []string `json:"addresses"`
	}{"broadcast_addresses", addrs})
	return append(b, '\n')
}

// broadcastLoop re-reads the address list every Refresh while workers are
// connected, and sends it to each worker whose last list differs.
func (r *Register) broadcastLoop(ctx context.Context) {
	t := time.NewTicker(r.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		ws := make([]*registerConn, 0, len(r.workers))
		for c := range r.workers {
			ws = append(ws, c)
		}
		r.mu.Unlock()
		if len(ws) == 0 {
			continue
		}
		addrs, err := r.Addresses(ctx)
		if err != nil {
			r.log.Warn("read gateway addresses", "err", err)
			continue
		}
		line := broadcastLine(addrs)
		for _, c := range ws {
			if err := c.send(line, true); err != nil {
				_ = c.nc.Close()
			}
		}
	}
}

// registerConn is one connection to the Register.
type registerConn struct {
	r   *Register
	nc  net.Conn
	log *slog.Logger

	wmu  sync.Mutex // one writer at a time: the connection and the broadcaster
	sent []byte     // the last address list sent (worker connections)
}

func (c *registerConn) write(line []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(line)
}

func (c *registerConn) writeLocked(line []byte) error {
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.r.opts.AuthTimeout))
	_, err := c.nc.Write(line)
	return err
}

// send writes an address list, unless it is the one last sent and only a
// change is asked for (re-broadcasts).
func (c *registerConn) send(line []byte, onlyChange bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if onlyChange && string(line) == string(c.sent) {
		return nil
	}
	c.sent = line
	return c.writeLocked(line)
}

func (c *registerConn) serve() {
	defer func() {
		c.r.mu.Lock()
		delete(c.r.conns, c)
		delete(c.r.workers, c)
		c.r.mu.Unlock()
		_ = c.nc.Close()
	}()
	br := bufio.NewReaderSize(c.nc, c.r.opts.MaxLine)
	_ = c.nc.SetReadDeadline(time.Now().Add(c.r.opts.AuthTimeout))
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.badRequest(line)
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.log.Info("Register auth timeout: closing")
			}
			return
		}
		_ = c.nc.SetReadDeadline(time.Time{}) // any message ends the auth timeout
		if !c.handle(trimEOL(line)) {
			return
		}
	}
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// handle acts on one message and reports whether to keep the connection.
func (c *registerConn) handle(line []byte) bool {
	var msg struct {
		Event     any `json:"event"`
		SecretKey any `json:"secret_key"`
		Address   any `json:"address"`
	}
	event, ok := "", json.Unmarshal(line, &msg) == nil
	if ok {
		event, ok = msg.Event.(string)
	}
	if !ok || phpEmpty(event) {
		c.badRequest(line)
		return false
	}
	// PHP: a missing (or null) key is "", and !== never equals a non-string.
	key, isStr := msg.SecretKey.(string)
	keyOK := isStr && key == c.r.opts.SecretKey || msg.SecretKey == nil && c.r.opts.SecretKey == ""
	switch event {
	case "gateway_connect":
		addr, _ := msg.Address.(string)
		if phpEmpty(addr) {
			c.log.Warn("gateway_connect without address: closing")
			return false
		}
		if !keyOK {
			c.log.Warn("Register: key does not match: closing", "event", event)
			return false
		}
		// chatgate lists its own gateways, from Redis; a GatewayWorker
		// gateway is accepted but not listed.
		c.log.Info("gateway_connect accepted but not listed: chatgate lists only chatgate gateways", "address", addr)
		return true
	case "worker_connect":
		if !keyOK {
			c.log.Warn("Register: key does not match: closing", "event", event)
			return false
		}
		return c.workerConnect()
	case "ping":
		return true
	}
	c.log.Warn("Register unknown event: closing", "event", event)
	return false
}

// workerConnect answers with the current list and keeps the connection for
// re-broadcasts. If the list cannot be read, the connection is closed
// without a reply (GatewayClient then reports the failure).
func (c *registerConn) workerConnect() bool {
	addrs, err := c.r.Addresses(context.Background())
	if err != nil {
		c.log.Error("read gateway addresses: closing without reply", "err", err)
		return false
	}
	c.r.mu.Lock()
	c.r.workers[c] = struct{}{}
	c.r.mu.Unlock()
	return c.send(broadcastLine(addrs), false) == nil
}

// badRequest answers a line that is not a JSON message with an event as
// GatewayWorker's Register does: one error line, then close.
func (c *registerConn) badRequest(line []byte) {
	host, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	msg := fmt.Sprintf("Bad request for Register service. Request info(IP:%s, Request Buffer:%s)", host, trimEOL(line))
	c.log.Warn("Register: bad request: closing", "line", string(trimEOL(line)))
	if c.write(append([]byte(msg), '\n')) != nil {
		return
	}
	// Closing with unread input makes the kernel send a reset, which can
	// destroy the error line before the client reads it: end our side,
	// then drain briefly.
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		_ = c.nc.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.nc, int64(c.r.opts.MaxLine)))
	}
}
