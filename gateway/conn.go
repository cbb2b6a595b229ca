package gateway

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

// conn is one client connection. Its handler goroutine reads; a writer
// goroutine runs only while frames are queued, so an idle connection costs
// one goroutine.
type conn struct {
	g  *Gateway
	ws *websocket.Conn
	nc *corkConn // nil when the ResponseWriter could not be wrapped (tests)

	id string
	ip string
	at time.Time

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closing bool // a close was requested: enqueue refuses, writer stops
	// close to perform once the queue is written (push API close)
	closeCode   websocket.StatusCode
	closeReason string

	// Local state, guarded by g.idx.mu: the gateway's copy is the source of
	// truth for a live connection (re-asserted after Redis loses data).
	uid     string
	groups  map[string]struct{}
	session session.Session

	cause      atomic.Uint32 // why the gateway closed it (first cause wins); 0 when it did not
	active     atomic.Bool   // client sent something since the last heartbeat tick
	missed     atomic.Int32  // heartbeat ticks without activity
	writeStart atomic.Int64  // unix nanos when the current write batch began; 0 when idle
}

var queuePool = sync.Pool{New: func() any { return make([][]byte, 0, 8) }}

// enqueue queues one frame without blocking. The caller must not modify msg
// afterwards: the same bytes go to every recipient. A full queue closes the
// connection with 1008: a client that cannot keep up must not hold memory or
// delay anyone else.
func (c *conn) enqueue(msg []byte) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= c.g.opts.SendQueue {
		c.closing = true
		dropped := c.queue
		c.queue = nil
		c.mu.Unlock()
		recycle(dropped)
		c.g.metrics.slowCloses.Add(1)
		c.g.closeAsync(c, websocket.StatusPolicyViolation, reasonSlow)
		return
	}
	if c.queue == nil {
		c.queue = queuePool.Get().([][]byte)
	}
	c.queue = append(c.queue, msg)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		c.g.wg.Add(1)
		go c.writeLoop()
	}
}

// closeAfterFlush closes the connection once what is queued has been written.
func (c *conn) closeAfterFlush(code websocket.StatusCode, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	if c.writing {
		c.closeCode, c.closeReason = code, reason
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.g.closeAsync(c, code, reason)
}

// writeLoop writes queued frames until the queue is empty, then exits. Frames
// found queued together go out in one system call.
func (c *conn) writeLoop() {
	defer c.g.wg.Done()
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.writing = false
			code, reason := c.closeCode, c.closeReason
			c.mu.Unlock()
			if code != 0 {
				c.g.closeAsync(c, code, reason)
			}
			return
		}
		c.mu.Unlock()
		if err := c.writeBatch(batch); err != nil {
			c.mu.Lock()
			c.closing, c.writing = true, false
			dropped := c.queue
			c.queue = nil
			c.mu.Unlock()
			recycle(dropped)
			c.ws.CloseNow() // the reader sees the error and cleans up
			return
		}
	}
}

func (c *conn) writeBatch(batch [][]byte) error {
	defer recycle(batch)
	c.writeStart.Store(time.Now().UnixNano())
	defer c.writeStart.Store(0)
	if c.nc != nil && len(batch) > 1 {
		c.nc.cork()
	}
	var err error
	var bytes int
	for _, m := range batch {
		// Background: the write deadline is enforced by the sweeper
		// (writeStart), which costs nothing per frame; a ctx with a deadline
		// would cost a timer per write.
		if err = c.ws.Write(context.Background(), websocket.MessageText, m); err != nil {
			break
		}
		bytes += len(m)
	}
	if c.nc != nil && len(batch) > 1 {
		if uerr := c.nc.uncork(); err == nil {
			err = uerr
		}
	}
	if err == nil {
		c.g.metrics.framesOut.Add(uint64(len(batch)))
		c.g.metrics.bytesOut.Add(uint64(bytes))
	}
	return err
}

// setCause records why the gateway is closing c, unless a cause is already set.
func (c *conn) setCause(why cause) { c.cause.CompareAndSwap(0, uint32(why)) }

func recycle(q [][]byte) {
	if q == nil || cap(q) > 1024 {
		return
	}
	clear(q)
	queuePool.Put(q[:0])
}

// queueLen reports the frames waiting for this connection.
func (c *conn) queueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}

// state returns the connection's local state as session sees it. The caller
// holds g.idx.mu (read or write).
func (c *conn) state() *session.ClientState {
	st := &session.ClientState{ID: c.id, Gateway: c.g.id, IP: c.ip, ConnectedAt: c.at, Uid: c.uid, Session: c.session}
	for g := range c.groups {
		st.Groups = append(st.Groups, g)
	}
	return st
}
