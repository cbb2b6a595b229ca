package gatewayworker

import (
	"encoding/json"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatgate/chatgate/session"
)

// BusinessWorker links (docs/gatewayworker.md, "BusinessWorker").
//
// A connection that authenticates with cmd 200 becomes a worker link: it
// still executes every command it sends, in order, like any inner
// connection, and it also receives this gateway's client events (cmds 1,
// 205, 3, 4) with the client's session in ext_data, plus a ping (cmd 201)
// every WorkerPing. Each client is pinned to one link, the one with the
// fewest pinned clients when it connects (GatewayWorker's default router),
// and moves only when that link goes away. An event with no link to go to,
// or that does not fit in its link's buffer, is dropped, counted and logged
// (at most once a minute per reason).
//
// Delivery guarantee: at most once, in order per client while its link
// stays up. Events are queued per link (WorkerBuffer bytes) and written by
// the link's own writer goroutine, never by the client's reader.

// WorkerStats counts what the listener did with client events.
type WorkerStats struct {
	Links           int    // BusinessWorker links connected now
	Events          uint64 // events queued to a link
	DroppedNoWorker uint64 // events dropped: no link connected
	DroppedFull     uint64 // events dropped: the link's buffer was full
}

// WorkerStats returns the current counts.
func (l *Inner) WorkerStats() WorkerStats {
	l.wmu.Lock()
	n := len(l.links)
	l.wmu.Unlock()
	return WorkerStats{Links: n, Events: l.wc.events.Load(), DroppedNoWorker: l.wc.noWorker.Load(), DroppedFull: l.wc.full.Load()}
}

// workerCounters are the atomics behind WorkerStats, and when each drop
// reason was last logged (unix nanos).
type workerCounters struct {
	events, noWorker, full     atomic.Uint64
	noWorkerLogged, fullLogged atomic.Int64
}

// dropLogEvery is how often a drop reason is logged at most.
const dropLogEvery = time.Minute

// logDrop logs a dropped event unless the same reason was logged within
// dropLogEvery.
func (l *Inner) logDrop(last *atomic.Int64, total uint64, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(dropLogEvery) || !last.CompareAndSwap(prev, now) {
		return
	}
	l.log.Warn(msg+" (logged at most once a minute)", append(args, "dropped_total", total)...)
}

// workerLink is the sending side of a BusinessWorker connection.
type workerLink struct {
	c      *innerConn
	key    string // "<worker's IP>:<worker_key>"
	pinned int    // clients pinned to it; guarded by Inner.wmu

	mu   sync.Mutex
	buf  []byte // packets waiting for the writer
	gone bool   // unregistered: takes no more packets
	wake chan struct{}
	stop chan struct{}
	done chan struct{}
}

// enqueue queues one packet; false when the link is gone or its buffer
// would exceed max bytes.
func (w *workerLink) enqueue(pkt *Packet, max int) (ok, full bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gone {
		return false, false
	}
	if len(w.buf)+HeaderLen+len(pkt.ExtData)+len(pkt.Body) > max {
		return false, true
	}
	w.buf = pkt.Append(w.buf)
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return true, false
}

// writeLoop writes queued packets, and a ping every l.opts.WorkerPing,
// until stop. A write that fails or times out closes the connection.
func (w *workerLink) writeLoop(l *Inner) {
	defer close(w.done)
	var tick <-chan time.Time
	if l.opts.WorkerPing > 0 {
		t := time.NewTicker(l.opts.WorkerPing)
		defer t.Stop()
		tick = t.C
	}
	var out []byte
	for {
		select {
		case <-w.stop:
			return
		case <-tick:
			w.enqueue(l.packet(CmdPing, 0, nil, nil, FlagBodyIsScalar), l.opts.WorkerBuffer)
			continue
		case <-w.wake:
		}
		w.mu.Lock()
		out, w.buf = w.buf, out[:0]
		w.mu.Unlock()
		if len(out) == 0 {
			continue
		}
		if err := w.c.write(out, l.opts.CommandTimeout); err != nil {
			w.c.log.Warn("write to BusinessWorker failed: closing its link", "worker", w.key, "err", err)
			_ = w.c.nc.Close()
			return
		}
		if cap(out) > 1<<20 {
			out = nil // a burst does not keep its buffer
		}
	}
}

// write writes b to the connection, one writer at a time (query replies and
// a worker link's events share the socket).
func (c *innerConn) write(b []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.nc.Write(b)
	return err
}

// workerKey returns the worker_key of a cmd 200 body, "" when none.
func workerKey(p *Packet) string {
	var body struct {
		WorkerKey any `json:"worker_key"`
	}
	v, _ := p.BodyValue()
	s, _ := v.(string)
	_ = json.Unmarshal([]byte(s), &body)
	k, _ := body.WorkerKey.(string)
	return k
}

// becomeWorker turns c into a worker link registered under its worker key;
// an older link with the same key is closed, as on GatewayWorker.
func (c *innerConn) becomeWorker(p *Packet) {
	if c.link != nil {
		return
	}
	host, _, _ := net.SplitHostPort(c.nc.RemoteAddr().String())
	w := &workerLink{c: c, key: host + ":" + workerKey(p), wake: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	c.link = w
	l := c.l
	l.wmu.Lock()
	old := l.links[w.key]
	l.links[w.key] = w
	l.wmu.Unlock()
	if old != nil {
		c.log.Warn("BusinessWorker connected again under the same key: closing its older link", "worker", w.key)
		_ = old.c.nc.Close()
	}
	go w.writeLoop(l)
	c.log.Info("BusinessWorker connected", "worker", w.key)
}

// dropWorker unregisters c's link (if it is one) and stops its writer.
// Clients pinned to it move to another link at their next event.
func (c *innerConn) dropWorker() {
	w := c.link
	if w == nil {
		return
	}
	l := c.l
	l.wmu.Lock()
	if l.links[w.key] == w {
		delete(l.links, w.key)
	}
	l.wmu.Unlock()
	w.mu.Lock()
	w.gone, w.buf = true, nil
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	c.log.Info("BusinessWorker disconnected", "worker", w.key)
}

// clientPin is what the listener keeps per client of its gateway: the link
// its events go to and the address fields of its event headers.
type clientPin struct {
	conn       uint32
	ip         uint32
	port       uint16
	publicPort uint16 // the gateway's WebSocket port the client connected to
	link       *workerLink
}

// route returns the link for cid's events, pinning it to the least loaded
// link when it has none (or its link is gone); nil when no link is
// connected. The caller holds l.wmu.
func (l *Inner) route(pin *clientPin) *workerLink {
	if pin.link != nil && l.links[pin.link.key] == pin.link {
		return pin.link
	}
	if pin.link != nil {
		pin.link.pinned--
		pin.link = nil
	}
	var best *workerLink
	for _, w := range l.links {
		if best == nil || w.pinned < best.pinned || w.pinned == best.pinned && w.key < best.key {
			best = w
		}
	}
	if best != nil {
		best.pinned++
		pin.link = best
	}
	return best
}

// toWorker sends one event of cid to its worker; last unpins the client
// (ON_CLOSE).
func (l *Inner) toWorker(cid string, cmd uint8, sess session.Session, body []byte, flag uint8, last bool) {
	ext := []byte(sessionString(session.StateOf(sess)))
	l.wmu.Lock()
	pin := l.pins[cid]
	if pin == nil {
		n, ok := connectionOf(l.gw, cid)
		if !ok {
			l.wmu.Unlock()
			return
		}
		pin = &clientPin{conn: n}
		l.pins[cid] = pin
	}
	w := l.route(pin)
	if last {
		delete(l.pins, cid)
		if pin.link != nil {
			pin.link.pinned--
		}
	}
	var ok, full bool
	if w != nil {
		pkt := l.packet(cmd, pin.conn, ext, body, flag)
		pkt.ClientIP, pkt.ClientPort, pkt.GatewayPort = pin.ip, pin.port, pin.publicPort
		ok, full = w.enqueue(pkt, l.opts.WorkerBuffer)
	}
	l.wmu.Unlock()
	switch {
	case ok:
		l.wc.events.Add(1)
	case full:
		n := l.wc.full.Add(1)
		l.logDrop(&l.wc.fullLogged, n, "BusinessWorker link buffer full: client event dropped", "worker", w.key, "cmd", cmd)
	default:
		n := l.wc.noWorker.Add(1)
		l.logDrop(&l.wc.noWorkerLogged, n, "no BusinessWorker connected: client event dropped", "cmd", cmd)
	}
}

// packet returns a packet from this gateway with its address in the header.
func (l *Inner) packet(cmd uint8, conn uint32, ext, body []byte, flag uint8) *Packet {
	return &Packet{Cmd: cmd, LocalIP: l.localIP, LocalPort: l.localPort, ConnectionID: conn, Flag: flag, ExtData: ext, Body: body}
}
