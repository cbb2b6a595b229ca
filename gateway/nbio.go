package gateway

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"
)

// Engines (Options.Engine).
const (
	// EngineStd reads each connection on its own goroutine with
	// coder/websocket: about 8 KiB per idle connection (a goroutine stack
	// and its read state).
	EngineStd = "std"
	// EngineNbio reads connections from nbio's epoll pollers
	// (github.com/lesismal/nbio): an idle connection holds no goroutine and
	// no read or write buffer.
	EngineNbio = "nbio"
)

// nbEngine is the "nbio" engine. The upgrade is done as with "std"
// (coder/websocket.Accept: same handshake checks, Origin allowlist and
// refusals); then the socket is handed to nbio's pollers, which parse client
// frames only when epoll reports data, with buffers from nbio's pool.
//
// Handlers run on a goroutine started per burst of frames (execute), in
// order per connection (nbio runs one job list per connection), so a slow
// hook or Redis call holds up only its own client. Writes never block: the
// bytes the socket does not take are kept by nbio until epoll reports it
// writable. The gateway keeps at most one batch there per connection
// (nbConn.writeFrames waits for it to drain), so its send queue still bounds
// a slow client, which is closed with 1008 as with "std", and WriteTimeout
// still drops one whose socket takes nothing. Pongs are skipped while more
// than maxPongBacklog is unsent. nbio's own cap (MaxWriteBufferSize) is left
// off: hitting it would drop the connection without the 1008.
type nbEngine struct {
	g    *Gateway
	eng  *nbhttp.Engine
	up   *nbws.Upgrader
	jobs sync.WaitGroup // handler goroutines (execute)
}

// maxPongBacklog is how many unsent bytes make the gateway skip pongs.
const maxPongBacklog = 64 << 10

// nbReadBuffer is the size of each poller's read buffer.
const nbReadBuffer = 32 << 10

// nbioLogger routes nbio's package-level log (warnings and errors only) to
// slog.Default, once per process: nbio has one logger for all engines.
var nbioLogger sync.Once

func newNBEngine(g *Gateway) *nbEngine {
	nbioLogger.Do(func() { logging.SetLogger(nbioLog{}) })
	e := &nbEngine{g: g}
	e.eng = nbhttp.NewEngine(nbhttp.Config{
		Name: "gateway-" + g.id,
		// A poller reads into one buffer it shares by all its connections.
		ReadBufferSize: nbReadBuffer,
		// Bytes nbio keeps of an incomplete frame plus one read: the
		// largest accepted frame (MessageLengthLimit below refuses larger
		// ones with 1009), its header and what one read may add.
		ReadLimit:         int(g.opts.ReadLimit) + 14 + nbReadBuffer,
		ServerExecutor:    e.execute,
		SupportServerOnly: true, // no pool for nbio's HTTP client
	})
	e.eng.OnWrittenSize(e.written)
	// Text frames are not checked for UTF-8, as with "std": the gateway
	// passes client data on without interpreting it.
	e.eng.CheckUtf8 = func([]byte) bool { return true }
	u := nbws.NewUpgrader()
	u.Engine = e.eng
	u.KeepaliveTime = 0 // the gateway's heartbeat (heartbeat.go) finds dead clients
	u.MessageLengthLimit = int(g.opts.ReadLimit)
	u.SetPingHandler(e.onPing)
	u.SetPongHandler(e.onPong)
	u.SetCloseHandler(e.onCloseFrame)
	u.OnMessage(e.onMessage)
	u.OnClose(e.onClose)
	e.up = u
	return e
}

// start starts nbio's pollers.
func (e *nbEngine) start() error {
	if err := e.eng.Start(); err != nil {
		return fmt.Errorf("gateway: start nbio engine: %w", err)
	}
	return nil
}

// stop closes what connections are left and waits for their handlers.
func (e *nbEngine) stop() {
	e.eng.Stop()
	e.jobs.Wait()
}

// execute runs a connection's handler jobs on a goroutine of their own
// that ends with them: no pool goroutine waits while clients are idle, and a
// handler that blocks (a hook, a Redis call) holds up no other connection.
func (e *nbEngine) execute(f func()) {
	e.jobs.Add(1)
	go func() {
		defer e.jobs.Done()
		f()
	}()
}

// errEarlyData refuses a client that sent frames before the handshake's
// response reached it (RFC 6455 §4.1: a client waits for it).
var errEarlyData = errors.New("gateway: client sent data before the handshake completed")

// adopt hands the upgraded connection to nbio. The connection's frames are
// handled only once the gateway calls serve or refuse.
func (e *nbEngine) adopt(rc *rawConn) (*nbConn, error) {
	if len(rc.pending) > 0 {
		rc.abort()
		return nil, errEarlyData
	}
	tcp, ok := rc.Conn.(*net.TCPConn)
	if !ok {
		rc.abort()
		return nil, fmt.Errorf("gateway: nbio engine needs a TCP connection, not %T", rc.Conn)
	}
	nc, err := nbio.NBConn(tcp) // a dup of the socket; tcp is closed
	if err != nil {
		rc.abort()
		return nil, fmt.Errorf("gateway: hand connection to nbio: %w", err)
	}
	ws := nbws.NewServerConn(e.up, nc, "", false, false)
	ws.Engine = e.eng
	ws.Execute = nc.Execute
	t := &nbConn{nc: nc}
	t.open.Add(1)
	ws.SetSession(t)
	nc.SetSession(ws)
	nc.OnData(onNBData)
	if err := e.eng.AddTransferredConn(nc); err != nil { // it closed nc
		t.open.Done() // no handler may wait for a serve that never comes
		return nil, fmt.Errorf("gateway: add connection to nbio: %w", err)
	}
	return t, nil
}

// onNBData parses what a poller read (shared by every connection, so that
// none holds a closure).
func onNBData(nc *nbio.Conn, data []byte) {
	ws, ok := nc.Session().(*nbws.Conn)
	if !ok {
		_ = nc.Close()
		return
	}
	if err := ws.Parse(data); err != nil {
		_ = nc.CloseWithError(err)
	}
}

// nbConnOf returns the gateway's side of an nbio WebSocket connection.
func nbConnOf(ws *nbws.Conn) *nbConn {
	t, _ := ws.Session().(*nbConn)
	return t
}

// ready waits until the gateway has registered the connection (or refused
// it) and returns it, nil when refused.
func (t *nbConn) ready() *conn {
	t.open.Wait()
	return t.c
}

func (e *nbEngine) onMessage(ws *nbws.Conn, typ nbws.MessageType, data []byte) {
	t := nbConnOf(ws)
	if t == nil {
		return
	}
	if c := t.ready(); c != nil {
		e.g.readFrame(c, typ == nbws.TextMessage, data)
	}
}

func (e *nbEngine) onPing(ws *nbws.Conn, data string) {
	t := nbConnOf(ws)
	if t == nil {
		return
	}
	// No pong while much is still unsent: a client that pings but does not
	// read must not make nbio buffer pongs for it without bound.
	if c := t.ready(); c != nil && e.g.charge(c, len(data)) && t.pending.Load() < maxPongBacklog {
		_ = t.writeControl(opPong, data)
	}
}

func (e *nbEngine) onPong(ws *nbws.Conn, data string) {
	t := nbConnOf(ws)
	if t == nil {
		return
	}
	if c := t.ready(); c != nil {
		c.active.Store(true)
		e.g.charge(c, len(data))
	}
}

// onCloseFrame answers the client's close frame (nbio then closes the
// socket), unless the gateway began the handshake.
func (e *nbEngine) onCloseFrame(ws *nbws.Conn, code int, reason string) {
	t := nbConnOf(ws)
	if t == nil {
		return
	}
	t.peerClosed.Store(true)
	payload := ""
	if code != int(websocket.StatusNoStatusRcvd) {
		payload = closePayload(websocket.StatusCode(code), "")
	}
	_, _ = t.writeClose(payload)
}

// onClose runs once the socket is closed, after the connection's other
// handlers: the gateway forgets the client.
func (e *nbEngine) onClose(ws *nbws.Conn, err error) {
	t := nbConnOf(ws)
	if t == nil {
		return
	}
	t.closed.Store(true)
	t.wake()
	c := t.ready()
	if c == nil {
		return
	}
	if err == nil {
		err = net.ErrClosed
	}
	e.g.forget(c, err)
	e.g.inflight.Done()
}

// written is told of every write(2) nbio made: what the gateway handed over
// and the kernel has not taken yet is nbConn.pending.
func (e *nbEngine) written(nc *nbio.Conn, _ []byte, n int) {
	ws, ok := nc.Session().(*nbws.Conn)
	if !ok {
		return
	}
	if t := nbConnOf(ws); t != nil && t.pending.Add(-int64(n)) <= 0 {
		t.wake()
	}
}

// nbConn is a connection of the nbio engine. Every frame the gateway sends
// (data, ping, pong, close) goes through it, so pending counts the bytes
// nbio holds for the client (nbio writes frames of its own only when it
// closes the connection: 1009 for a frame over the limit, 1002 for a
// malformed close frame).
type nbConn struct {
	nc *nbio.Conn
	c  *conn // set by serve before open is released; nil when refused

	open sync.WaitGroup // released by serve or refuse: handlers wait for it

	mu        sync.Mutex // whole frames go to nbio in order; guards closeSent
	closeSent bool

	pending    atomic.Int64                  // bytes handed to nbio that the kernel has not taken
	drained    atomic.Pointer[chan struct{}] // a writer waiting for pending to reach 0
	closed     atomic.Bool                   // the socket is closed
	peerClosed atomic.Bool                   // the client sent a close frame
}

func (t *nbConn) tryWrite(frame []byte) ([]byte, error) {
	// TryLock: the caller (the inbox reader) must never wait.
	if !t.mu.TryLock() {
		return frame, nil
	}
	defer t.mu.Unlock()
	if t.closeSent {
		return nil, errCloseSent
	}
	if t.pending.Load() > 0 {
		return frame, nil // the client is behind: queue it (the writer waits)
	}
	return nil, t.writeLocked(frame)
}

// writeLocked hands b to nbio, which writes what the socket takes now and
// keeps the rest until it is writable. t.mu is held.
func (t *nbConn) writeLocked(b []byte) error {
	t.pending.Add(int64(len(b)))
	_, err := t.nc.Write(b)
	return err
}

func (t *nbConn) writeFrames(frames [][]byte) error {
	t.mu.Lock()
	if t.closeSent {
		t.mu.Unlock()
		return errCloseSent
	}
	// One Write of the joined frames, not nbio's Writev: Writev does not
	// report a complete write to OnWrittenSize, which pending relies on.
	// nbio copies what the socket does not take, so buf is reused at once.
	var err error
	if len(frames) == 1 {
		err = t.writeLocked(frames[0])
	} else {
		bp := joinPool.Get().(*[]byte)
		buf := (*bp)[:0]
		for _, f := range frames {
			buf = append(buf, f...)
		}
		err = t.writeLocked(buf)
		if cap(buf) <= 64<<10 {
			*bp = buf
			joinPool.Put(bp)
		}
	}
	t.mu.Unlock()
	if err != nil {
		return err
	}
	return t.waitDrained()
}

// joinPool holds *[]byte buffers that writeFrames joins a batch into.
var joinPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// waitDrained waits until the kernel took every byte handed to nbio, or
// the connection closed (the sweeper closes it after WriteTimeout).
func (t *nbConn) waitDrained() error {
	if t.pending.Load() <= 0 {
		return nil
	}
	ch := make(chan struct{})
	t.drained.Store(&ch)
	if (t.pending.Load() <= 0 || t.closed.Load()) && t.drained.CompareAndSwap(&ch, nil) {
		close(ch)
	}
	<-ch
	if t.closed.Load() && t.pending.Load() > 0 {
		return net.ErrClosed
	}
	return nil
}

// wake releases a writer waiting in waitDrained.
func (t *nbConn) wake() {
	if p := t.drained.Swap(nil); p != nil {
		close(*p)
	}
}

// writeControl writes a ping or pong frame (payload ≤ 125 bytes).
func (t *nbConn) writeControl(op byte, payload string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closeSent {
		return errCloseSent
	}
	return t.writeLocked(frame(op, payload))
}

// writeClose writes a close frame once (no frame may follow it) and
// reports whether this call wrote it.
func (t *nbConn) writeClose(payload string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closeSent {
		return false, nil
	}
	t.closeSent = true
	return true, t.writeLocked(frame(opClose, payload))
}

func (t *nbConn) serve(c *conn) {
	c.g.inflight.Add(1) // legal during the drain's Wait: ServeHTTP is counted until it returns; onClose ends it
	t.c = c
	t.open.Done()
}

func (t *nbConn) refuse(code websocket.StatusCode, reason string, deadline time.Time) {
	_, _ = t.writeClose(closePayload(code, reason))
	_ = t.nc.SetDeadline(deadline)
	t.open.Done()
}

func (t *nbConn) close(code websocket.StatusCode, reason string) error {
	first, err := t.writeClose(closePayload(code, reason))
	if first {
		// The client's close frame ends the connection sooner (onCloseFrame).
		_ = t.nc.SetReadDeadline(time.Now().Add(closeTimeout))
	}
	return err
}

func (t *nbConn) closeNow() { _ = t.nc.Close() }

func (t *nbConn) abort() { _ = t.nc.Close() }

func (t *nbConn) ping(context.Context) error { return t.writeControl(opPing, "") }

func (t *nbConn) waits() bool { return false }

func (t *nbConn) why(err error) cause {
	switch {
	case errors.Is(err, nbws.ErrMessageTooLarge) || errors.Is(err, nbhttp.ErrTooLong):
		return causeTooBig
	case t.peerClosed.Load():
		return causeClient
	}
	return causeLost
}

// WebSocket control opcodes (RFC 6455 §5.5).
const (
	opPing = 0x9
	opPong = 0xa
)

// closePayload is a close frame's payload: the code and the reason.
func closePayload(code websocket.StatusCode, reason string) string {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], uint16(code))
	return string(b[:]) + truncateReason(reason)
}

// nbioLog adapts nbio's logger to slog.Default (looked up per line), dropping
// its debug and info lines.
type nbioLog struct{}

func (nbioLog) Debug(string, ...any) {}
func (nbioLog) Info(string, ...any)  {}
func (nbioLog) Warn(format string, v ...any) {
	slog.Default().Warn("nbio: " + fmt.Sprintf(format, v...))
}
func (nbioLog) Error(format string, v ...any) {
	slog.Default().Error("nbio: " + fmt.Sprintf(format, v...))
}
