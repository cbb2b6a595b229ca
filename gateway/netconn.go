package gateway

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"syscall"

	"github.com/coder/websocket"
)

// Buffer sizes handed to coder/websocket through Hijack. net/http's own are
// 4 KiB each and stay allocated for the connection's whole life; these are
// small because an idle connection is the common case and memory per
// connection is a headline figure. Larger client frames just take more reads.
// writeBufSize must hold the largest control frame (125 + 14 bytes), so that
// each frame coder/websocket writes reaches rawConn.Write in one call.
const (
	readBufSize  = 256
	writeBufSize = 160
)

// hijackWriter hands coder/websocket our own buffers and a rawConn when it
// hijacks the connection.
type hijackWriter struct {
	http.ResponseWriter
	conn *rawConn // set by Hijack
}

var _ http.Hijacker = (*hijackWriter)(nil)

func (h *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("gateway: response writer cannot hijack")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	rc := &rawConn{Conn: nc}
	if s, ok := nc.(syscall.Conn); ok {
		if rc.sc, err = s.SyscallConn(); err == nil {
			rc.writeFn = rc.writeNow
		} else {
			rc.sc = nil
		}
	}
	// Bytes the client sent right after its handshake may sit in net/http's
	// reader: keep them, then drop that reader (and its 4 KiB buffer).
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		rc.pending = append([]byte(nil), b...)
	}
	h.conn = rc
	return rc, bufio.NewReadWriter(bufio.NewReaderSize(rc, readBufSize), bufio.NewWriterSize(rc, writeBufSize)), nil
}

// rawConn is the hijacked connection. coder/websocket reads through it and
// writes its control frames (pong, ping, close) through Write; the gateway
// writes data frames it framed itself with writeFrames. Server frames are
// not masked, so one framed payload serves every recipient, and several
// queued frames go out in one writev. mu keeps whole frames from the two
// writers from interleaving.
type rawConn struct {
	net.Conn
	ws      *websocket.Conn // reads, and writes control frames (engine std)
	pending []byte          // read-side leftovers from the handshake
	sc      syscall.RawConn // for non-blocking writes; nil when the conn has no fd (TLS)

	mu        sync.Mutex
	closeSent bool // coder/websocket wrote a close frame: no data may follow

	// tryWrite's callback and its in/out values, kept so that a write
	// allocates nothing (guarded by mu).
	writeFn func(fd uintptr) bool
	wbuf    []byte
	wn      int
	werr    error
}

// abort closes the socket at once, without a close frame: every read and
// write in progress on it, coder/websocket's included, fails now. (CloseNow
// does not do that while a close handshake is under way: it waits for it.)
func (c *rawConn) abort() { _ = c.Conn.Close() }

// errCloseSent reports a data write after the close frame.
var errCloseSent = errors.New("gateway: close frame already sent")

func (c *rawConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 { // only the reader goroutine reads
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		if len(c.pending) == 0 {
			c.pending = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}

// Write carries coder/websocket's frames, one whole frame per call (its
// write buffer is flushed at the end of each frame and holds a whole
// control frame).
func (c *rawConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) > 0 && p[0]&0x0f == opClose {
		c.closeSent = true
	}
	return c.Conn.Write(p)
}

// writeFrames writes complete frames, in one system call where the
// connection supports writev. It may modify the slice headers in frames.
func (c *rawConn) writeFrames(frames [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	if len(frames) == 1 {
		_, err := c.Conn.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(c.Conn)
	return err
}

// tryWrite writes as much of frame as the socket takes now, without
// waiting, and returns what is left (nil when all of it went out). When it
// cannot write without waiting (no raw fd, or another write in progress) it
// writes nothing and returns frame, for the writer goroutine.
func (c *rawConn) tryWrite(frame []byte) ([]byte, error) {
	// TryLock: coder/websocket may be blocked writing a pong to a client
	// that stopped reading; the caller (the inbox reader) must never wait.
	if c.sc == nil || !c.mu.TryLock() {
		return frame, nil
	}
	defer c.mu.Unlock()
	if c.closeSent {
		return nil, errCloseSent
	}
	c.wbuf = frame
	err := c.sc.Write(c.writeFn)
	n, werr := c.wn, c.werr
	c.wbuf, c.werr = nil, nil
	if err != nil {
		return nil, err
	}
	switch {
	case werr == syscall.EAGAIN || werr == syscall.EINTR:
		return frame, nil
	case werr != nil:
		return nil, werr
	case n < len(frame):
		return frame[n:], nil
	}
	return nil, nil
}

// writeNow is tryWrite's callback: one non-blocking write(2). Returning true
// tells the runtime not to wait for the socket to become writable.
func (c *rawConn) writeNow(fd uintptr) bool {
	c.wn, c.werr = syscall.Write(int(fd), c.wbuf)
	return true
}

// WebSocket opcodes (RFC 6455 §5.2) the gateway needs to know.
const (
	opText  = 0x1
	opClose = 0x8
)

// textFrame returns payload framed as one unmasked, final text frame
// (RFC 6455 §5.2): the bytes every recipient gets. It takes the string the
// envelope decoded, so the payload is copied once, into the frame.
func textFrame(payload string) []byte { return frame(opText, payload) }

// frame frames payload as one unmasked, final frame of opcode op.
func frame(op byte, payload string) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n < 126:
		f = make([]byte, 2, 2+n)
		f[1] = byte(n)
	case n <= 0xffff:
		f = make([]byte, 4, 4+n)
		f[1] = 126
		f[2], f[3] = byte(n>>8), byte(n)
	default:
		f = make([]byte, 10, 10+n)
		f[1] = 127
		for i := range 8 {
			f[9-i] = byte(uint64(n) >> (8 * i))
		}
	}
	f[0] = 0x80 | op // FIN
	return append(f, payload...)
}
