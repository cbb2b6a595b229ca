package gateway

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
)

// Buffer sizes handed to coder/websocket through Hijack. net/http's own are
// 4 KiB each and stay allocated for the connection's whole life; these are
// small because an idle connection is the common case and memory per
// connection is a headline figure. Larger frames just take more reads.
const (
	readBufSize  = 512
	writeBufSize = 512
	corkFlushAt  = 64 << 10 // a corked batch is written out once this large
)

// hijackWriter hands coder/websocket our own buffers and a corkConn when it
// hijacks the connection.
type hijackWriter struct {
	http.ResponseWriter
	conn *corkConn // set by Hijack
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
	cc := &corkConn{Conn: nc}
	// Bytes the client sent right after its handshake may sit in net/http's
	// reader: keep them, then drop that reader (and its 4 KiB buffer).
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n)
		cc.pending = append([]byte(nil), b...)
	}
	h.conn = cc
	return cc, bufio.NewReadWriter(bufio.NewReaderSize(cc, readBufSize), bufio.NewWriterSize(cc, writeBufSize)), nil
}

// corkConn is the hijacked connection. While corked, writes collect in one
// buffer that uncork sends with one system call: a writer that found several
// frames queued sends them together instead of one write per frame.
type corkConn struct {
	net.Conn
	pending []byte // read-side leftovers from the handshake

	mu     sync.Mutex
	corked bool
	buf    *[]byte
}

var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *corkConn) Read(p []byte) (int, error) {
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

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= corkFlushAt {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// cork starts collecting writes.
func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.buf = corkPool.Get().(*[]byte)
	c.mu.Unlock()
}

// uncork writes what was collected in one call and stops collecting.
func (c *corkConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.flushLocked()
	c.corked = false
	if cap(*c.buf) <= 1<<20 {
		*c.buf = (*c.buf)[:0]
		corkPool.Put(c.buf)
	}
	c.buf = nil
	return err
}

func (c *corkConn) flushLocked() error {
	b := *c.buf
	*c.buf = b[:0]
	for len(b) > 0 {
		n, err := c.Conn.Write(b)
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
