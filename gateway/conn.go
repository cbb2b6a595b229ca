package gateway

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/chatgate/chatgate/session"
)

// conn is one client connection. Its reader (transport.serve: a goroutine
// with engine std, nbio's pollers with nbio), started by ServeHTTP once the
// connection is registered, reads until the connection ends and then
// forgets it; a writer goroutine runs only while frames are queued, so an
// idle connection costs one goroutine (std) or none (nbio).
type conn struct {
	g *Gateway
	t transport // the socket (transport.go); data frames are written to it directly

	id string
	ip string
	at time.Time

	mu      sync.Mutex
	queue   [][]byte
	writing bool
	closing bool        // a close was requested: enqueue refuses, writer stops
	hold    *time.Timer // WriteCoalesce: starts the writer once the hold ends; nil when no frames are held
	// close to perform once the queue is written (push API close)
	closeCode   websocket.StatusCode
	closeReason string

	// Local state, guarded by g.idx.mu: the gateway's copy is the source of
	// truth for a live connection (re-asserted after Redis loses data).
	uid     string
	groups  map[string]struct{}
	session session.Session

	// Recoverable groups (recover.go), guarded by mu: per group, the last
	// seq a recovery queued, and the recoveries running.
	seqs map[string]seqMark
	rec  map[string]*recovery

	cause      atomic.Uint32 // why the gateway closed it (first cause wins); 0 when it did not
	active     atomic.Bool   // client sent something since the last heartbeat tick
	missed     atomic.Int32  // heartbeat ticks without activity
	writeStart atomic.Int64  // unix nanos when the current write batch began; 0 when idle
	lastWrite  atomic.Int64  // unix nanos of the last write (WriteCoalesce)

	// Frame budget (budget.go): when each bucket would be full again, on the
	// gateway's clock, and whether the client went over it.
	frameTAT, byteTAT atomic.Int64
	overBudget        atomic.Bool
}

// queuePool holds *[][]byte: a pointer fits in an interface without
// allocating, a slice header does not (staticcheck SA6002).
var queuePool = sync.Pool{New: func() any { q := make([][]byte, 0, 8); return &q }}

func getQueue() [][]byte { return *queuePool.Get().(*[][]byte) }

// enqueue queues one complete frame (textFrame) without blocking. The caller
// must not modify it afterwards: the same bytes go to every recipient. A
// full queue closes the connection with 1008: a client that cannot keep up
// must not hold memory or delay anyone else.
func (c *conn) enqueue(msg []byte) {
	c.mu.Lock()
	c.enqueueLocked(msg)
}

// enqueueLocked is enqueue with c.mu held; it unlocks c.mu.
func (c *conn) enqueueLocked(msg []byte) {
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
		c.g.closeAsync(c, causeSlow, websocket.StatusPolicyViolation, reasonSlow)
		return
	}
	if c.writing {
		c.queue = appendQueue(c.queue, msg)
		if c.hold != nil && len(c.queue) >= holdLimit(c.g.opts.SendQueue) && c.hold.Stop() {
			// Held frames must not fill the send queue of a client that
			// reads: write them now, here, as an idle connection's frame is.
			c.hold = nil
			held := c.queue
			c.queue = nil
			c.mu.Unlock()
			c.g.wg.Done() // the stopped hold's
			c.writeInline(joinFrames(held), len(held))
			recycle(held)
			return
		}
		c.mu.Unlock()
		return
	}
	// Idle connection: write right here, without blocking. A frame to an idle
	// client almost always fits in its socket buffer, so a delivery costs one
	// system call and no goroutine. Holding the writer role (writing) keeps
	// frames queued meanwhile behind this one.
	c.writing = true
	if wait := c.coalesceWait(time.Now().UnixNano()); wait > 0 {
		// Busy connection: let more frames join this one (WriteCoalesce).
		c.queue = appendQueue(c.queue, msg)
		c.g.wg.Add(1)
		c.hold = time.AfterFunc(wait, c.endHold)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.writeInline(msg, 1)
}

// writeInline writes buf (frames whole frames) without waiting, as the
// holder of the writer role, and hands the role on: what the socket did not
// take goes first in the queue, for a writer goroutine.
func (c *conn) writeInline(buf []byte, frames int) {
	c.lastWrite.Store(time.Now().UnixNano())
	c.g.metrics.writes.Add(1)
	rest, err := c.t.tryWrite(buf)
	if err != nil {
		c.writeFailed(err)
		return
	}
	if rest == nil {
		c.g.metrics.framesOut.Add(uint64(frames))
		c.g.metrics.bytesOut.Add(uint64(len(buf)))
	}
	c.mu.Lock()
	if rest != nil { // socket full: the rest goes first (counted as one frame)
		q := append(getQueue(), rest)
		q = append(q, c.queue...)
		recycle(c.queue)
		c.queue = q
	}
	c.afterWriteLocked()
}

// joinFrames concatenates frames into one buffer for one write.
func joinFrames(frames [][]byte) []byte {
	n := 0
	for _, f := range frames {
		n += len(f)
	}
	buf := make([]byte, 0, n)
	for _, f := range frames {
		buf = append(buf, f...)
	}
	return buf
}

// afterWriteLocked hands over the writer role once a write is done: to a
// writer goroutine when frames are queued, else to a pending close. It
// unlocks c.mu.
func (c *conn) afterWriteLocked() {
	if len(c.queue) > 0 {
		c.mu.Unlock()
		c.g.wg.Add(1)
		go c.writeLoop()
		return
	}
	c.writing = false
	code, reason := c.closeCode, c.closeReason
	c.mu.Unlock()
	if code != 0 {
		c.g.closeAsync(c, causeServer, code, reason) // set by closeAfterFlush
	}
}

// coalesceWait is how long a frame enqueued at now waits for others: until
// WriteCoalesce after the connection's last write, or 0.
func (c *conn) coalesceWait(now int64) time.Duration {
	w := c.g.opts.WriteCoalesce
	if w <= 0 {
		return 0
	}
	if since := time.Duration(now - c.lastWrite.Load()); since < w {
		return w - since
	}
	return 0
}

// holdLimit is how many frames WriteCoalesce may hold before they are written
// at once: half the send queue, so that holding never closes a reading
// client as slow.
func holdLimit(sendQueue int) int { return max(1, sendQueue/2) }

// endHold writes the frames held by WriteCoalesce when the hold ends.
func (c *conn) endHold() {
	c.mu.Lock()
	c.hold = nil
	c.mu.Unlock()
	c.writeLoop()
}

func appendQueue(q [][]byte, msg []byte) [][]byte {
	if q == nil {
		q = getQueue()
	}
	return append(q, msg)
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
	c.g.closeAsync(c, causeServer, code, reason)
}

// writeLoop writes queued frames until the queue is empty, then exits. Frames
// found queued together go out in one system call (writev).
func (c *conn) writeLoop() {
	defer c.g.wg.Done()
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 {
			c.afterWriteLocked()
			return
		}
		c.mu.Unlock()
		if err := c.writeBatch(batch); err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// writeFailed gives up on a connection whose write failed.
func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	c.closing, c.writing = true, false
	dropped := c.queue
	c.queue = nil
	c.mu.Unlock()
	recycle(dropped)
	if !errors.Is(err, errCloseSent) {
		c.t.closeNow() // the reader sees the error and cleans up
	} // else a close handshake is under way: let it finish
}

func (c *conn) writeBatch(batch [][]byte) error {
	var n int
	for _, f := range batch {
		n += len(f)
	}
	now := time.Now().UnixNano()
	c.writeStart.Store(now)
	c.lastWrite.Store(now)
	c.g.metrics.writes.Add(1)
	// No per-write deadline: the sweeper closes a connection whose write
	// started more than WriteTimeout ago (writeStart), at no cost per frame.
	err := c.t.writeFrames(batch)
	c.writeStart.Store(0)
	recycle(batch)
	if err == nil {
		c.g.metrics.framesOut.Add(uint64(len(batch)))
		c.g.metrics.bytesOut.Add(uint64(n))
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
	q = q[:0]
	queuePool.Put(&q)
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
